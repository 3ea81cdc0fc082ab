"""The process image: latest value, timestamp and quality of every point of every device.

Pollers write here; the control loop takes an immutable ``Snapshot`` per cycle; the fast path
subscribes to individual points. Staleness is judged at snapshot time from each device's window.
Nothing here performs I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from drivers.points import CATALOGUE, DeviceKind
from zoe_ems.site.points import DeviceState, PointValue, Quality, Snapshot, Value

SLOW_STALE_FACTOR = 10.0
"""Slow-class points are polled every 10th poll (see zoe_ems.site.poller.SLOW_EVERY)."""

PointListener = Callable[[str, str, PointValue], None]
"""Called as (device_id, point, value) for every update of a subscribed point."""


@dataclass
class _DeviceEntry:
    device_id: str
    kind: DeviceKind
    role: str | None
    stale_after_s: float
    points: dict[str, PointValue] = field(default_factory=dict)
    slow_points: frozenset[str] = frozenset()
    slow_window_s: float | None = None
    """Staleness window of slow points (None: ``SLOW_STALE_FACTOR`` x ``stale_after_s``)."""
    online: bool = False
    alarms: dict[str, str] = field(default_factory=dict)
    setpoints: dict[str, float] = field(default_factory=dict)
    setpoint_ts_utc: float = 0.0
    started_mono: float = 0.0
    """Start of the device's start-up grace (image creation or link start), monotonic."""
    ever_updated: bool = False


class ProcessImage:
    """Latest state of the whole site, updated by pollers and read by controllers and the status API."""

    def __init__(self, clock_mono: Callable[[], float] = time.monotonic, clock_utc: Callable[[], float] = time.time):
        self._devices: dict[str, _DeviceEntry] = {}
        self._listeners: dict[tuple[str, str], list[PointListener]] = {}
        self._mono = clock_mono
        self._utc = clock_utc

    def add_device(self, device_id: str, kind: DeviceKind, role: str | None, stale_after_s: float) -> None:
        """Register a device before its first update."""
        self._devices[device_id] = _DeviceEntry(device_id, kind, role, stale_after_s, started_mono=self._mono())

    def mark_started(self, device_id: str) -> None:
        """The device's link starts now: its start-up grace (``DeviceState.starting``) runs from here."""
        entry = self._devices[device_id]
        if not entry.ever_updated:
            entry.started_mono = self._mono()

    def _starting(self, entry: _DeviceEntry, now_mono: float) -> bool:
        return not entry.ever_updated and now_mono - entry.started_mono <= entry.stale_after_s

    def set_slow_points(self, device_id: str, points: frozenset[str], window_s: float | None = None) -> None:
        """Declare the device's slow-class points (read every few polls) and their staleness window."""
        entry = self._devices[device_id]
        entry.slow_points = points
        entry.slow_window_s = window_s

    @property
    def device_ids(self) -> list[str]:
        return list(self._devices)

    def update(self, device_id: str, values: Mapping[str, Value], slow_points: frozenset[str] | None = None) -> None:
        """Store a successful read. ``None`` values (not implemented) are kept with ERROR quality.

        ``slow_points`` (or those of ``set_slow_points``) are read only every few polls; their staleness window
        is that much longer.
        """
        entry = self._devices[device_id]
        if slow_points is not None:
            entry.slow_points = slow_points
        now_mono, now_utc = self._mono(), self._utc()
        catalogue = CATALOGUE[entry.kind]
        entry.online = True
        entry.ever_updated = True
        for name, value in values.items():
            spec = catalogue.get(name)
            pv = PointValue(
                value=value,
                unit=spec.unit if spec else "",
                ts_mono=now_mono,
                ts_utc=now_utc,
                quality=Quality.ERROR if value is None else Quality.FRESH,
            )
            entry.points[name] = pv
            for listener in self._listeners.get((device_id, name), ()):
                listener(device_id, name, pv)

    def mark_failed(self, device_id: str, reason: str) -> None:
        """A read failed: the device is offline and its points keep their last value until they go stale."""
        entry = self._devices[device_id]
        entry.online = False
        entry.alarms["comm"] = reason

    def clear_alarm(self, device_id: str, code: str) -> None:
        self._devices[device_id].alarms.pop(code, None)

    def set_alarm(self, device_id: str, code: str, message: str) -> None:
        self._devices[device_id].alarms[code] = message

    def latest(self, device_id: str, point: str) -> float | None:
        """Latest numeric value of a point if FRESH-quality when stored (no ageing; for the fast path)."""
        pv = self._devices[device_id].points.get(point)
        if pv is None or pv.quality is not Quality.FRESH or not isinstance(pv.value, int | float):
            return None
        return float(pv.value)

    def record_setpoints(self, device_id: str, setpoints: Mapping[str, float]) -> None:
        """Remember the setpoints last written to a device (for status and re-assertion)."""
        entry = self._devices[device_id]
        entry.setpoints.update(setpoints)
        entry.setpoint_ts_utc = self._utc()

    def setpoints(self, device_id: str) -> dict[str, float]:
        return dict(self._devices[device_id].setpoints)

    def subscribe(self, device_id: str, point: str, listener: PointListener) -> Callable[[], None]:
        """Call ``listener`` on every update of one point; returns an unsubscribe function."""
        key = (device_id, point)
        self._listeners.setdefault(key, []).append(listener)

        def unsubscribe() -> None:
            self._listeners[key].remove(listener)

        return unsubscribe

    def snapshot(self) -> Snapshot:
        """Immutable view with qualities aged to now (FRESH older than the device window becomes STALE)."""
        now_mono, now_utc = self._mono(), self._utc()
        devices: dict[str, DeviceState] = {}
        for entry in self._devices.values():
            points: dict[str, PointValue] = {}
            slow_window = (
                entry.slow_window_s if entry.slow_window_s is not None else SLOW_STALE_FACTOR * entry.stale_after_s
            )
            for name, pv in entry.points.items():
                window = slow_window if name in entry.slow_points else entry.stale_after_s
                if pv.quality is Quality.FRESH and now_mono - pv.ts_mono > window:
                    pv = PointValue(
                        value=pv.value, unit=pv.unit, ts_mono=pv.ts_mono, ts_utc=pv.ts_utc, quality=Quality.STALE
                    )
                points[name] = pv
            devices[entry.device_id] = DeviceState(
                device_id=entry.device_id,
                kind=entry.kind,
                role=entry.role,
                online=entry.online,
                starting=self._starting(entry, now_mono),
                points=points,
                alarms=tuple(f"{code}: {msg}" for code, msg in entry.alarms.items()),
            )
        return Snapshot(ts_mono=now_mono, ts_utc=now_utc, devices=devices)

    def to_dict(self) -> dict[str, object]:
        """JSON-able state for `zoe-ems status`."""
        snap = self.snapshot()
        out: dict[str, object] = {}
        for device_id, state in snap.devices.items():
            entry = self._devices[device_id]
            out[device_id] = {
                "kind": state.kind.value,
                "role": state.role,
                "online": state.online,
                "starting": state.starting,
                "alarms": list(state.alarms),
                "points": {
                    name: {"value": pv.value, "unit": pv.unit, "quality": pv.quality.value, "ts": pv.ts_utc}
                    for name, pv in sorted(state.points.items())
                },
                "setpoints": dict(entry.setpoints),
            }
        return out
