"""Load and PV forecasts for the planner, learned from the site's history, plus forecast-error (MAE) tracking.

Load: weekly profile (same time of week in past weeks) with recency weighting, then same time of day,
then a configured 24-hour profile. PV: clear-sky model for the site's location scaled by the recent ratio
of measured production to clear-sky. Supplied forecasts override both. History is read through the small
``HistorySource`` protocol (the daemon implements it on SQLite). Blocking reads: call from a worker thread.
Never solves and never writes devices.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from zoe_ems.optimizer.clearsky import clear_sky_pv_fraction
from zoe_ems.optimizer.problem import FloatArray
from zoe_ems.optimizer.series import TimeSeries

WEEK_S = 7 * 86400.0
DAY_S = 86400.0
LOAD_SERIES = "load_w"
PV_SERIES = "pv_w"


class HistorySource(Protocol):
    """Read access to measured history."""

    def series(self, name: str, start_utc: float, end_utc: float, step_s: float) -> FloatArray:
        """Step averages of ``name`` on [start_utc, end_utc) every ``step_s``; NaN where nothing was recorded.

        Names used here: ``load_w`` (site load, W, >= 0) and ``pv_w`` (PV power, passive sign, W <= 0).
        """
        ...


@dataclass(frozen=True, kw_only=True)
class LoadForecaster:
    """Weekly-profile load forecast with recency weighting and fallbacks."""

    history_days: int = 28
    recency_half_life_days: float = 7.0
    fallback_profile_w: tuple[float, ...] | None = None
    """24 hourly values in local time (index = local hour)."""
    utc_offset_s: float = 0.0
    """Local time offset used to index ``fallback_profile_w``."""

    def forecast(self, history: HistorySource | None, start_utc: float, step_s: float, n: int) -> FloatArray:
        """Load in W for ``n`` steps from ``start_utc``."""
        targets = start_utc + step_s * np.arange(n)
        result = np.full(n, np.nan)
        past: FloatArray | None = None
        hist_start = start_utc - self.history_days * DAY_S
        if history is not None:
            past = np.asarray(history.series(LOAD_SERIES, hist_start, start_utc, step_s), dtype=float)
        if past is not None and past.size:
            for period in (WEEK_S, DAY_S):
                missing = np.isnan(result)
                if not missing.any():
                    break
                result[missing] = _profile(
                    past, hist_start, step_s, targets[missing], period, self.recency_half_life_days
                )
        missing = np.isnan(result)
        if missing.any() and self.fallback_profile_w is not None:
            hours = np.floor(((targets[missing] + self.utc_offset_s) % DAY_S) / 3600.0).astype(int)
            result[missing] = np.asarray(self.fallback_profile_w, dtype=float)[hours]
        missing = np.isnan(result)
        if missing.any():
            known = past[~np.isnan(past)] if past is not None else np.zeros(0)
            result[missing] = float(np.mean(known)) if known.size else 0.0
        out: FloatArray = np.maximum(result, 0.0)
        return out


@dataclass(frozen=True, kw_only=True)
class PvForecaster:
    """Clear-sky PV shape for the site scaled by the recent measured / clear-sky ratio."""

    latitude: float
    longitude: float
    peak_w: float | None = None
    history_days: int = 7
    recency_half_life_days: float = 2.0
    default_clear_sky_index: float = 0.6
    """Used with ``peak_w`` when there is no usable history."""

    def forecast(self, history: HistorySource | None, start_utc: float, step_s: float, n: int) -> FloatArray:
        """PV power in W for ``n`` steps from ``start_utc`` (passive sign: production negative)."""
        shape = self.clear_sky_w(start_utc, step_s, n, peak_w=1.0)
        scale = self._scale(history, start_utc, step_s)
        result: FloatArray = -shape * scale
        return result

    def clear_sky_w(self, start_utc: float, step_s: float, n: int, peak_w: float) -> FloatArray:
        """Clear-sky PV power (positive) of an array of ``peak_w`` for each step (mid-step sun position)."""
        times = np.asarray(start_utc + step_s * (np.arange(n) + 0.5), dtype=np.float64)
        result: FloatArray = peak_w * clear_sky_pv_fraction(times, self.latitude, self.longitude)
        return result

    def _scale(self, history: HistorySource | None, start_utc: float, step_s: float) -> float:
        default = (self.peak_w or 0.0) * self.default_clear_sky_index
        if history is None:
            return default
        hist_start = start_utc - self.history_days * DAY_S
        measured = -np.asarray(history.series(PV_SERIES, hist_start, start_utc, step_s), dtype=float)
        clear = self.clear_sky_w(hist_start, step_s, measured.size, peak_w=1.0)
        ok = ~np.isnan(measured) & (clear > 0.05)
        if ok.sum() < 8:
            return default
        age_days = (start_utc - (hist_start + step_s * np.arange(measured.size))) / DAY_S
        weight = 0.5 ** (age_days / self.recency_half_life_days)
        ratio = float(np.sum(weight[ok] * np.maximum(measured[ok], 0.0)) / np.sum(weight[ok] * clear[ok]))
        return ratio


@dataclass(frozen=True, kw_only=True)
class ForecastScore:
    """Forecast quality of one series: errors of every issued forecast over its elapsed, measured steps."""

    mae_w: float
    """Mean absolute error (W) over all (forecast, step) pairs."""
    samples: int
    """Number of (forecast, step) pairs scored."""
    forecasts: int
    """Number of issued forecasts that had at least one scorable step."""
    mean_actual_w: float
    """Mean measured value over the same pairs (puts the MAE in proportion)."""


class ForecastTracker:
    """Mean absolute error of issued forecasts against what was later measured, per series.

    ``record`` stores a forecast when issued; ``evaluate`` (or ``score``) compares stored forecasts with
    history once their steps have passed. Keeps a bounded number of forecasts per series; reads history once
    per series and evaluation when the forecasts share a step grid (blocking: call from a worker thread).
    """

    def __init__(self, keep: int = 200) -> None:
        self._issued: dict[str, deque[TimeSeries]] = {}
        self._keep = keep
        self.mae_w: dict[str, float] = {}
        self.scores: dict[str, ForecastScore] = {}

    def record(self, name: str, forecast: TimeSeries) -> None:
        """Remember a forecast issued now."""
        self._issued.setdefault(name, deque(maxlen=self._keep)).append(forecast)

    def issued(self, name: str) -> int:
        """How many forecasts of ``name`` are remembered."""
        return len(self._issued.get(name, ()))

    def score(self, name: str, history: HistorySource, now_utc: float, lead_s: float | None = None) -> float | None:
        """MAE (W) of recorded forecasts of ``name`` over their elapsed steps; None when nothing is scorable.

        ``lead_s`` limits scoring to the first ``lead_s`` seconds of each forecast (e.g. day-ahead quality).
        """
        result = self.evaluate(name, history, now_utc, lead_s)
        return None if result is None else result.mae_w

    def evaluate(
        self, name: str, history: HistorySource, now_utc: float, lead_s: float | None = None
    ) -> ForecastScore | None:
        """Like ``score`` with sample counts; only whole steps that ended by ``now_utc`` are scored."""
        windows: list[tuple[TimeSeries, int]] = []
        for forecast in self._issued.get(name, ()):
            horizon_end = forecast.end_utc if lead_s is None else min(forecast.end_utc, forecast.start_utc + lead_s)
            end = min(horizon_end, now_utc)
            count = math.floor((end - forecast.start_utc) / forecast.step_s + 1e-9)
            if count > 0:
                windows.append((forecast, count))
        if not windows:
            return None
        errors: list[FloatArray] = []
        actuals: list[FloatArray] = []
        for predicted, actual in _measured(name, history, windows):
            diff = np.abs(predicted - actual)
            ok = ~np.isnan(diff)
            if ok.any():
                errors.append(diff[ok])
                actuals.append(actual[ok])
        if not errors:
            return None
        merged = np.concatenate(errors)
        result = ForecastScore(
            mae_w=float(np.mean(merged)),
            samples=int(merged.size),
            forecasts=len(errors),
            mean_actual_w=float(np.mean(np.concatenate(actuals))),
        )
        self.mae_w[name] = result.mae_w
        self.scores[name] = result
        return result


def _measured(
    name: str, history: HistorySource, windows: list[tuple[TimeSeries, int]]
) -> list[tuple[FloatArray, FloatArray]]:
    """(forecast values, measured values) per window; one history read for windows on a common step grid."""
    step = windows[0][0].step_s
    first = min(f.start_utc for f, _ in windows)
    aligned = all(
        f.step_s == step and abs((f.start_utc - first) / step - round((f.start_utc - first) / step)) < 1e-6
        for f, _ in windows
    )
    pairs: list[tuple[FloatArray, FloatArray]] = []
    if aligned:
        last = max(f.start_utc + count * step for f, count in windows)
        steps = round((last - first) / step)
        measured = np.asarray(history.series(name, first, first + steps * step, step), dtype=float)
        for forecast, count in windows:
            offset = round((forecast.start_utc - first) / step)
            pairs.append((forecast.values[:count], measured[offset : offset + count]))
        return pairs
    for forecast, count in windows:
        end = forecast.start_utc + count * forecast.step_s
        measured = np.asarray(history.series(name, forecast.start_utc, end, forecast.step_s), dtype=float)[:count]
        pairs.append((forecast.values[:count], measured))
    return pairs


def _profile(
    past: FloatArray, hist_start: float, step_s: float, targets: FloatArray, period_s: float, half_life_days: float
) -> FloatArray:
    """Recency-weighted mean of ``past`` at ``targets - k * period_s`` (k = 1, 2, ...); NaN where none exists."""
    total = np.zeros(targets.size)
    weights = np.zeros(targets.size)
    max_k = int((targets.max() - hist_start) // period_s) + 1 if targets.size else 0
    for k in range(1, max_k + 1):
        when = targets - k * period_s
        index = np.floor((when - hist_start) / step_s + 1e-9).astype(np.int64)
        inside = (index >= 0) & (index < past.size)
        values = np.where(inside, past[np.clip(index, 0, past.size - 1)], np.nan)
        ok = ~np.isnan(values)
        weight = 0.5 ** (k * period_s / DAY_S / half_life_days)
        total[ok] += weight * values[ok]
        weights[ok] += weight
    result: FloatArray = np.where(weights > 0, total / np.where(weights > 0, weights, 1.0), np.nan)
    return result
