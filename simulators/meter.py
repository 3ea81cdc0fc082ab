"""Meters: the sum of the power flows they see, per phase, with voltages, currents, energies and frequency.

A grid meter sees the whole site balance (grid = load + battery + ev + pv + heat pump), a pv/load/ev
meter sees only its group. Pure and stepped by dt; passive convention (grid + = import).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from drivers.points import DeviceKind, MeterRole
from simulators.model import NOMINAL_VOLTAGE_V, PhasePowers, PointValues, PowerFlow


class MeterModel:
    """A three-phase meter measuring the sum of ``flows``."""

    kind = DeviceKind.METER

    def __init__(
        self,
        role: MeterRole,
        flows: Sequence[PowerFlow],
        *,
        frequency_hz: Callable[[], float] = lambda: 50.0,
        nominal_voltage_v: float = NOMINAL_VOLTAGE_V,
        source_impedance_ohm: float = 0.02,
    ) -> None:
        self.role = role
        self.flows = list(flows)
        """What the meter measures; the site may append flows later."""
        self.frequency_hz = frequency_hz
        self.nominal_voltage_v = nominal_voltage_v
        self.source_impedance_ohm = source_impedance_ohm
        """Grid impedance per phase: import lowers the voltage, export raises it."""
        self.e_import_wh = 0.0
        self.e_export_wh = 0.0
        self._phases: PhasePowers = (0.0, 0.0, 0.0)
        self._q_var = 0.0

    def measure(self) -> PhasePowers:
        """Sum of the flows' phase powers right now."""
        l1 = l2 = l3 = 0.0
        for flow in self.flows:
            a, b, c = flow.phase_powers_w()
            l1 += a
            l2 += b
            l3 += c
        return (l1, l2, l3)

    def advance(self, t_s: float, dt_s: float) -> None:
        self._phases = self.measure()
        self._q_var = sum(flow.reactive_power_var() for flow in self.flows)
        total = sum(self._phases)
        if total >= 0:
            self.e_import_wh += total * dt_s / 3600.0
        else:
            self.e_export_wh += -total * dt_s / 3600.0

    def p_w(self) -> float:
        return sum(self._phases)

    def apply(self, setpoints: Mapping[str, float]) -> None:
        """Meters have no setpoints."""

    def points(self) -> PointValues:
        values: PointValues = {
            "p_w": self.p_w(),
            "q_var": self._q_var,
            "e_import_wh": self.e_import_wh,
            "e_export_wh": self.e_export_wh,
            "f_hz": self.frequency_hz(),
        }
        for index, p_phase in enumerate(self._phases, start=1):
            u_v = self.nominal_voltage_v - self.source_impedance_ohm * p_phase / self.nominal_voltage_v
            values[f"p_l{index}_w"] = p_phase
            values[f"u_l{index}_v"] = u_v
            values[f"i_l{index}_a"] = abs(p_phase) / u_v
        return values
