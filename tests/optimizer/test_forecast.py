"""Forecasts from an in-memory history: weekly load profile, fallbacks, clear-sky PV, MAE tracking."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from zoe_ems.optimizer.forecast import ForecastTracker, LoadForecaster, PvForecaster
from zoe_ems.optimizer.problem import FloatArray
from zoe_ems.optimizer.series import TimeSeries

DAY = 86400.0
START = 1_717_200_000.0 - (1_717_200_000.0 % DAY)  # 2024-06-01 00:00 UTC


class MemoryHistory:
    """HistorySource over functions of time."""

    def __init__(self, **signals: Callable[[FloatArray], FloatArray]) -> None:
        self.signals = signals

    def series(self, name: str, start_utc: float, end_utc: float, step_s: float) -> FloatArray:
        times = np.arange(start_utc, end_utc - 1e-9, step_s)
        func = self.signals.get(name)
        if func is None:
            return np.full(times.size, np.nan)
        values: FloatArray = np.asarray(func(times), dtype=np.float64)
        return values


def weekly_load(times: FloatArray) -> FloatArray:
    hour = (times % DAY) / 3600.0
    weekday = ((times // DAY) + 3) % 7  # 1970-01-01 was a Thursday
    base = np.where(weekday < 5, 100e3, 40e3)
    result: FloatArray = np.asarray(base + 50e3 * ((hour >= 8) & (hour < 18)), dtype=np.float64)
    return result


def test_weekly_profile_reproduces_a_repeating_week() -> None:
    history = MemoryHistory(load_w=weekly_load)
    forecast = LoadForecaster(history_days=21).forecast(history, START, 900.0, 4 * 48)
    truth = weekly_load(START + 900.0 * np.arange(4 * 48, dtype=np.float64))
    assert forecast == pytest.approx(truth)


def test_recent_weeks_weigh_more() -> None:
    def growing(times: FloatArray) -> FloatArray:
        return np.where(times > START - 8 * DAY, 200e3, 100e3)

    forecast = LoadForecaster(history_days=28, recency_half_life_days=3.0).forecast(
        MemoryHistory(load_w=growing), START, 3600.0, 24
    )
    assert np.all(forecast > 180e3)


def test_without_history_the_configured_profile_is_used() -> None:
    profile = tuple(float(h) * 1000.0 for h in range(24))
    forecast = LoadForecaster(fallback_profile_w=profile).forecast(None, START, 3600.0, 24)
    assert forecast == pytest.approx(np.array(profile))


def test_pv_follows_clear_sky_scaled_by_measured_ratio() -> None:
    pv = PvForecaster(latitude=50.85, longitude=4.35)

    def measured(times: FloatArray) -> FloatArray:
        return -0.5 * pv.clear_sky_w(float(times[0]), 900.0, times.size, peak_w=200e3)

    forecast = pv.forecast(MemoryHistory(pv_w=measured), START, 900.0, 96)
    clear = pv.clear_sky_w(START, 900.0, 96, peak_w=200e3)
    assert forecast == pytest.approx(-0.5 * clear, rel=1e-3, abs=10.0)
    assert forecast[0] == 0.0  # midnight in Brussels
    assert forecast[4 * 12] < -50e3  # around solar noon (12 UTC ~ 14 local)


def test_forecast_mae_is_tracked_against_history() -> None:
    tracker = ForecastTracker()
    tracker.record("load_w", TimeSeries(START, 3600.0, np.full(4, 100e3)))
    history = MemoryHistory(load_w=lambda t: np.full(t.size, 110e3))
    assert tracker.score("load_w", history, now_utc=START + 2 * 3600.0) == pytest.approx(10e3)
    assert tracker.mae_w["load_w"] == pytest.approx(10e3)
