"""Battery physics: the cell pack (SOC, efficiencies, BMS limits), the PCS that drives it, and the BMS view.

Owns the energy bookkeeping of stationary storage. Pure and stepped by dt: it never talks Modbus and
never reads a clock. Powers follow the passive convention (positive = charging).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from drivers.points import DeviceKind
from simulators.model import PhasePowers, PointValues, clamp, ramp_towards, split_three_phase

ALARM_SOC_HIGH = 0x1
"""Alarm bit: SOC at the upper edge (battery full)."""
ALARM_SOC_LOW = 0x2
"""Alarm bit: SOC at the lower edge (battery empty)."""
ALARM_FAULT = 0x4
"""Alarm bit: injected device fault."""

STATE_OFF = 0
STATE_STANDBY = 1
STATE_RUNNING = 2
STATE_FAULT = 3


@dataclass(kw_only=True)
class PackParameters:
    """Static properties of a battery pack."""

    capacity_wh: float
    """Usable energy capacity."""
    max_charge_w: float
    """DC charge power limit in the middle of the SOC range."""
    max_discharge_w: float
    """DC discharge power limit in the middle of the SOC range (positive number)."""
    charge_efficiency: float = 0.96
    """Fraction of AC charging energy stored."""
    discharge_efficiency: float = 0.96
    """Fraction of stored energy delivered as AC when discharging."""
    nominal_voltage_v: float = 768.0
    """DC voltage at mid SOC."""
    charge_taper_start_soc: float = 0.9
    """Above this SOC the charge limit falls linearly to 0 at SOC 1."""
    discharge_taper_start_soc: float = 0.1
    """Below this SOC the discharge limit falls linearly to 0 at SOC 0."""
    soc_high_alarm: float = 0.99
    soc_low_alarm: float = 0.01
    soh: float = 0.98


class BatteryPack:
    """State of charge, DC power and limits of one battery; integrated by the PCS that drives it."""

    def __init__(self, params: PackParameters, *, soc: float = 0.5, temperature_c: float = 25.0) -> None:
        if not params.capacity_wh > 0:
            raise ValueError(f"battery capacity_wh must be > 0, got {params.capacity_wh}")
        for name in ("charge_efficiency", "discharge_efficiency"):
            value = getattr(params, name)
            if not 0 < value <= 1:
                raise ValueError(f"battery {name} must be in (0, 1], got {value}")
        self.params = params
        self.soc = clamp(soc, 0.0, 1.0)
        self.p_dc_w = 0.0
        """DC power into the cells (positive = charging), after efficiency losses."""
        self.temperature_c = temperature_c
        self.fault = False

    @property
    def energy_wh(self) -> float:
        return self.soc * self.params.capacity_wh

    def max_charge_dc_w(self) -> float:
        """DC charge limit, tapered near full; 0 when full or faulted."""
        if self.fault or self.soc >= 1.0:
            return 0.0
        start = self.params.charge_taper_start_soc
        factor = 1.0 if self.soc <= start else clamp((1.0 - self.soc) / (1.0 - start), 0.0, 1.0)
        return self.params.max_charge_w * factor

    def max_discharge_dc_w(self) -> float:
        """DC discharge limit (positive), tapered near empty; 0 when empty or faulted."""
        if self.fault or self.soc <= 0.0:
            return 0.0
        end = self.params.discharge_taper_start_soc
        factor = 1.0 if self.soc >= end else clamp(self.soc / end, 0.0, 1.0)
        return self.params.max_discharge_w * factor

    def voltage_v(self) -> float:
        """Open-circuit-like DC voltage: rises with SOC (±8 % around nominal)."""
        return self.params.nominal_voltage_v * (0.92 + 0.16 * self.soc)

    def ac_to_dc(self, p_ac_w: float) -> float:
        """DC power into the cells for an AC power at the PCS (efficiency applied)."""
        if p_ac_w >= 0:
            return p_ac_w * self.params.charge_efficiency
        return p_ac_w / self.params.discharge_efficiency

    def ac_limits_w(self) -> tuple[float, float]:
        """(max AC charge, max AC discharge as a positive number) the cells allow right now."""
        return (
            self.max_charge_dc_w() / self.params.charge_efficiency,
            self.max_discharge_dc_w() * self.params.discharge_efficiency,
        )

    def energy_bounded_ac_w(self, p_ac_w: float, dt_s: float) -> float:
        """``p_ac_w`` reduced so that one step of ``dt_s`` cannot push SOC past 0 or 1."""
        if dt_s <= 0:
            return p_ac_w
        if p_ac_w > 0:
            room_dc_w = (1.0 - self.soc) * self.params.capacity_wh * 3600.0 / dt_s
            return min(p_ac_w, room_dc_w / self.params.charge_efficiency)
        if p_ac_w < 0:
            left_dc_w = self.soc * self.params.capacity_wh * 3600.0 / dt_s
            return max(p_ac_w, -left_dc_w * self.params.discharge_efficiency)
        return 0.0

    def integrate(self, p_ac_w: float, dt_s: float) -> None:
        """Apply AC power ``p_ac_w`` (passive) for ``dt_s`` seconds."""
        self.p_dc_w = self.ac_to_dc(p_ac_w)
        self.soc = clamp(self.soc + self.p_dc_w * dt_s / 3600.0 / self.params.capacity_wh, 0.0, 1.0)
        rated = max(self.params.max_charge_w, self.params.max_discharge_w)
        target_c = 25.0 + 10.0 * abs(self.p_dc_w) / rated
        self.temperature_c += (target_c - self.temperature_c) * min(1.0, dt_s / 600.0)

    def alarm(self) -> int:
        bits = 0
        if self.soc >= self.params.soc_high_alarm:
            bits |= ALARM_SOC_HIGH
        if self.soc <= self.params.soc_low_alarm:
            bits |= ALARM_SOC_LOW
        if self.fault:
            bits |= ALARM_FAULT
        return bits


class BmsModel:
    """The BMS of a pack: reports SOC, voltage, current and the tapered limits; nothing writable."""

    kind = DeviceKind.BMS

    def __init__(self, pack: BatteryPack) -> None:
        self.pack = pack

    def points(self) -> PointValues:
        pack = self.pack
        u_v = pack.voltage_v()
        p_charge = pack.max_charge_dc_w()
        p_discharge = pack.max_discharge_dc_w()
        return {
            "soc": pack.soc,
            "soh": pack.params.soh,
            "u_v": u_v,
            "i_a": pack.p_dc_w / u_v,
            "i_max_charge_a": p_charge / u_v,
            "i_max_discharge_a": p_discharge / u_v,
            "p_max_charge_w": p_charge,
            "p_max_discharge_w": p_discharge,
            "capacity_wh": pack.params.capacity_wh,
            "t_c": pack.temperature_c,
            "alarm": float(pack.alarm()),
        }

    def apply(self, setpoints: Mapping[str, float]) -> None:
        """A BMS has no setpoints."""

    def advance(self, t_s: float, dt_s: float) -> None:
        """The pack is integrated by the PCS that drives it."""


class PcsModel:
    """A power conversion system: follows ``p_set_w`` after a response delay, at a ramp rate, within limits."""

    kind = DeviceKind.PCS

    def __init__(
        self,
        pack: BatteryPack,
        *,
        rated_w: float,
        ramp_w_per_s: float | None = None,
        response_delay_s: float = 0.05,
        frequency_hz: Callable[[], float] = lambda: 50.0,
        revert_after_s: float | None = None,
    ) -> None:
        if not rated_w > 0:
            raise ValueError(f"PCS rated_w must be > 0, got {rated_w}")
        self.pack = pack
        self.rated_w = rated_w
        self.ramp_w_per_s = 5.0 * rated_w if ramp_w_per_s is None else ramp_w_per_s
        """Maximum rate of change of active power while following a setpoint (default: full power in 0.2 s)."""
        self.response_delay_s = response_delay_s
        """Dead time between a setpoint write and the start of the response."""
        self.revert_after_s = revert_after_s
        """When set, the PCS returns to 0 W if no setpoint arrives for this long (device-side watchdog)."""
        self.frequency_hz = frequency_hz
        self.fault = False
        self.p_w = 0.0
        self.q_var = 0.0
        self.p_set_w = 0.0
        """Last setpoint written (what a read of the setpoint register returns)."""
        self.q_set_var = 0.0
        self.heartbeat = 0.0
        self._t_s = 0.0
        self._active_set_w = 0.0
        self._pending: deque[tuple[float, float]] = deque()
        self._last_write_s = 0.0

    def apply(self, setpoints: Mapping[str, float]) -> None:
        if "p_set_w" in setpoints:
            self.p_set_w = float(setpoints["p_set_w"])
            self._pending.append((self._t_s + self.response_delay_s, self.p_set_w))
            self._last_write_s = self._t_s
        if "q_set_var" in setpoints:
            self.q_set_var = float(setpoints["q_set_var"])
        if "heartbeat" in setpoints:
            self.heartbeat = float(setpoints["heartbeat"])

    def ac_limits_w(self) -> tuple[float, float]:
        """(max charge, max discharge as positive number) at the AC side: rating and BMS limits."""
        if self.fault:
            return (0.0, 0.0)
        charge, discharge = self.pack.ac_limits_w()
        return (min(self.rated_w, charge), min(self.rated_w, discharge))

    def advance(self, t_s: float, dt_s: float) -> None:
        self._t_s = t_s
        while self._pending and self._pending[0][0] <= t_s:
            self._active_set_w = self._pending.popleft()[1]
        if self.revert_after_s is not None and t_s - self._last_write_s > self.revert_after_s:
            self._active_set_w = 0.0
        max_charge, max_discharge = self.ac_limits_w()
        target = clamp(self._active_set_w, -max_discharge, max_charge)
        p_w = ramp_towards(self.p_w, target, self.ramp_w_per_s * dt_s)
        p_w = clamp(p_w, -max_discharge, max_charge)  # BMS limits act at once, not at the ramp rate
        p_w = self.pack.energy_bounded_ac_w(p_w, dt_s)
        self.p_w = p_w
        self.pack.integrate(p_w, dt_s)
        s_room = max(0.0, self.rated_w**2 - p_w**2) ** 0.5
        self.q_var = 0.0 if self.fault else clamp(self.q_set_var, -s_room, s_room)

    def state(self) -> int:
        if self.fault:
            return STATE_FAULT
        if abs(self.p_w) > 1.0 or self._active_set_w != 0.0:
            return STATE_RUNNING
        return STATE_STANDBY

    def points(self) -> PointValues:
        max_charge, max_discharge = self.ac_limits_w()
        return {
            "p_w": self.p_w,
            "q_var": self.q_var,
            "p_set_w": self.p_set_w,
            "q_set_var": self.q_set_var,
            "p_max_charge_w": max_charge,
            "p_max_discharge_w": max_discharge,
            "rated_p_w": self.rated_w,
            "soc": self.pack.soc,
            "state": float(self.state()),
            "alarm": float(ALARM_FAULT if self.fault else 0),
            "heartbeat": self.heartbeat,
            "f_hz": self.frequency_hz(),
        }

    def phase_powers_w(self) -> PhasePowers:
        return split_three_phase(self.p_w)

    def reactive_power_var(self) -> float:
        return self.q_var
