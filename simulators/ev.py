"""EV charging physics: a charger (current limit, enable, phases) and the car plugged into it.

Owns the 6 A rule (an offered current below the minimum pauses charging), the car drawing ~95 % of
the offered current after a reaction delay, arrival/departure and the session energy. Pure and
stepped by dt; never talks Modbus, never reads a clock. Power is positive (into the car).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from drivers.points import DeviceKind
from simulators.model import NOMINAL_VOLTAGE_V, PhasePowers, PointValues, split_three_phase

STATE_AVAILABLE = 0
STATE_CONNECTED = 1
STATE_CHARGING = 2
STATE_FAULT = 3


@dataclass(kw_only=True)
class Car:
    """A car at the charger."""

    energy_need_wh: float
    """Energy the car still wants."""
    departure_s: float | None = None
    """Simulated time at which the car leaves (None = stays)."""
    max_current_a: float = 32.0
    """On-board charger limit per phase."""
    phases: int = 3
    """Phases the car's on-board charger uses (1 or 3)."""


class EvChargerModel:
    """A wallbox with an optional car; the EMS writes ``i_limit_a`` and ``enable``."""

    kind = DeviceKind.EV_CHARGER

    def __init__(
        self,
        *,
        phases: int = 3,
        min_current_a: float = 6.0,
        max_current_a: float = 16.0,
        voltage_v: float = NOMINAL_VOLTAGE_V,
        draw_fraction: float = 0.95,
        response_delay_s: float = 1.0,
        phase: int = 1,
    ) -> None:
        if phases not in (1, 3):
            raise ValueError(f"EV charger phases must be 1 or 3, got {phases}")
        if not 0 < min_current_a <= max_current_a:
            raise ValueError(f"EV charger min_current_a {min_current_a} must be in (0, max_current_a={max_current_a}]")
        self.phases = phases
        self.min_current_a = min_current_a
        self.max_current_a = max_current_a
        self.voltage_v = voltage_v
        self.draw_fraction = draw_fraction
        """Share of the offered current a car actually draws."""
        self.response_delay_s = response_delay_s
        """Time the car takes to follow a new offered current."""
        self.phase = phase
        """Phase used by single-phase charging (1..3)."""
        self.i_limit_a = max_current_a
        """Current limit written by the EMS (an unmanaged charger offers its maximum)."""
        self.enable = 1.0
        self.fault = False
        self.car: Car | None = None
        self.current_a = 0.0
        """Current per phase the car draws now."""
        self.e_session_wh = 0.0
        self._t_s = 0.0
        self._effective_offer_a = 0.0
        self._pending: deque[tuple[float, float]] = deque()
        self._last_offer_a = 0.0
        self._arrivals: list[tuple[float, float, float | None]] = []

    def plug_in(
        self,
        energy_need_wh: float,
        *,
        stay_s: float | None = None,
        max_current_a: float = 32.0,
        phases: int | None = None,
    ) -> None:
        """A car arrives now, wants ``energy_need_wh`` and leaves after ``stay_s`` (None = stays)."""
        departure = None if stay_s is None else self._t_s + stay_s
        self.car = Car(
            energy_need_wh=energy_need_wh,
            departure_s=departure,
            max_current_a=max_current_a,
            phases=self.phases if phases is None else phases,
        )
        self.e_session_wh = 0.0

    def schedule_arrival(self, after_s: float, energy_need_wh: float, *, stay_s: float | None = None) -> None:
        """A car arrives ``after_s`` simulated seconds from now."""
        self._arrivals.append((self._t_s + after_s, energy_need_wh, stay_s))

    def unplug(self) -> None:
        """The car leaves now."""
        self.car = None
        self.current_a = 0.0

    def apply(self, setpoints: Mapping[str, float]) -> None:
        if "i_limit_a" in setpoints:
            self.i_limit_a = max(0.0, float(setpoints["i_limit_a"]))
        if "enable" in setpoints:
            self.enable = 1.0 if setpoints["enable"] else 0.0

    def offered_current_a(self) -> float:
        """Current the charger signals to the car: 0 (pause) below the minimum or when disabled."""
        if self.fault or not self.enable or self.i_limit_a < self.min_current_a:
            return 0.0
        return min(self.i_limit_a, self.max_current_a)

    def active_phases(self) -> int:
        if self.car is None:
            return self.phases
        return min(self.phases, self.car.phases)

    def advance(self, t_s: float, dt_s: float) -> None:
        self._t_s = t_s
        for arrival in [a for a in self._arrivals if a[0] <= t_s]:
            self._arrivals.remove(arrival)
            self.plug_in(arrival[1], stay_s=arrival[2])
        car = self.car
        if car is not None and car.departure_s is not None and t_s >= car.departure_s:
            self.unplug()
            car = None
        offer = self.offered_current_a()
        if offer != self._last_offer_a:
            self._pending.append((t_s + self.response_delay_s, offer))
            self._last_offer_a = offer
        while self._pending and self._pending[0][0] <= t_s:
            self._effective_offer_a = self._pending.popleft()[1]
        if car is None or car.energy_need_wh - self.e_session_wh <= 0:
            self.current_a = 0.0
            return
        effective = min(self._effective_offer_a, self.offered_current_a())  # a pause or lower limit acts at once
        self.current_a = min(effective, car.max_current_a) * self.draw_fraction
        self.e_session_wh += self.p_w() * dt_s / 3600.0

    def p_w(self) -> float:
        return self.current_a * self.voltage_v * self.active_phases()

    def state(self) -> int:
        if self.fault:
            return STATE_FAULT
        if self.car is None:
            return STATE_AVAILABLE
        return STATE_CHARGING if self.current_a > 0 else STATE_CONNECTED

    def points(self) -> PointValues:
        currents = [0.0, 0.0, 0.0]
        if self.active_phases() == 3:
            currents = [self.current_a] * 3
        else:
            currents[self.phase - 1] = self.current_a
        return {
            "state": float(self.state()),
            "p_w": self.p_w(),
            "i_l1_a": currents[0],
            "i_l2_a": currents[1],
            "i_l3_a": currents[2],
            "i_limit_a": self.i_limit_a,
            "phases": float(self.active_phases()),
            "e_session_wh": self.e_session_wh,
            "enable": self.enable,
        }

    def phase_powers_w(self) -> PhasePowers:
        if self.active_phases() == 3:
            return split_three_phase(self.p_w())
        powers = [0.0, 0.0, 0.0]
        powers[self.phase - 1] = self.p_w()
        return (powers[0], powers[1], powers[2])

    def reactive_power_var(self) -> float:
        return 0.0
