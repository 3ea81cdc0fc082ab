"""Forecast quality: forecasts recorded at each plan, scored against measured history, stored in SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from planning_helpers import site_config, write_history

from drivers.points import DeviceKind
from zoe_ems.config import SiteConfig
from zoe_ems.control.inputs import ControlInputs
from zoe_ems.optimizer.summary import render_plan_text
from zoe_ems.runtime.planning import Planning, forecast_quality_history, store_plans
from zoe_ems.site.image import ProcessImage
from zoe_ems.storage.database import Database

T0 = 1_780_000_200.0 - 1_780_000_200.0 % 86400.0  # midnight UTC
T1 = T0 + 2 * 86400.0
HOUR = 3600.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_planning(config: SiteConfig, clock: Clock) -> tuple[Planning, list[tuple[str, str, dict[str, Any]]]]:
    image = ProcessImage()
    image.add_device("bms1", DeviceKind.BMS, None, 10.0)
    image.add_device("pcs1", DeviceKind.PCS, None, 10.0)
    image.update("bms1", {"soc": 0.5})
    events: list[tuple[str, str, dict[str, Any]]] = []
    planning = Planning(config, image, ControlInputs(), lambda *event: events.append(event), clock=clock)
    return planning, events


async def two_days_then_a_load_step(db: Path) -> None:
    """30 kW of load for two days (the forecast learns 30 kW), then 40 kW for the two hours after T1."""
    await write_history(db, T0, T1, lambda t: {"grid": 20e3, "pcs1": 0.0, "pv1": -10e3}, every_s=300.0)
    await write_history(db, T1, T1 + 2 * HOUR, lambda t: {"grid": 30e3, "pcs1": 0.0, "pv1": -10e3}, every_s=300.0)


async def test_forecasts_are_scored_against_the_history_measured_after_the_plan(tmp_path: Path) -> None:
    db = tmp_path / "zoe.db"
    await two_days_then_a_load_step(db)
    clock = Clock(T1)
    planning, events = make_planning(site_config(db, extra_devices=("pv1",)), clock)
    first = await planning.planner.replan_now("start")
    assert first is not None
    assert first.inputs.load_w[:8] == pytest.approx(np.full(8, 30e3), rel=1e-3)
    assert planning.forecast_quality == {}  # nothing elapsed yet
    issued_pv = first.inputs.pv_w[:8].copy()

    clock.now = T1 + 2 * HOUR + 60.0
    second = await planning.planner.replan_now("step")
    planning.planner.close()
    assert second is not None
    load = planning.forecast_quality["load_w"]
    assert load["mae_w"] == pytest.approx(10e3, abs=1.0)  # 30 kW forecast, 40 kW measured, 8 steps
    assert load["samples"] == 8 and load["forecasts"] == 1
    assert load["mean_actual_w"] == pytest.approx(40e3, abs=1.0)
    pv = planning.forecast_quality["pv_w"]
    assert pv["mae_w"] == pytest.approx(float(np.mean(np.abs(issued_pv + 10e3))), abs=1.0)

    summary = planning.summary()
    assert summary is not None and summary["forecast_quality"]["load_w"]["mae_w"] == load["mae_w"]
    assert "forecast quality: load MAE 10.0 kW over 8 steps" in render_plan_text(summary)
    assert planning.status()["forecast_quality"]["load_w"]["samples"] == 8
    assert "forecast_quality" in events[-1][2]  # the northbound plan event carries it too


async def test_scores_are_stored_with_the_plans_and_survive_a_restart(tmp_path: Path) -> None:
    db_path = tmp_path / "zoe.db"
    await two_days_then_a_load_step(db_path)
    config = site_config(db_path, extra_devices=("pv1",))
    clock = Clock(T1)
    planning, _ = make_planning(config, clock)
    await planning.planner.replan_now("start")
    clock.now = T1 + 2 * HOUR + 60.0
    await planning.planner.replan_now("step")
    planning.planner.close()

    db = Database(db_path)
    await db.run(lambda conn: store_plans(conn, records=planning.take_records()))
    rows = await db.run(lambda conn: forecast_quality_history(conn))
    await db.close()
    load_rows = [row for row in rows if row["series"] == "load_w"]
    assert len(load_rows) == 1 and load_rows[0]["ts"] == clock.now
    assert load_rows[0]["mae_w"] == pytest.approx(10e3, abs=1.0) and load_rows[0]["samples"] == 8
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM plans").fetchone()[0] == 2

    # A restarted daemon reloads the issued forecasts from the plans table and scores both once a step of the
    # second plan has passed (the last measured 40 kW holds over it).
    restarted, _ = make_planning(config, Clock(T1 + 2 * HOUR + 900.0 + 60.0))
    await restarted.planner.replan_now("start")
    restarted.planner.close()
    assert restarted.forecast_quality["load_w"]["mae_w"] == pytest.approx(10e3, abs=1.0)
    assert restarted.forecast_quality["load_w"]["forecasts"] == 2
    assert restarted.forecast_quality["load_w"]["samples"] == 9 + 1


def test_reading_scores_before_any_plan_returns_nothing(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "empty.db") as conn:
        assert forecast_quality_history(conn) == []
