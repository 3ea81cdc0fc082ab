"""PV physics: an irradiance source (clear-sky day curve, constant, or CSV trace) and PV inverters.

Owns solar geometry and curtailment. Pure and stepped by dt; never talks Modbus, never reads a clock
(simulated wall time comes in as ``start_wall`` + simulated seconds). PV power is negative (producing).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

from drivers.points import DeviceKind
from simulators.model import PhasePowers, PointValues, clamp, ramp_towards, split_three_phase
from simulators.trace import Trace

STC_IRRADIANCE_W_PER_M2 = 1000.0


class Irradiance:
    """Plane-of-array irradiance in W/m² as a function of simulated time."""

    def __init__(self, *, start_wall: float, latitude: float = 50.0, longitude: float = 4.0) -> None:
        self.start_wall = start_wall
        """UNIX seconds (UTC) of simulated time 0."""
        self.latitude = latitude
        self.longitude = longitude
        self.cloud_factor = 1.0
        """Multiplier on the clear-sky curve (1 = clear sky)."""
        self._source: Callable[[float], float] = self._clear_sky
        self._trace_origin_s = 0.0
        self._t_s = 0.0

    def set_clear_sky(self, *, cloud_factor: float = 1.0) -> None:
        """Follow a clear-sky-like day curve for the site's position (scaled by ``cloud_factor``)."""
        self.cloud_factor = clamp(cloud_factor, 0.0, 1.0)
        self._source = self._clear_sky

    def set_constant(self, w_per_m2: float) -> None:
        """Hold a constant irradiance."""
        value = max(0.0, float(w_per_m2))
        self._source = lambda _t: value

    def play_trace(self, trace: Trace) -> None:
        """Play a trace of W/m² whose time 0 is now."""
        self._trace_origin_s = self._t_s
        self._source = lambda t: max(0.0, trace.value_at(t - self._trace_origin_s))

    def play_csv(self, path: str | Path, *, loop: bool = False) -> None:
        """Play a ``seconds,w_per_m2`` CSV from now."""
        self.play_trace(Trace.from_csv(path, loop=loop))

    def advance(self, t_s: float, dt_s: float) -> None:
        """Track simulated time (traces start "now")."""
        self._t_s = t_s

    def w_per_m2(self, t_s: float) -> float:
        """Irradiance at simulated time ``t_s``."""
        return self._source(t_s)

    def _clear_sky(self, t_s: float) -> float:
        elevation = solar_elevation_rad(self.start_wall + t_s, self.latitude, self.longitude)
        if elevation <= 0:
            return 0.0
        # Meinel air-mass model for direct normal irradiance, +10 % diffuse, a tilted plane (exponent < 1):
        # a plausible day shape with ~900 W/m² at a summer noon in central Europe.
        air_mass = 1.0 / max(math.sin(elevation), 0.05)
        direct = 1353.0 * 0.7 ** (air_mass**0.678)
        return float(self.cloud_factor * 1.1 * direct * math.sin(elevation) ** 0.75)


class PvPlant:
    """All simulated PV inverters of a site under one sky: the handle tests use to change the weather."""

    def __init__(self, irradiance: Irradiance, inverters: list[PvInverterModel] | None = None) -> None:
        self.irradiance = irradiance
        self.inverters = list(inverters or [])

    def set_irradiance(self, w_per_m2: float) -> None:
        """Hold a constant irradiance (1000 W/m² = rated conditions)."""
        self.irradiance.set_constant(w_per_m2)

    def set_clear_sky(self, *, cloud_factor: float = 1.0) -> None:
        """Back to the clear-sky day curve (scaled by ``cloud_factor``)."""
        self.irradiance.set_clear_sky(cloud_factor=cloud_factor)

    def play_csv(self, path: str | Path, *, loop: bool = False) -> None:
        """Play a ``seconds,w_per_m2`` irradiance CSV from now."""
        self.irradiance.play_csv(path, loop=loop)

    def p_w(self) -> float:
        """Total PV power (negative = producing)."""
        return sum(inverter.p_w for inverter in self.inverters)


