"""Buy and sell prices per planning step: fixed, time-of-use tables, dynamic (CSV / `prices` command).

Owns price arithmetic only (EUR/kWh): energy source, grid fees, taxes, VAT, sell policy, and the naive
forecast of spot prices not yet published (same hour one day earlier). Never solves, never does I/O on
the event loop (CSV loading is for start-up or worker threads).
"""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from zoe_ems.config.optimizer import (
    DynamicEnergyPrice,
    FixedEnergyPrice,
    TariffConfig,
    TimeOfUseEnergyPrice,
)
from zoe_ems.optimizer.problem import FloatArray, InputError
from zoe_ems.optimizer.series import TimeSeries

PriceSeries = TimeSeries
"""Prices are plain time series in EUR/kWh."""

DAY_S = 86400.0
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def load_price_csv(path: str | Path) -> PriceSeries:
    """Read a ``utc_start,price_eur_per_kwh`` CSV (regular spacing; a DST-repeated hour is kept in UTC order).

    Raises InputError naming the file, line and field on bad content.
    """
    file = str(path)
    starts: list[float] = []
    prices: list[float] = []
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"utc_start", "price_eur_per_kwh"} <= set(reader.fieldnames):
                raise InputError(f"{file}:1: header must contain utc_start and price_eur_per_kwh")
            for line, row in enumerate(reader, start=2):
                try:
                    stamp = datetime.fromisoformat(row["utc_start"].replace("Z", "+00:00"))
                    if stamp.tzinfo is None:
                        stamp = stamp.replace(tzinfo=UTC)
                    starts.append(stamp.timestamp())
                except (ValueError, AttributeError):
                    raise InputError(f"{file}:{line}: utc_start: not an ISO 8601 time: {row['utc_start']!r}") from None
                try:
                    prices.append(float(row["price_eur_per_kwh"]))
                except (TypeError, ValueError):
                    raise InputError(
                        f"{file}:{line}: price_eur_per_kwh: not a number: {row['price_eur_per_kwh']!r}"
                    ) from None
    except OSError as exc:
        raise InputError(f"{file}: cannot read: {exc.strerror or exc}") from None
    if len(starts) < 2:
        raise InputError(f"{file}: needs at least two prices")
    gaps = np.diff(np.asarray(starts))
    step = float(np.median(gaps))
    bad = np.nonzero(np.abs(gaps - step) > 1e-6)[0]
    if bad.size:
        raise InputError(f"{file}:{int(bad[0]) + 3}: utc_start: spacing differs from {step:.0f} s (gap or duplicate)")
    return PriceSeries(starts[0], step, np.asarray(prices, dtype=float))


def fill_unknown(prices: FloatArray, step_s: float, fallback: float | None = None) -> FloatArray:
    """Replace NaN (not yet published) prices by the price one day earlier (repeatedly), then ``fallback``.

    With no fallback, the last known price is carried forward; all-NaN input raises InputError.
    """
    result = np.array(prices, dtype=float)
    lag = round(DAY_S / step_s)
    if lag >= 1:
        for index in range(lag, result.size):
            if np.isnan(result[index]):
                result[index] = result[index - lag]
    if np.isnan(result).any():
        known = result[~np.isnan(result)]
        if fallback is None and known.size == 0:
            raise InputError("prices: no known price in the horizon and no fallback price configured")
        for index in range(result.size):
            if np.isnan(result[index]):
                previous = result[index - 1] if index > 0 else np.nan
                result[index] = fallback if fallback is not None else (previous if not np.isnan(previous) else known[0])
    return result


