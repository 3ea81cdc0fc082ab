"""Point values and immutable snapshots of the process image.

A snapshot is what controllers see in one cycle: for every device, its latest point values with
timestamp and quality. Snapshots are immutable; nothing here performs I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from drivers.points import DeviceKind

Value = float | int | str | None


class Quality(StrEnum):
    """Quality of a point value."""

    FRESH = "fresh"
    """Read within its staleness window."""
    STALE = "stale"
    """Last read is older than the staleness window."""
    ERROR = "error"
    """The last read failed (timeout, exception response, decode error) or the value is missing."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PointValue:
    """One point's latest value."""

    value: Value
    """Value in SI units (None when the device reports "not implemented" or never answered)."""
    unit: str
    """SI unit from the point catalogue."""
    ts_mono: float
    """Monotonic time of the read (seconds)."""
    ts_utc: float
    """Wall-clock time of the read (UNIX seconds, UTC)."""
    quality: Quality


@dataclass(frozen=True, kw_only=True, slots=True)
class DeviceState:
    """All points of one device at snapshot time."""

    device_id: str
    kind: DeviceKind
    role: str | None
    """Meter role (grid/pv/load/ev) or None for other kinds."""
    online: bool
    """False while the device is failing (timeouts, exceptions) or backing off."""
    starting: bool = False
    """True while the device has not completed its first poll and its stale window since start-up (the process
    image's creation, or its link's start) has not elapsed yet: not yet polled is "starting", not offline.
    Offline/stale alarms wait until this is False."""
    points: Mapping[str, PointValue] = field(default_factory=dict)
    alarms: tuple[str, ...] = ()
    """Human-readable communication or device alarms currently active."""

    def value(self, name: str) -> float | None:
        """Numeric value of a FRESH point, else None (stale and error values are not trusted)."""
        pv = self.points.get(name)
        if pv is None or pv.quality is not Quality.FRESH or pv.value is None or isinstance(pv.value, str):
            return None
        return float(pv.value)

    def quality(self, name: str) -> Quality:
        """Quality of a point; ERROR when the point is absent."""
        pv = self.points.get(name)
        return Quality.ERROR if pv is None else pv.quality


@dataclass(frozen=True, kw_only=True, slots=True)
class Snapshot:
    """Immutable view of the whole site at one instant."""

    ts_mono: float
    ts_utc: float
    devices: Mapping[str, DeviceState]

    def of_kind(self, kind: DeviceKind, role: str | None = None) -> list[DeviceState]:
        """Devices of ``kind`` (and meter ``role`` when given), in configuration order."""
        return [d for d in self.devices.values() if d.kind is kind and (role is None or d.role == role)]
