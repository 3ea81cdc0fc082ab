"""The interface every physics model offers to the site and the Modbus server.

A model is pure: it is advanced by ``advance(t_s, dt_s)`` in simulated seconds, reports canonical point
values (SI units, passive sign convention, names from ``drivers.points``) and accepts canonical
setpoints. Models never touch sockets, clocks or registers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from drivers.points import DeviceKind

PointValues = dict[str, float | None]
"""Canonical point values of one device; None = not available."""

PhasePowers = tuple[float, float, float]
"""Active power per phase L1, L2, L3 in W (passive convention)."""

NOMINAL_VOLTAGE_V = 230.0


class DeviceModel(Protocol):
    """A simulated device that the server exposes over Modbus."""

    @property
    def kind(self) -> DeviceKind: ...

    def points(self) -> PointValues:
        """Current canonical point values."""
        ...

    def apply(self, setpoints: Mapping[str, float]) -> None:
        """Accept canonical setpoints written by the EMS (unknown names are ignored)."""
        ...

    def advance(self, t_s: float, dt_s: float) -> None:
        """Advance the physics by ``dt_s`` simulated seconds, ending at simulated time ``t_s``."""
        ...


@runtime_checkable
class PowerFlow(Protocol):
    """Anything that draws or feeds power on the site bus (seen by meters)."""

    def phase_powers_w(self) -> PhasePowers:
        """Active power per phase, W, passive convention (positive = into the device)."""
        ...

    def reactive_power_var(self) -> float:
        """Reactive power, var, passive convention."""
        ...


def split_three_phase(p_w: float) -> PhasePowers:
    """Balanced split of a three-phase power."""
    third = p_w / 3.0
    return (third, third, third)


def single_phase(p_w: float, phase: int = 1) -> PhasePowers:
    """All power on one phase (1..3)."""
    powers = [0.0, 0.0, 0.0]
    powers[phase - 1] = p_w
    return (powers[0], powers[1], powers[2])


def clamp(value: float, low: float, high: float) -> float:
    """``value`` limited to ``[low, high]``."""
    return max(low, min(high, value))


def ramp_towards(current: float, target: float, max_delta: float) -> float:
    """Move ``current`` towards ``target`` by at most ``max_delta``."""
    if target > current:
        return min(target, current + max_delta)
    return max(target, current - max_delta)