class PvInverterModel:
    """A PV inverter: produces what the irradiance allows, limited by rating and the EMS's curtailment."""

    kind = DeviceKind.PV_INVERTER

    def __init__(
        self,
        irradiance: Irradiance,
        *,
        rated_w: float,
        dc_ratio: float = 1.1,
        ramp_w_per_s: float | None = None,
        frequency_hz: Callable[[], float] = lambda: 50.0,
    ) -> None:
        if not rated_w > 0:
            raise ValueError(f"PV rated_w must be > 0, got {rated_w}")
        self.irradiance = irradiance
        self.rated_w = rated_w
        self.dc_ratio = dc_ratio
        """DC peak power / AC rating (the array may be larger than the inverter: clipping)."""
        self.ramp_w_per_s = rated_w if ramp_w_per_s is None else ramp_w_per_s
        """How fast output follows a change of limit or irradiance (default: full power in 1 s)."""
        self.frequency_hz = frequency_hz
        self.p_limit_pct = 1.0
        """Curtailment as a fraction 0..1 of rating."""
        self.p_limit_w = rated_w
        """Curtailment in W."""
        self.fault = False
        self.p_w = 0.0
        self.e_total_wh = 0.0
        self._available_w = 0.0

    def apply(self, setpoints: Mapping[str, float]) -> None:
        if "p_limit_pct" in setpoints:
            self.p_limit_pct = clamp(float(setpoints["p_limit_pct"]), 0.0, 1.0)
        if "p_limit_w" in setpoints:
            self.p_limit_w = clamp(float(setpoints["p_limit_w"]), 0.0, self.rated_w)

    def available_w(self) -> float:
        """Production (positive W) the sun allows, before curtailment."""
        return self._available_w

    def limit_w(self) -> float:
        """Effective production limit (positive W)."""
        return min(self.rated_w, self.rated_w * self.p_limit_pct, self.p_limit_w)

    def advance(self, t_s: float, dt_s: float) -> None:
        dc_w = self.rated_w * self.dc_ratio * self.irradiance.w_per_m2(t_s) / STC_IRRADIANCE_W_PER_M2
        self._available_w = min(self.rated_w, dc_w)
        target = 0.0 if self.fault else -min(self._available_w, self.limit_w())
        self.p_w = ramp_towards(self.p_w, target, self.ramp_w_per_s * dt_s)
        self.p_w = max(self.p_w, -self.limit_w()) + 0.0  # a lower limit acts at once (+0.0: no -0.0)
        self.e_total_wh += -self.p_w * dt_s / 3600.0

    def state(self) -> int:
        if self.fault:
            return 3
        return 2 if self.p_w < -1.0 else 1

    def points(self) -> PointValues:
        return {
            "p_w": self.p_w,
            "p_limit_pct": self.p_limit_pct,
            "p_limit_w": self.p_limit_w,
            "rated_p_w": self.rated_w,
            "e_total_wh": self.e_total_wh,
            "state": float(self.state()),
            "f_hz": self.frequency_hz(),
        }

    def phase_powers_w(self) -> PhasePowers:
        return split_three_phase(self.p_w)

    def reactive_power_var(self) -> float:
        return 0.0


def solar_elevation_rad(unix_s: float, latitude: float, longitude: float) -> float:
    """Approximate solar elevation angle (radians) at a UTC instant and position (NOAA-style, ±1°)."""
    days = unix_s / 86400.0
    day_of_year = (days % 365.2422) + 1.0
    hour_utc = (unix_s % 86400.0) / 3600.0
    gamma = 2.0 * math.pi / 365.0 * (day_of_year - 1.0 + (hour_utc - 12.0) / 24.0)
    declination = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
    )
    eq_time_min = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    solar_time_min = hour_utc * 60.0 + eq_time_min + 4.0 * longitude
    hour_angle = math.radians(solar_time_min / 4.0 - 180.0)
    lat = math.radians(latitude)
    sin_elevation = math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(declination) * math.cos(hour_angle)
    return math.asin(clamp(sin_elevation, -1.0, 1.0))
