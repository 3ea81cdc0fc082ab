"""Tariffs: fixed, time-of-use, CSV spot prices, pushed prices, sell policies, naive forecast of unpublished prices."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from zoe_ems.config.optimizer import (
    DynamicEnergyPrice,
    FixedEnergyPrice,
    SellPriceConfig,
    TariffConfig,
    TimeOfUseEnergyPrice,
    TouPeriod,
    TouSeason,
)
from zoe_ems.optimizer.problem import InputError
from zoe_ems.optimizer.tariffs import PriceSeries, Tariff, fill_unknown, load_price_csv

BRUSSELS = ZoneInfo("Europe/Brussels")


def test_fixed_price_adds_fees_taxes_and_vat_and_sells_at_spot_minus_fee() -> None:
    config = TariffConfig(
        energy=FixedEnergyPrice(type="fixed", price_eur_per_kwh=0.10),
        grid_fee_eur_per_kwh=0.05,
        taxes_eur_per_kwh=0.01,
        vat=0.2,
        sell=SellPriceConfig(type="spot_minus_fee", fee_eur_per_kwh=0.02),
    )
    buy, sell = Tariff(config).prices(0.0, 900.0, 4)
    assert buy == pytest.approx(np.full(4, 0.192))
    assert sell == pytest.approx(np.full(4, 0.08))


@pytest.mark.parametrize(("policy", "expected"), [("spot", 0.1), ("fixed", 0.07), ("zero", 0.0)])
def test_sell_policies(policy: str, expected: float) -> None:
    config = TariffConfig(
        energy=FixedEnergyPrice(type="fixed", price_eur_per_kwh=0.10),
        sell=SellPriceConfig(type=policy, price_eur_per_kwh=0.07),
    )
    assert Tariff(config).prices(0.0, 900.0, 2)[1] == pytest.approx(np.full(2, expected))


def test_time_of_use_uses_local_weekday_hours_and_seasons() -> None:
    table = TimeOfUseEnergyPrice(
        type="time_of_use",
        seasons=[
            TouSeason(
                months=[6, 7, 8],
                default_eur_per_kwh=0.2,
                periods=[
                    TouPeriod(
                        days=["mon", "tue", "wed", "thu", "fri"], start_hour=17, end_hour=21, price_eur_per_kwh=0.4
                    )
                ],
            ),
            TouSeason(
                months=[1, 2, 3, 4, 5, 9, 10, 11, 12],
                default_eur_per_kwh=0.25,
                periods=[TouPeriod(start_hour=22, end_hour=6, price_eur_per_kwh=0.1)],
            ),
        ],
    )
    tariff = Tariff(TariffConfig(energy=table), timezone="Europe/Brussels")
    monday_18 = datetime(2024, 7, 1, 18, 0, tzinfo=BRUSSELS).timestamp()
    saturday_18 = datetime(2024, 7, 6, 18, 0, tzinfo=BRUSSELS).timestamp()
    winter_night = datetime(2024, 1, 10, 23, 0, tzinfo=BRUSSELS).timestamp()
    assert tariff.energy_price(monday_18, 900.0, 1)[0] == 0.4
    assert tariff.energy_price(saturday_18, 900.0, 1)[0] == 0.2
    assert tariff.energy_price(winter_night, 900.0, 1)[0] == 0.1


def test_csv_prices_are_resampled_and_unpublished_hours_repeat_the_day_before(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    rows = ["utc_start,price_eur_per_kwh"] + [f"2024-01-01T{h:02d}:00:00Z,{h / 100:.2f}" for h in range(24)]
    path.write_text("\n".join(rows) + "\n")
    tariff = Tariff(TariffConfig(energy=DynamicEnergyPrice(type="dynamic", csv_path=path)))
    start = datetime(2024, 1, 1, 10, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    energy = tariff.energy_price(start, 900.0, 4 * 24)
    assert energy[:4] == pytest.approx([0.10] * 4)  # hourly price held over its four quarters
    assert energy[4 * 14] == pytest.approx(0.00)  # 00:00 next day: unknown, repeats 00:00 of the day before
    assert energy[4 * 23] == pytest.approx(0.09)


def test_bad_csv_line_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("utc_start,price_eur_per_kwh\n2024-01-01T00:00:00Z,0.1\n2024-01-01T01:00:00Z,abc\n")
    with pytest.raises(InputError, match=r"bad.csv:3: price_eur_per_kwh"):
        load_price_csv(path)


def test_pushed_prices_override_the_tariff_in_their_window() -> None:
    tariff = Tariff(TariffConfig(energy=FixedEnergyPrice(type="fixed", price_eur_per_kwh=0.3)))
    version = tariff.version
    tariff.set_command_prices(1800.0, 900.0, [0.01, 0.02], [0.0, 0.01])
    buy, sell = tariff.prices(0.0, 900.0, 5)
    assert tariff.version == version + 1
    assert buy == pytest.approx([0.3, 0.3, 0.01, 0.02, 0.3])
    assert sell[2:4] == pytest.approx([0.0, 0.01])
    with pytest.raises(InputError, match="buy_eur_per_kwh"):
        tariff.set_command_prices(0.0, 900.0, [0.1, float("nan")], [0.1, 0.1])


def test_fill_unknown_without_any_price_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="no known price"):
        fill_unknown(np.full(4, np.nan), 900.0)
    assert fill_unknown(np.array([0.1, np.nan]), 3600.0)[1] == pytest.approx(0.1)


def test_series_until_keeps_only_what_was_published() -> None:
    series = PriceSeries(0.0, 3600.0, np.arange(10.0))
    assert len(series.until(3 * 3600.0).values) == 3
