"""The device-driver interface the daemon uses: canonical points in, canonical setpoints out.

A driver binds a register map (YAML profile or SunSpec) to a ``RegisterIO`` for one device. It
converts to SI units and the passive sign convention once, here. Drivers know nothing of control.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from drivers.points import DeviceKind
from drivers.profile import PollClass

PointReading = float | int | str | None
"""A canonical point value in SI units; None = not implemented / not available."""


@dataclass(frozen=True, kw_only=True)
class DriverOptions:
    """Per-device settings from the site file that drivers need (no dependency on zoe_ems.config)."""

    device_id: str
    kind: DeviceKind
    read_only: bool = False
    rated_power_w: float | None = None
    sign_power: Literal["passive", "active"] | None = None
    """Overrides the profile's power sign convention."""
    sign_setpoint: Literal["passive", "active"] | None = None
    """Overrides the profile's setpoint sign convention."""


class DeviceDriver(Protocol):
    """What the poller and the setpoint writer call."""

    @property
    def device_id(self) -> str: ...

    @property
    def kind(self) -> DeviceKind: ...

    @property
    def writable_points(self) -> frozenset[str]:
        """Canonical points this device accepts writes for (empty when read-only)."""
        ...

    @property
    def slow_points(self) -> frozenset[str]:
        """Canonical points read only with ``PollClass.SLOW`` (ratings, limits, identity): the poller reads them
        every few polls and the process image keeps them fresh for that much longer between reads."""
        ...

    async def connect(self) -> None:
        """Prepare after a (re)connect: e.g. SunSpec discovery, reading scale factors. Idempotent."""
        ...

    async def read(self, poll_classes: frozenset[PollClass]) -> dict[str, PointReading]:
        """Read the points of the given poll classes; SI units, passive sign convention."""
        ...

    async def write(self, setpoints: Mapping[str, float]) -> None:
        """Write canonical setpoints (SI, passive convention); raises ReadOnlyDevice / DeviceError."""
        ...
