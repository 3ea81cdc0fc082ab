"""Counters and state of a device link and of a bus, as exposed to the daemon.

Owns plain mutable dataclasses; the transport updates them and hands out copies. Must never do I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DeviceState = Literal["ok", "failing", "backoff"]


@dataclass(slots=True)
class DeviceStats:
    """Health of one unit id on a bus.

    ``state``: ``ok`` (answering), ``backoff`` (failed; requests are refused without touching the bus until
    ``backoff_until``), ``failing`` (back-off over, the next request is a single probe).
    """

    requests: int = 0
    """Requests that went to the bus (each counted once, whatever its retries)."""
    failures: int = 0
    """Requests that got no valid answer after all retries (timeout, garbled or gateway no-response)."""
    timeouts: int = 0
    """Single attempts that timed out."""
    exception_responses: int = 0
    """Requests the device answered with a Modbus exception."""
    refused: int = 0
    """Requests refused without touching the bus because the device was backing off."""
    last_error: str | None = None
    state: DeviceState = "ok"
    consecutive_failures: int = 0
    recoveries: int = 0
    """Times the device came back from failing; part of the channel's ``connection_epoch``."""
    backoff_until: float | None = None
    """``time.monotonic()`` at which back-off ends (None unless state is ``backoff``)."""
    backoff_s: float | None = None
    """Length of the current or last back-off (None until the first failure, again after a recovery)."""
    last_ok_monotonic: float | None = None
    last_latency_s: float | None = None
    """Wire time of the last successful request (send to validated reply)."""


@dataclass(slots=True)
class BusStats:
    """Connection and traffic of one bus (one TCP connection or one serial line)."""

    key: str
    connected: bool = False
    connects: int = 0
    """Successful (re)connects; part of every channel's ``connection_epoch``."""
    connect_failures: int = 0
    disconnects: int = 0
    frames_sent: int = 0
    """Request frames written to the bus, retries included."""
    timeouts: int = 0
    queue_depth: int = 0
    last_error: str | None = None
    reconnect_in_s: float | None = None
    """Back-off delay before the next connect attempt while disconnected."""
