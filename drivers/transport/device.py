"""Health of one unit id on a bus: failure accounting, capped back-off, probe and recovery.

Owns the per-device state machine (ok -> backoff -> failing -> ok | backoff) and its once-per-transition
logging. Must never do I/O or sleep: the bus task asks it whether a request may go out and tells it how it ended.
"""

from __future__ import annotations

import dataclasses

import structlog

from drivers.errors import DeviceBackingOff, DeviceError
from drivers.transport.backoff import Backoff
from drivers.transport.params import DeviceLinkParams
from drivers.transport.stats import DeviceStats

log = structlog.get_logger(__name__)


class DeviceLink:
    """State of one unit id on one bus, shared by every channel opened for it."""

    def __init__(self, params: DeviceLinkParams, name: str, bus_label: str) -> None:
        self.params = params
        self.name = name
        self.bus_label = bus_label
        self.stats = DeviceStats()
        self._backoff = Backoff(params.backoff_initial_s, params.backoff_max_s)
        self._failing_since: float | None = None

    def snapshot(self, now: float) -> DeviceStats:
        """A copy of the stats, with an expired back-off already shown as ``failing``."""
        stats = dataclasses.replace(self.stats)
        if stats.state == "backoff" and stats.backoff_until is not None and now >= stats.backoff_until:
            stats.state = "failing"
            stats.backoff_until = None
        return stats

    def check_admission(self, now: float) -> None:
        """Raise ``DeviceBackingOff`` while in back-off; once it has ended, move to ``failing`` (probe next)."""
        if self.stats.state != "backoff":
            return
        until = self.stats.backoff_until or 0.0
        if now < until:
            self.stats.refused += 1
            raise DeviceBackingOff(self.name, f"backing off for {until - now:.3g} s after: {self.stats.last_error}")
        self.stats.state = "failing"
        self.stats.backoff_until = None

    def attempts_allowed(self) -> int:
        """Attempts for the next request: one probe when recovering, else ``retries + 1``."""
        return 1 if self.stats.state == "failing" else self.params.retries + 1

    def on_answer(self, now: float, latency_s: float | None) -> None:
        """The device answered (data or a Modbus exception): it is alive."""
        self.stats.consecutive_failures = 0
        self.stats.last_ok_monotonic = now
        if latency_s is not None:
            self.stats.last_latency_s = latency_s
        if self.stats.state == "ok":
            return
        down_s = now - self._failing_since if self._failing_since is not None else None
        self.stats.state = "ok"
        self.stats.backoff_until = None
        self.stats.backoff_s = None
        self.stats.recoveries += 1
        self._backoff.reset()
        self._failing_since = None
        log.info("modbus device recovered", device=self.name, bus=self.bus_label, unit=self.params.unit, down_s=down_s)

    def on_failure(self, now: float, error: DeviceError) -> float:
        """The request got no valid answer after its attempts: enter back-off. Returns the back-off delay."""
        was_ok = self.stats.state == "ok"
        self.stats.failures += 1
        self.stats.consecutive_failures += 1
        self.stats.last_error = str(error)
        delay = self._backoff.next_delay()
        self.stats.state = "backoff"
        self.stats.backoff_until = now + delay
        self.stats.backoff_s = delay
        if was_ok:
            self._failing_since = now
            log.warning(
                "modbus device failing",
                device=self.name,
                bus=self.bus_label,
                unit=self.params.unit,
                error=str(error),
                backoff_s=delay,
            )
        return delay

    def next_backoff_s(self) -> float:
        """The back-off delay the next failure would start (for tests and diagnostics)."""
        return self._backoff.peek()
