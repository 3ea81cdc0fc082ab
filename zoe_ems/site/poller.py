"""Device links: one task per device that polls its driver into the process image and writes setpoints.

Writes jump ahead of polls; the last setpoints are re-asserted periodically and after every reconnect
(devices with reversion timers must not silently drop them). A final static guard clamps setpoints to
the device's ratings and refuses writes to read-only devices, whatever the caller asked for.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import structlog

from drivers.driver import DeviceDriver
from drivers.errors import DeviceBackingOff, DeviceError
from drivers.points import DeviceKind
from drivers.profile import PollClass
from zoe_ems.config.devices import DeviceConfig
from zoe_ems.site.image import SLOW_STALE_FACTOR, ProcessImage
from zoe_ems.waits import wait_event

log = structlog.get_logger(__name__)

SLOW_EVERY = 10
"""Slow-class points are read on every 10th poll."""
READBACK_TOLERANCE = 1e-3
"""A polled value within this fraction (of max(1, |value|)) of the last written setpoint confirms its delivery."""


@dataclass
class PollStats:
    """Poll timing of one device, for status and the poll-scale benchmark."""

    polls: int = 0
    failures: int = 0
    missed_deadlines: int = 0
    writes: int = 0
    write_failures: int = 0
    intervals_s: deque[float] = field(default_factory=lambda: deque(maxlen=4096))
    last_poll_mono: float | None = None

    def to_dict(self) -> dict[str, object]:
        ordered = sorted(self.intervals_s)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else None
        return {
            "polls": self.polls,
            "failures": self.failures,
            "missed_deadlines": self.missed_deadlines,
            "writes": self.writes,
            "write_failures": self.write_failures,
            "interval_p99_s": p99,
        }


SETPOINT_INVALID = "SETPOINT_INVALID"
"""Image alarm on a device whose control loop asked for a non-finite setpoint (nothing was written)."""


class Delivery(NamedTuple):
    """What became of the last setpoint value the link tried to deliver for one point."""

    value: float
    """The value written (or refused: a non-finite one)."""
    ts_mono: float
    """Monotonic time of the write, of the refusal, or of the latest poll whose read-back confirmed the value."""
    ok: bool
    """True: the device accepted the write or its read-back shows the value; False: write failed or refused."""


def clamp_to_ratings(config: DeviceConfig, setpoints: Mapping[str, float]) -> dict[str, float]:
    """Last-line static guard: keep setpoints inside the device's own ratings (the envelope ran before).

    Non-finite values are not returned: ``DeviceLink.set_setpoints`` refuses them first, with a log line and
    a ``SETPOINT_INVALID`` alarm."""
    out: dict[str, float] = {}
    rated_w = config.rated_power_kw * 1000.0 if config.rated_power_kw else None
    for name, value in setpoints.items():
        if not math.isfinite(value):
            continue
        if config.kind is DeviceKind.PCS and name == "p_set_w" and rated_w is not None:
            value = max(-rated_w, min(rated_w, value))
        elif config.kind is DeviceKind.PV_INVERTER and name == "p_limit_w":
            value = max(0.0, min(rated_w, value) if rated_w is not None else value)
        elif name == "p_limit_pct":
            value = max(0.0, min(1.0, value))
        elif config.kind is DeviceKind.EV_CHARGER and name == "i_limit_a":
            upper = config.max_current_a if config.max_current_a is not None else value
            value = max(0.0, min(upper, value))
        elif name in ("relay1", "relay2", "enable"):
            value = 1.0 if value >= 0.5 else 0.0
        out[name] = value
    return out


class DeviceLink:
    """Polls one device and writes its setpoints; run() is a supervised task.

    Polling and writing are two coroutines, so a setpoint never waits for a poll in flight (the bus
    still serializes frames and puts writes first). Setpoints are only kept alive while the control
    loop keeps asking for them (``desired_ttl_s``): a device the loop stopped commanding — offline, in
    alarm, or a stalled loop — is left alone so that its own reversion timer can act.
    """

    def __init__(
        self,
        config: DeviceConfig,
        driver: DeviceDriver,
        image: ProcessImage,
        epoch: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
        *,
        desired_ttl_s: float = 3.0,
        wait_ready: Callable[[float], Awaitable[bool]] | None = None,
    ) -> None:
        self.config = config
        self.driver = driver
        self.image = image
        self._epoch = epoch
        self._clock = clock
        self._desired_ttl_s = desired_ttl_s
        self._wait_ready = wait_ready
        self._desired: dict[str, float] = {}
        self._desired_mono = -math.inf
        self._written: dict[str, float] = {}
        self._last_write_mono = -math.inf
        self._written_epoch = -1
        self._connected_epoch = -1
        self._polled_epoch = -1
        """Connection epoch of the last successful poll: re-assertion waits for it after a reconnect."""
        self._wake = asyncio.Event()
        self.stats = PollStats()
        self._failing = False
        self._ever_ok = False
        self._consecutive_failures = 0
        self._slow_due = True
        self._deliveries: dict[str, Delivery] = {}
        self._invalid: dict[str, float] = {}
        """Points whose latest requested value was non-finite (one episode each, logged once)."""
        self._not_writable_logged: set[str] = set()
        image.set_slow_points(config.id, driver.slow_points, slow_window_s(config))
        image.set_rating(config.id, config.rated_power_kw * 1000.0 if config.rated_power_kw else None)

    def set_setpoints(self, setpoints: Mapping[str, float]) -> None:
        """Ask for setpoints (every control cycle); changed values are written as soon as the bus allows."""
        if self.config.read_only:
            return
        self._check_finite(setpoints)
        allowed = self.driver.writable_points
        if allowed:
            for name in setpoints.keys() - allowed - self._not_writable_logged:
                self._not_writable_logged.add(name)
                log.warning("setpoint not writable on this device", device=self.config.id, point=name)
        guarded = clamp_to_ratings(
            self.config, {k: v for k, v in setpoints.items() if k in allowed and math.isfinite(v)}
        )
        if not guarded:
            return
        self._desired_mono = self._clock()
        if any(self._desired.get(k) != v for k, v in guarded.items()):
            self._desired.update(guarded)
            self._wake.set()

    def _check_finite(self, setpoints: Mapping[str, float]) -> None:
        """Refuse non-finite setpoints: nothing is written for them, the value is no longer refreshed, the
        episode is logged once and raised as a ``SETPOINT_INVALID`` image alarm until a finite value arrives."""
        now = self._clock()
        changed = False
        for name, value in setpoints.items():
            if math.isfinite(value):
                if self._invalid.pop(name, None) is not None:
                    changed = True
                    log.info("setpoint valid again", device=self.config.id, point=name, value=value)
                continue
            self._deliveries[name] = Delivery(value, now, False)
            self._desired.pop(name, None)
            self._written.pop(name, None)  # the next finite value goes out at once
            if name not in self._invalid:
                changed = True
                log.error(
                    "non-finite setpoint refused, nothing written", device=self.config.id, point=name, value=value
                )
            self._invalid[name] = value
        if not changed:
            return
        if self._invalid:
            detail = ", ".join(f"{name}={value}" for name, value in sorted(self._invalid.items()))
            self.image.set_alarm(self.config.id, SETPOINT_INVALID, f"{detail}: nothing written")
        else:
            self.image.clear_alarm(self.config.id, SETPOINT_INVALID)

    def delivery(self, point: str) -> Delivery | None:
        """The last value tried for ``point``, when, and whether it reached the device (None: never tried).

        A value equal to what the device already holds counts as delivered: it was written (a new link
        always writes once) and every later poll whose read-back shows it refreshes ``ts_mono``."""
        return self._deliveries.get(point)

    def delivered_since(self, point: str, since_mono: float) -> bool | None:
        """True when ``point`` was delivered at or after ``since_mono``, False when its delivery failed since
        then, None while nothing has happened since (pending)."""
        delivery = self._deliveries.get(point)
        if delivery is None or delivery.ts_mono < since_mono:
            return None
        return delivery.ok

    @property
    def deliveries(self) -> dict[str, Delivery]:
        return dict(self._deliveries)

    def request_write(self) -> None:
        """Write every desired setpoint at the next opportunity, also unchanged ones (fresh delivery evidence)."""
        self._written_epoch = -1
        self._wake.set()

    @property
    def desired(self) -> dict[str, float]:
        """Setpoints the control loop currently asks for (empty once they lapsed)."""
        return dict(self._desired) if self._desired_alive() else {}

    def _desired_alive(self) -> bool:
        return bool(self._desired) and self._clock() - self._desired_mono <= self._desired_ttl_s

    async def run(self) -> None:
        self.image.mark_started(self.config.id)
        if self._wait_ready is not None:
            # Give the bus its first connection attempt before the first poll (no false alarm at start-up).
            await self._wait_ready(max(1.0, 2 * self.config.transport.timeout_ms / 1000.0))
        async with asyncio.TaskGroup() as group:
            group.create_task(self._poll_loop())
            if not self.config.read_only:
                group.create_task(self._write_loop())

    async def _poll_loop(self) -> None:
        interval = self.config.poll_interval_s
        next_poll = self._clock()
        count = 0
        while True:
            await self._maybe_connect()
            now = self._clock()
            if now - next_poll > interval:
                self.stats.missed_deadlines += 1
                next_poll = now
            classes = {PollClass.FAST, PollClass.NORMAL}
            slow = self._slow_due
            if slow:
                classes.add(PollClass.SLOW)
            count += 1
            if count % SLOW_EVERY == 0:
                self._slow_due = True
            if await self._poll(frozenset(classes)) and slow:
                self._slow_due = False
            next_poll += interval
            delay = next_poll - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)

    async def _write_loop(self) -> None:
        while True:
            self._wake.clear()
            await self._maybe_write()
            timeout = self.config.setpoint_refresh_s
            if self._written and self._desired_alive():
                timeout = max(0.01, self._last_write_mono + self.config.setpoint_refresh_s - self._clock())
            await wait_event(self._wake, timeout)

    async def _maybe_connect(self) -> None:
        epoch = self._epoch()
        if epoch == self._connected_epoch:
            return
        try:
            await self.driver.connect()
            self._connected_epoch = epoch
        except DeviceError as exc:
            # The poll that follows reports the episode; only the alarm is set here.
            self.image.mark_failed(self.config.id, f"connect: {exc}")

    async def _poll(self, classes: frozenset[PollClass]) -> bool:
        start = self._clock()
        if self.stats.last_poll_mono is not None:
            self.stats.intervals_s.append(start - self.stats.last_poll_mono)
        self.stats.last_poll_mono = start
        self.stats.polls += 1
        epoch = self._epoch()
        try:
            values = await self.driver.read(classes)
        except DeviceError as exc:
            self.stats.failures += 1
            self._mark_failing(str(exc))
            return False
        self.image.update(self.config.id, values)
        self._confirm_by_readback(values, start)
        self._ever_ok = True
        self._consecutive_failures = 0
        self.image.clear_alarm(self.config.id, "comm")
        if self._failing:
            self._failing = False
            log.info("device recovered", device=self.config.id)
        if epoch != self._polled_epoch:
            self._polled_epoch = epoch
            self._wake.set()  # re-assert setpoints now that the device answers again
        elif self._written_epoch != epoch and self._desired_alive():
            self._wake.set()  # the last write failed: retry now that the device answers (at most once per poll)
        return True

    def _confirm_by_readback(self, values: Mapping[str, object], now: float) -> None:
        for name, delivery in self._deliveries.items():
            read = values.get(name)
            if not isinstance(read, int | float) or isinstance(read, bool) or not math.isfinite(delivery.value):
                continue
            if abs(float(read) - delivery.value) <= READBACK_TOLERANCE * max(1.0, abs(delivery.value)):
                self._deliveries[name] = Delivery(delivery.value, now, True)

    def _mark_failing(self, reason: str) -> None:
        self.image.mark_failed(self.config.id, reason)
        self._consecutive_failures += 1
        # Log once per episode; at start-up wait for a second failure (the bus may still be connecting).
        if not self._failing and (self._ever_ok or self._consecutive_failures >= 2):
            log.warning("device failing", device=self.config.id, reason=reason)
            self._failing = True

    async def _maybe_write(self) -> None:
        if self.config.read_only or not self._desired_alive():
            return
        now = self._clock()
        epoch = self._epoch()
        if epoch != self._written_epoch and self._polled_epoch != epoch:
            return  # reconnected: wait for a successful poll before re-asserting anything
        changed = {k: v for k, v in self._desired.items() if self._written.get(k) != v}
        reassert = epoch != self._written_epoch or now - self._last_write_mono >= self.config.setpoint_refresh_s
        to_write = dict(self._desired) if reassert else changed
        if not to_write:
            return
        try:
            await self.driver.write(to_write)
        except DeviceBackingOff:
            self._last_write_mono = now
            self._written_epoch = -1  # re-assert everything once the device is back
            self._record_deliveries(to_write, now, ok=False)
            return
        except DeviceError as exc:
            self.stats.write_failures += 1
            self._last_write_mono = now
            self._written_epoch = -1
            self._record_deliveries(to_write, now, ok=False)
            self._mark_failing(f"write failed: {exc}")
            return
        self._record_deliveries(to_write, self._clock(), ok=True)
        self.stats.writes += 1
        self._written.update(to_write)
        self._written_epoch = epoch
        self._last_write_mono = now
        self.image.record_setpoints(self.config.id, to_write)

    def _record_deliveries(self, written: Mapping[str, float], now: float, *, ok: bool) -> None:
        for name, value in written.items():
            self._deliveries[name] = Delivery(value, now, ok)


def slow_window_s(config: DeviceConfig) -> float:
    """Staleness window of slow-class points: one slow period plus the normal window (never less than
    ``SLOW_STALE_FACTOR`` normal windows), so a slow point stays FRESH between its reads."""
    return max(SLOW_STALE_FACTOR * config.stale_window_s, SLOW_EVERY * config.poll_interval_s + config.stale_window_s)
