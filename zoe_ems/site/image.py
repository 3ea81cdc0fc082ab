"""The process image: latest value, timestamp and quality of every point of every device.

Pollers write here; the control loop takes an immutable ``Snapshot`` per cycle; the fast path
subscribes to individual points. Staleness is judged at snapshot time from each device's window.
Nothing here performs I/O.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import structlog

from drivers.plausibility import ABSOLUTE_POWER_W, implausible
from drivers.points import CATALOGUE, DeviceKind, PointSpec
from zoe_ems.site.points import DeviceState, PointValue, Quality, Snapshot, Value

SLOW_STALE_FACTOR = 10.0
"""Slow-class points are polled every 10th poll (see zoe_ems.site.poller.SLOW_EVERY)."""

POINT_IMPLAUSIBLE = "POINT_IMPLAUSIBLE"
"""Device alarm: a reading outside its plausibility limits (``drivers.plausibility``) was not taken as fresh."""
DATA_INVALID = "DATA_INVALID"
"""Device alarm: a poll returned no trustworthy value at all (e.g. NaN everywhere); the device is not online."""

log = structlog.get_logger(__name__)

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
    rated_w: float | None = None
    """Rating for the plausibility of power points (site file); the device's own ``rated_p_w`` otherwise."""
    readings: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Last numeric reading of each point (plausible or not) and its time: the spike filter's reference."""
    implausible: dict[str, str] = field(default_factory=dict)
    """Points whose latest reading was implausible, with why (one log line per episode)."""
    data_invalid: bool = False


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

    def set_rating(self, device_id: str, rated_w: float | None) -> None:
        """The device's power rating from the site file (bounds its power points' plausibility)."""
        self._devices[device_id].rated_w = rated_w if rated_w is not None and rated_w > 0 else None

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
        rated_w = self._rating(entry, values, now_mono)
        trusted = judged = 0
        pvs: dict[str, PointValue] = {}
        for name, value in values.items():
            spec = catalogue.get(name)
            reason = implausible(entry.kind, name, value, rated_w=rated_w)
            if reason is None and isinstance(value, int | float) and not isinstance(value, bool):
                # Within its limits: the spike filter compares with the previous such reading (a new level
                # that persists is taken at its second reading).
                reason = implausible(entry.kind, name, value, previous=entry.readings.get(name), now_s=now_mono)
                entry.readings[name] = (float(value), now_mono)
            if reason is not None:
                self._implausible(entry, name, value, reason)
                stored: Value = value if isinstance(value, int | float) and math.isfinite(value) else None
                quality = Quality.ERROR
            else:
                self._plausible(entry, name)
                stored, quality = value, Quality.ERROR if value is None else Quality.FRESH
                trusted += quality is Quality.FRESH and not _counter(spec)
            judged += not _counter(spec)
            pvs[name] = PointValue(
                value=stored, unit=spec.unit if spec else "", ts_mono=now_mono, ts_utc=now_utc, quality=quality
            )
        invalid = judged > 0 and trusted == 0
        self._judge_device(entry, invalid)
        for name, pv in pvs.items():
            if invalid and pv.quality is Quality.FRESH:
                pv = dataclasses.replace(pv, quality=Quality.ERROR)  # nothing of an untrusted device is fresh
            entry.points[name] = pv
            for listener in self._listeners.get((device_id, name), ()):
                listener(device_id, name, pv)

    def _rating(self, entry: _DeviceEntry, values: Mapping[str, Value], now_mono: float) -> float | None:
        """Site-file rating, else the device's own rated_p_w (this poll's or the last plausible one)."""
        if entry.rated_w is not None:
            return entry.rated_w
        reported = values.get("rated_p_w")
        if reported is None and (pv := entry.points.get("rated_p_w")) is not None and pv.quality is not Quality.ERROR:
            reported = pv.value
        if isinstance(reported, int | float) and math.isfinite(reported) and 0 < reported <= ABSOLUTE_POWER_W:
            return float(reported)
        return None

    def _implausible(self, entry: _DeviceEntry, name: str, value: object, reason: str) -> None:
        shown = f"{value:g}" if isinstance(value, float) else repr(value)
        if name not in entry.implausible:
            log.warning("implausible value not taken", device=entry.device_id, point=name, value=shown, reason=reason)
        entry.implausible[name] = f"{name}={shown} ({reason})"
        entry.alarms[POINT_IMPLAUSIBLE] = "; ".join(entry.implausible[n] for n in sorted(entry.implausible))

    def _plausible(self, entry: _DeviceEntry, name: str) -> None:
        if entry.implausible.pop(name, None) is None:
            return
        log.info("value plausible again", device=entry.device_id, point=name)
        if entry.implausible:
            entry.alarms[POINT_IMPLAUSIBLE] = "; ".join(entry.implausible[n] for n in sorted(entry.implausible))
        else:
            entry.alarms.pop(POINT_IMPLAUSIBLE, None)

    def _judge_device(self, entry: _DeviceEntry, invalid: bool) -> None:
        """A device answering without a single trustworthy value is not online (its data are not trusted)."""
        if invalid:
            entry.online = False
            entry.alarms[DATA_INVALID] = "the device answers, but no value it reports is plausible (NaN everywhere?)"
            if not entry.data_invalid:
                log.warning("device data invalid: not online", device=entry.device_id)
        elif entry.data_invalid:
            entry.alarms.pop(DATA_INVALID, None)
            log.info("device data valid again", device=entry.device_id)
        entry.data_invalid = invalid

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


def _counter(spec: PointSpec | None) -> bool:
    """Energy counters prove nothing about a device's data: 0 is also their "not implemented" value."""
    return spec is not None and spec.unit == "Wh"
