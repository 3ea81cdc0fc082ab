"""SqliteHistorySource on a real SQLite file written by the daemon's HistoryRecorder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from planning_helpers import site_config, write_history

from zoe_ems.runtime.planning import SqliteHistorySource

T0 = 1_780_000_200.0 - 1_780_000_200.0 % 900.0  # a 15-min boundary
HOUR = 3600.0
SITE_W = {"grid": 50e3, "pcs1": 20e3, "pv1": -30e3, "pv2": -10e3, "ev1": 7e3, "hp1": 3e3}


async def test_load_is_grid_minus_battery_pv_ev_and_heat_pump(tmp_path: Path) -> None:
    db = tmp_path / "zoe.db"
    await write_history(db, T0, T0 + HOUR, lambda t: SITE_W)
    source = SqliteHistorySource(db, site_config(db))
    load = source.series("load_w", T0, T0 + HOUR, 900.0)
    # 50 - 20 (charging) + 40 (PV production) - 7 (EV) - 3 (heat pump) = 60 kW
    assert load == pytest.approx(np.full(4, 60e3))


async def test_pv_series_is_the_sum_of_inverters_in_the_passive_sign(tmp_path: Path) -> None:
    db = tmp_path / "zoe.db"
    await write_history(db, T0, T0 + HOUR, lambda t: SITE_W)
    pv = SqliteHistorySource(db, site_config(db)).series("pv_w", T0, T0 + HOUR, 900.0)
    assert pv == pytest.approx(np.full(4, -40e3))


async def test_step_averages_are_time_weighted(tmp_path: Path) -> None:
    db = tmp_path / "zoe.db"
    # Grid at 40 kW for the first 5 minutes of each step, 100 kW for the other 10 (no other device running).
    quiet = {"pcs1": 0.0, "pv1": 0.0, "pv2": 0.0, "ev1": 0.0, "hp1": 0.0}
    await write_history(db, T0, T0 + HOUR, lambda t: {**quiet, "grid": 40e3 if (t - T0) % 900 < 300 else 100e3})
    load = SqliteHistorySource(db, site_config(db)).series("load_w", T0, T0 + HOUR, 900.0)
    assert load == pytest.approx(np.full(4, (5 * 40e3 + 10 * 100e3) / 15))


async def test_steps_without_grid_history_are_nan_and_missing_devices_count_as_zero(tmp_path: Path) -> None:
    db = tmp_path / "zoe.db"
    # Only the grid meter and one inverter report, from the second half hour on.
    await write_history(db, T0 + HOUR / 2, T0 + HOUR, lambda t: {"grid": 10e3, "pv1": -5e3})
    source = SqliteHistorySource(db, site_config(db))
    load = source.series("load_w", T0, T0 + HOUR, 900.0)
    assert np.isnan(load[:2]).all()
    assert load[2:] == pytest.approx([15e3, 15e3])  # battery, pv2, EV and heat pump without history: 0 W
    pv = source.series("pv_w", T0, T0 + HOUR, 900.0)
    assert np.isnan(pv).all()  # pv2 never reported: the PV total is unknown


async def test_unknown_power_values_leave_the_step_unknown(tmp_path: Path) -> None:
    db = tmp_path / "zoe.db"
    await write_history(db, T0, T0 + HOUR, lambda t: {**SITE_W, "grid": None})
    load = SqliteHistorySource(db, site_config(db)).series("load_w", T0, T0 + HOUR, 900.0)
    assert np.isnan(load).all()


async def test_peak_since_is_the_highest_step_average_import(tmp_path: Path) -> None:
    db = tmp_path / "zoe.db"
    # 50 kW with a one-minute 200 kW spike in the second step: that step averages (14 x 50 + 200) / 15 = 60 kW.
    spike = T0 + 900.0 + 300.0
    await write_history(db, T0, T0 + HOUR, lambda t: {"grid": 200e3 if t == spike else 50e3})
    source = SqliteHistorySource(db, site_config(db))
    assert source.peak_since_w(T0, T0 + HOUR) == pytest.approx(60e3)
    assert source.peak_since_w(T0 + 1800.0, T0 + HOUR) == pytest.approx(50e3)
    assert source.mean_import_w(T0 + 900.0, T0 + 1800.0) == pytest.approx(60e3)


async def test_export_never_counts_as_a_peak(tmp_path: Path) -> None:
    db = tmp_path / "zoe.db"
    await write_history(db, T0, T0 + HOUR, lambda t: {"grid": -80e3})
    source = SqliteHistorySource(db, site_config(db))
    assert source.peak_since_w(T0, T0 + HOUR) == 0.0
    assert source.mean_import_w(T0, T0 + 900.0) == 0.0


def test_a_missing_database_reads_as_unknown(tmp_path: Path) -> None:
    db = tmp_path / "absent.db"
    source = SqliteHistorySource(db, site_config(db))
    assert np.isnan(source.series("load_w", T0, T0 + HOUR, 900.0)).all()
    assert source.peak_since_w(T0, T0 + HOUR) == 0.0
    assert source.mean_import_w(T0, T0 + 900.0) is None
    assert not db.exists()  # reading never creates the file
