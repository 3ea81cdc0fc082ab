"""Demand-response baselines computed from grid-power history: ``prior_15min`` and ``high_x_of_y``.

Defines the history protocol the daemon implements on its SQLite history; computes numbers only,
never reads devices and never decides whether an event runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

PRIOR_WINDOW_S = 900.0
ADJUSTMENT_WINDOW = (3 * 3600.0, 1 * 3600.0)
"""Same-day adjustment compares [start-3h, start-1h) of the event day with the selected days."""
ADJUSTMENT_CAP = 0.2
MAX_LOOKBACK_DAYS = 45


class GridHistory(Protocol):
    """Grid-connection power history (passive convention: + import), in W."""

    def grid_power_average_w(self, start_utc: float, end_utc: float) -> float | None:
        """Mean grid power over [start_utc, end_utc); None when there is too little data."""
        ...


@dataclass(frozen=True, kw_only=True)
class Baseline:
    """A computed baseline and how it was obtained."""

    value_w: float
    method: str
    days_used: tuple[str, ...] = ()
    adjustment_w: float = 0.0


def prior_15min(history: GridHistory, start_utc: float) -> Baseline | None:
    """Average grid power over the 15 minutes before ``start_utc``."""
    value = history.grid_power_average_w(start_utc - PRIOR_WINDOW_S, start_utc)
    return None if value is None else Baseline(value_w=value, method="prior_15min")


def high_x_of_y(
    history: GridHistory,
    start_utc: float,
    end_utc: float,
    *,
    x: int,
    y: int,
    timezone: str,
    same_day_adjustment: bool = True,
) -> Baseline | None:
    """Mean of the ``x`` highest of the last ``y`` similar days over the event's time of day.

    Similar days share the day class (Monday–Friday or weekend) in the site's time zone; days without
    data are skipped (looking back at most 45 days). With ``same_day_adjustment`` the baseline is shifted
    by the difference between the event day and the selected days over [start-3h, start-1h), capped at
    ±20 % of the unadjusted baseline. None when fewer than ``x`` similar days have data.
    """
    zone = ZoneInfo(timezone)
    start_local = datetime.fromtimestamp(start_utc, zone)
    duration = end_utc - start_utc
    weekend = start_local.weekday() >= 5
    candidates: list[tuple[float, datetime]] = []
    for days_back in range(1, MAX_LOOKBACK_DAYS + 1):
        if len(candidates) >= y:
            break
        day_start = _same_wall_time(start_local, days_back, zone)
        if (day_start.weekday() >= 5) != weekend:
            continue
        day_start_utc = day_start.timestamp()
        value = history.grid_power_average_w(day_start_utc, day_start_utc + duration)
        if value is not None:
            candidates.append((value, day_start))
    if len(candidates) < x:
        return None
    chosen = sorted(candidates, key=lambda c: c[0], reverse=True)[:x]
    base = sum(v for v, _ in chosen) / x
    adjustment = 0.0
    if same_day_adjustment:
        adjustment = _adjustment(history, start_utc, [d for _, d in chosen], base)
    return Baseline(
        value_w=base + adjustment,
        method=f"high_{x}_of_{y}",
        days_used=tuple(d.date().isoformat() for _, d in chosen),
        adjustment_w=adjustment,
    )


def _adjustment(history: GridHistory, start_utc: float, days: Sequence[datetime], base_w: float) -> float:
    early, late = ADJUSTMENT_WINDOW
    today = history.grid_power_average_w(start_utc - early, start_utc - late)
    if today is None:
        return 0.0
    past = [history.grid_power_average_w(d.timestamp() - early, d.timestamp() - late) for d in days]
    values = [p for p in past if p is not None]
    if not values:
        return 0.0
    raw = today - sum(values) / len(values)
    cap = ADJUSTMENT_CAP * abs(base_w)
    return max(-cap, min(cap, raw))


def _same_wall_time(moment: datetime, days_back: int, zone: ZoneInfo) -> datetime:
    naive = moment.replace(tzinfo=None) - timedelta(days=days_back)
    return naive.replace(tzinfo=zone)
