"""Expected billing-period peak: the import level the battery fleet could hold on each recent day, from history.

A plan sees only its horizon, but the demand charge bills the whole period's highest step. Shaving deeper than
the level the period's hardest day will force anyway costs cycling and arbitrage for nothing, and a battery
emptied for a too-low peak then lets the peak ratchet up on the next hard day. ``ExpectedPeak`` estimates that
level from the measured net load (load + PV) of the last days: per local day, the lowest import the fleet could
have held starting full (``holdable_peak_w``), the highest of those over the lookback, times a fraction. The
planner uses it as a floor of the planned peak. Blocking reads: call from a worker thread. Never solves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from zoe_ems.optimizer.forecast import LOAD_SERIES, PV_SERIES, HistorySource
from zoe_ems.optimizer.problem import BatterySpec, FloatArray

MIN_KNOWN_FRACTION = 0.9
"""A day with less load history than this is left out of the estimate."""


@dataclass(frozen=True, kw_only=True)
class Fleet:
    """The battery fleet as one battery (sum of capacities and powers, capacity-weighted SOC window)."""

    capacity_wh: float
    max_charge_w: float
    max_discharge_w: float
    soc_min: float
    soc_max: float
    charge_efficiency: float
    discharge_efficiency: float

    @classmethod
    def of(cls, batteries: tuple[BatterySpec, ...]) -> Fleet:
        capacity = np.array([b.capacity_wh for b in batteries], dtype=float)
        weights = capacity / capacity.sum() if capacity.sum() > 0 else np.zeros(len(batteries))
        return cls(
            capacity_wh=float(capacity.sum()),
            max_charge_w=float(sum(b.max_charge_w for b in batteries)),
            max_discharge_w=float(sum(b.max_discharge_w for b in batteries)),
            soc_min=float(np.dot(weights, [b.soc_min for b in batteries])),
            soc_max=float(np.dot(weights, [b.soc_max for b in batteries])),
            charge_efficiency=float(np.dot(weights, [b.charge_efficiency for b in batteries])),
            discharge_efficiency=float(np.dot(weights, [b.discharge_efficiency for b in batteries])),
        )


def holdable_peak_w(net_w: FloatArray, step_s: float, fleet: Fleet, iterations: int = 24) -> float:
    """Lowest import level the fleet holds over ``net_w`` (W per step, import positive), starting full and
    recharging below the level; 0 without a battery able to shave. Bisection on a step-by-step simulation."""
    net = np.asarray(net_w, dtype=float)
    net = net[~np.isnan(net)]
    if net.size == 0:
        return 0.0
    top = float(max(net.max(), 0.0))
    if fleet.capacity_wh <= 0 or fleet.max_discharge_w <= 0:
        return top
    low, high = 0.0, top
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        if _holds(net, middle, step_s / 3600.0, fleet):
            high = middle
        else:
            low = middle
    return high


@dataclass
class ExpectedPeak:
    """``fraction`` x the highest holdable daily peak over the last ``lookback_days`` complete local days."""

    lookback_days: int
    fraction: float
    timezone: str = "UTC"
    _days: dict[float, float | None] = field(default_factory=dict)

    def floor_w(self, history: HistorySource | None, now_utc: float, step_s: float, fleet: Fleet) -> float:
        """The expected peak (W) at ``now_utc``; 0 without history or with ``fraction`` 0."""
        if history is None or self.fraction <= 0 or self.lookback_days <= 0:
            return 0.0
        zone = ZoneInfo(self.timezone)
        today = datetime.fromtimestamp(now_utc, zone).replace(hour=0, minute=0, second=0, microsecond=0)
        levels: list[float] = []
        for back in range(1, self.lookback_days + 1):
            day = today - timedelta(days=back)
            start = day.timestamp()
            end = (day + timedelta(days=1)).replace(hour=0).timestamp()
            if start not in self._days:
                self._days[start] = self._day_level(history, start, end, step_s, fleet)
            level = self._days[start]
            if level is not None:
                levels.append(level)
        for stale in [s for s in self._days if s < (today - timedelta(days=self.lookback_days + 1)).timestamp()]:
            del self._days[stale]
        return self.fraction * max(levels) if levels else 0.0

    def _day_level(
        self, history: HistorySource, start_utc: float, end_utc: float, step_s: float, fleet: Fleet
    ) -> float | None:
        load = np.asarray(history.series(LOAD_SERIES, start_utc, end_utc, step_s), dtype=float)
        if load.size == 0 or np.mean(~np.isnan(load)) < MIN_KNOWN_FRACTION:
            return None
        pv = np.asarray(history.series(PV_SERIES, start_utc, end_utc, step_s), dtype=float)
        # Unknown PV counts as none: the day's net load (and the level) can only come out higher.
        net = load + np.nan_to_num(np.minimum(pv, 0.0), nan=0.0)
        return holdable_peak_w(net, step_s, fleet)


def _holds(net: FloatArray, level_w: float, step_h: float, fleet: Fleet) -> bool:
    energy = fleet.soc_max * fleet.capacity_wh
    floor = fleet.soc_min * fleet.capacity_wh
    ceiling = fleet.soc_max * fleet.capacity_wh
    for value in net.tolist():
        if value > level_w:
            need = value - level_w
            if need > fleet.max_discharge_w:
                return False
            energy -= need / fleet.discharge_efficiency * step_h
            if energy < floor - 1e-6:
                return False
        else:
            energy = min(ceiling, energy + min(level_w - value, fleet.max_charge_w) * fleet.charge_efficiency * step_h)
    return True