class Tariff:
    """Buy/sell prices for the planner, from the site's tariff configuration plus pushed prices.

    Prices from the northbound `prices` command (already all-in) override the configured tariff in their
    window. Not thread-safe for concurrent writes; the planner reads snapshots.
    """

    def __init__(self, config: TariffConfig, timezone: str = "UTC", spot: PriceSeries | None = None) -> None:
        self.config = config
        self._zone = ZoneInfo(timezone)
        energy = config.energy
        if spot is None and isinstance(energy, DynamicEnergyPrice) and energy.csv_path is not None:
            spot = load_price_csv(energy.csv_path)
        self._spot = spot
        self._command_buy: PriceSeries | None = None
        self._command_sell: PriceSeries | None = None
        self.version = 0
        """Increases on every price update (the planner re-plans when it changes)."""

    def set_spot(self, series: PriceSeries) -> None:
        """Replace the dynamic spot price series (e.g. after a day-ahead publication)."""
        self._spot = series
        self.version += 1

    def set_command_prices(self, start_utc: float, step_s: float, buy: list[float], sell: list[float]) -> None:
        """Prices from the northbound `prices` command: all-in buy and sell EUR/kWh per step from ``start_utc``."""
        if step_s <= 0:
            raise InputError(f"prices.step_s: must be > 0, got {step_s}")
        if not buy or len(buy) != len(sell):
            raise InputError("prices: buy_eur_per_kwh and sell_eur_per_kwh must be non-empty and of equal length")
        for name, values in (("buy_eur_per_kwh", buy), ("sell_eur_per_kwh", sell)):
            if not all(math.isfinite(v) for v in values):
                raise InputError(f"prices.{name}: non-finite value")
        self._command_buy = PriceSeries(start_utc, step_s, np.asarray(buy, dtype=float))
        self._command_sell = PriceSeries(start_utc, step_s, np.asarray(sell, dtype=float))
        self.version += 1

    def energy_price(self, start_utc: float, step_s: float, n: int) -> FloatArray:
        """Energy (commodity / spot) price per step, unknown spot prices forecast by ``fill_unknown``."""
        energy = self.config.energy
        if isinstance(energy, FixedEnergyPrice):
            return np.full(n, energy.price_eur_per_kwh)
        if isinstance(energy, TimeOfUseEnergyPrice):
            return self._time_of_use(energy, start_utc, step_s, n)
        if self._spot is None:
            if energy.fallback_eur_per_kwh is None:
                raise InputError("optimizer.tariff.energy: dynamic prices but no CSV, no pushed prices, no fallback")
            return np.full(n, energy.fallback_eur_per_kwh)
        # Sample from one day earlier so "the same hour yesterday" exists for the first unpublished steps.
        lag = round(DAY_S / step_s)
        window = self._spot.sample(start_utc - lag * step_s, step_s, n + lag)
        filled = fill_unknown(window, step_s, energy.fallback_eur_per_kwh)
        result: FloatArray = filled[lag:]
        return result

    def prices(self, start_utc: float, step_s: float, n: int) -> tuple[FloatArray, FloatArray]:
        """All-in (buy, sell) EUR/kWh for ``n`` steps of ``step_s`` from ``start_utc``."""
        cfg = self.config
        command_buy = self._command_buy.sample(start_utc, step_s, n) if self._command_buy else np.full(n, np.nan)
        command_sell = self._command_sell.sample(start_utc, step_s, n) if self._command_sell else np.full(n, np.nan)
        covered = bool(np.all(~np.isnan(command_buy)))
        energy = np.zeros(n) if covered else self.energy_price(start_utc, step_s, n)
        buy = (energy + cfg.grid_fee_eur_per_kwh + cfg.taxes_eur_per_kwh) * (1.0 + cfg.vat)
        sell = sell_price(cfg, energy)
        buy = np.where(np.isnan(command_buy), buy, command_buy)
        sell = np.where(np.isnan(command_sell), sell, command_sell)
        return buy, sell

    def _time_of_use(self, table: TimeOfUseEnergyPrice, start_utc: float, step_s: float, n: int) -> FloatArray:
        result = np.empty(n)
        for index in range(n):
            local = datetime.fromtimestamp(start_utc + (index + 0.5) * step_s, tz=self._zone)
            result[index] = time_of_use_price(table, local)
        return result


def sell_price(config: TariffConfig, energy: FloatArray) -> FloatArray:
    """Export price per step under the configured sell policy."""
    sell = config.sell
    if sell.type == "spot":
        return np.array(energy, dtype=float)
    if sell.type == "spot_minus_fee":
        result: FloatArray = energy - sell.fee_eur_per_kwh
        return result
    if sell.type == "fixed":
        return np.full(energy.shape, sell.price_eur_per_kwh)
    return np.zeros(energy.shape)


def time_of_use_price(table: TimeOfUseEnergyPrice, local: datetime) -> float:
    """Price of a time-of-use table at a local time (first matching season and period)."""
    hour = local.hour + local.minute / 60.0 + local.second / 3600.0
    day = _WEEKDAYS[local.weekday()]
    for season in table.seasons:
        if local.month not in season.months:
            continue
        for period in season.periods:
            if day not in period.days:
                continue
            if period.start_hour < period.end_hour:
                inside = period.start_hour <= hour < period.end_hour
            else:
                inside = hour >= period.start_hour or hour < period.end_hour
            if inside:
                return period.price_eur_per_kwh
        return season.default_eur_per_kwh
    raise InputError(f"optimizer.tariff.energy.seasons: no season covers month {local.month}")
