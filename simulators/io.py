"""A digital input module: four contacts that a test, the simulator console or a scenario opens and closes.

Stands in for a grid operator's control box or a ripple-control receiver wired to a Modbus I/O module.
Pure; never talks Modbus.
"""

from __future__ import annotations

from collections.abc import Mapping

from drivers.points import DeviceKind
from simulators.model import PointValues

INPUTS = 4


class DigitalIoModel:
    """Four discrete inputs, all open at start."""

    kind = DeviceKind.DIGITAL_IO

    def __init__(self) -> None:
        self.inputs = [False] * INPUTS

    def set_input(self, number: int, closed: bool) -> None:
        """Close (True) or open (False) input ``number`` (1-based)."""
        if not 1 <= number <= INPUTS:
            raise ValueError(f"digital input {number} does not exist (1..{INPUTS})")
        self.inputs[number - 1] = closed

    def points(self) -> PointValues:
        return {f"di{n}": 1.0 if closed else 0.0 for n, closed in enumerate(self.inputs, start=1)}

    def apply(self, setpoints: Mapping[str, float]) -> None:
        """Inputs cannot be written."""

    def advance(self, t_s: float, dt_s: float) -> None:
        """No physics."""
