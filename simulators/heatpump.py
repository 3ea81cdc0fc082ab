"""SG-Ready heat pump physics: relay state 1..4 drives compressor, heater and storage tank temperature.

Owns the thermostat per SG-Ready state (1 block, 2 normal, 3 recommend: higher setpoint, 4 force:
compressor plus heater up to the maximum temperature) and the tank's heat balance. Pure and stepped
by dt; never talks Modbus. Electrical power is positive (consumption).
"""

from __future__ import annotations

from collections.abc import Mapping

from drivers.points import DeviceKind, sg_ready_state
from simulators.model import PhasePowers, PointValues, split_three_phase

WATER_J_PER_KG_K = 4186.0


class HeatPumpModel:
    """Heat pump with a hot-water tank behind two SG-Ready relays (coils)."""

    kind = DeviceKind.SG_READY

    def __init__(
        self,
        *,
        compressor_w: float = 5000.0,
        heater_w: float = 3000.0,
        cop: float = 3.0,
        tank_litres: float = 300.0,
        thermal_demand_w: float = 3000.0,
        t_storage_c: float = 48.0,
        normal_setpoint_c: float = 50.0,
        boost_setpoint_c: float = 55.0,
        max_temperature_c: float = 60.0,
        hysteresis_k: float = 5.0,
        min_off_s: float = 300.0,
    ) -> None:
        self.compressor_w = compressor_w
        self.heater_w = heater_w
        self.cop = cop
        self.heat_capacity_j_per_k = tank_litres * WATER_J_PER_KG_K
        self.thermal_demand_w = thermal_demand_w
        """Heat drawn from the tank (space heating + hot water)."""
        self.t_storage_c = t_storage_c
        self.normal_setpoint_c = normal_setpoint_c
        self.boost_setpoint_c = boost_setpoint_c
        """Setpoint in state 3 (switch-on recommendation)."""
        self.max_temperature_c = max_temperature_c
        """Setpoint in state 4 (definite start); the heater helps below the boost setpoint."""
        self.hysteresis_k = hysteresis_k
        self.min_off_s = min_off_s
        """Compressor protection: minimum time off before a restart."""
        self.relay1 = False
        self.relay2 = False
        self.compressor_on = False
        self.heater_on = False
        self._t_s = 0.0
        self._off_since_s = -min_off_s

    @property
    def sg_state(self) -> int:
        return sg_ready_state(self.relay1, self.relay2)

    def apply(self, setpoints: Mapping[str, float]) -> None:
        if "relay1" in setpoints:
            self.relay1 = bool(setpoints["relay1"])
        if "relay2" in setpoints:
            self.relay2 = bool(setpoints["relay2"])

    def advance(self, t_s: float, dt_s: float) -> None:
        self._t_s = t_s
        state = self.sg_state
        temp = self.t_storage_c
        want_on: bool
        heater = False
        if state == 1:
            want_on = False
        elif state == 4:
            want_on = temp < self.max_temperature_c
            heater = temp < self.boost_setpoint_c
        else:
            setpoint = self.normal_setpoint_c if state == 2 else self.boost_setpoint_c
            if self.compressor_on:
                want_on = temp < setpoint
            else:
                want_on = temp < setpoint - self.hysteresis_k or (state == 3 and temp < setpoint)
        if want_on and not self.compressor_on and t_s - self._off_since_s < self.min_off_s:
            want_on = False
        if self.compressor_on and not want_on:
            self._off_since_s = t_s
        self.compressor_on = want_on
        self.heater_on = heater
        heat_w = (self.compressor_w * self.cop if self.compressor_on else 0.0) + (
            self.heater_w if self.heater_on else 0.0
        )
        self.t_storage_c += (heat_w - self.thermal_demand_w) * dt_s / self.heat_capacity_j_per_k

    def p_w(self) -> float:
        return (self.compressor_w if self.compressor_on else 0.0) + (self.heater_w if self.heater_on else 0.0)

    def points(self) -> PointValues:
        return {
            "relay1": 1.0 if self.relay1 else 0.0,
            "relay2": 1.0 if self.relay2 else 0.0,
            "p_w": self.p_w(),
            "t_storage_c": self.t_storage_c,
        }

    def phase_powers_w(self) -> PhasePowers:
        return split_three_phase(self.p_w())

    def reactive_power_var(self) -> float:
        return 0.0
