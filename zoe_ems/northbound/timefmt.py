"""Timestamp format of the northbound protocol: ISO 8601 UTC with a ``Z`` suffix, millisecond precision.

Converts between wall-clock UNIX seconds (floats, used inside the daemon) and protocol strings.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(ts: float) -> str:
    """``1763805600.0`` -> ``2025-11-22T10:00:00.000Z``."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def unix_seconds(moment: datetime) -> float:
    """UNIX seconds of an aware datetime."""
    return moment.timestamp()
