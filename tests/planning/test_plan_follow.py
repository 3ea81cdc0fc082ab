"""A plan made inside an interval starts its SOC trajectory at the measured SOC: no correction right after it."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from planning_helpers import site_config

from drivers.points import DeviceKind
from zoe_ems.config import SiteConfig
from zoe_ems.control import ControlEngine
from zoe_ems.control.inputs import ControlInputs, InputsView, SchedulePlan
from zoe_ems.optimizer.model import MpcModel
from zoe_ems.optimizer.planner import planned_soc_at, solution_to_plan
from zoe_ems.runtime.planning import Planning
from zoe_ems.site.image import ProcessImage
from zoe_ems.site.points import DeviceState, PointValue, Quality, Snapshot

T1 = 1_780_000_200.0 - 1_780_000_200.0 % 900.0


def site_snapshot(config: SiteConfig, now_utc: float, soc: float, battery_w: float, load_w: float) -> Snapshot:
    points = {
        "grid": {"p_w": load_w + battery_w},
        "pcs1": {"p_w": battery_w, "alarm": 0.0, "state": 2.0},
        "bms1": {"soc": soc, "alarm": 0.0, "capacity_wh": 100e3},
    }
    devices = {}
    for device in config.devices:
        devices[device.id] = DeviceState(
            device_id=device.id,
            kind=device.kind,
            role=device.role.value if device.role is not None else None,
            online=True,
            points={
                name: PointValue(value=value, unit="", ts_mono=now_utc, ts_utc=now_utc, quality=Quality.FRESH)
                for name, value in points[device.id].items()
            },
        )
    return Snapshot(ts_mono=now_utc, ts_utc=now_utc, devices=devices)


def soc_correction_kw(config: SiteConfig, plan: SchedulePlan, now_utc: float, soc: float) -> float:
    engine = ControlEngine(config)
    decision = engine.step(
        site_snapshot(config, now_utc, soc, 0.0, 20e3), InputsView(now_utc=now_utc, plan=plan), now_utc
    )
    found = re.search(r"SOC correction ([+-][0-9.]+) kW", decision.record.asset("battery").render())
    assert found is not None, decision.record.asset("battery").render()
    return float(found.group(1))


async def test_right_after_a_mid_interval_plan_the_follower_asks_for_no_soc_correction(tmp_path: Path) -> None:
    config = site_config(tmp_path / "z.db", batteries=((50.0, 100.0),), extra_devices=(), import_kw=500.0)
    image = ProcessImage()
    image.add_device("bms1", DeviceKind.BMS, None, 10.0)
    image.add_device("pcs1", DeviceKind.PCS, None, 10.0)
    image.update("bms1", {"soc": 0.2})
    inputs = ControlInputs()
    now = T1 + 600.0  # two thirds into the interval
    planning = Planning(config, image, inputs, lambda *event: None, clock=lambda: now)
    # The next interval is dearer than this one: the plan charges now.
    planning.tariff.set_command_prices(T1, 900.0, [0.05] + [0.40] * 200, [0.0] * 201)
    record = await planning.planner.replan_now("start")
    planning.planner.close()
    assert record is not None and inputs.plan is not None
    plan = inputs.plan
    assert plan.battery_p_w[0] > 10e3
    assert plan.soc_from_utc == now and plan.soc_initial == pytest.approx(0.2)
    # The SOC at the interval end is what the planned power does in the 300 s left.
    assert plan.soc[0] - 0.2 == pytest.approx(plan.battery_p_w[0] * 300.0 / 3600.0 * 0.95 / 100e3, rel=0.02)
    assert planned_soc_at(plan, now) == pytest.approx(0.2)

    assert abs(soc_correction_kw(config, plan, now + 1.0, 0.2)) < 1.0
    # Planned as if the measured SOC held at the interval start (a whole first step), the trajectory is shifted
    # by the 600 s already gone and the follower pushes the battery by several kW.
    whole_step = replace(record.inputs, now_utc=None, elapsed_import_w=None)
    shifted = solution_to_plan(MpcModel(planning.builder.spec()).solve(whole_step), record.capacity_wh)
    assert abs(soc_correction_kw(config, replace(shifted, soc_from_utc=None), now + 1.0, 0.2)) > 5.0


def test_planned_soc_is_interpolated_from_the_measurement_to_the_interval_end() -> None:
    plan = SchedulePlan(
        start_utc=T1,
        step_s=900.0,
        battery_p_w=(30e3, 0.0),
        source="optimizer",
        soc=(0.5, 0.5),
        soc_from_utc=T1 + 600.0,
        soc_initial=0.4,
    )
    assert planned_soc_at(plan, T1 + 600.0) == pytest.approx(0.4)
    assert planned_soc_at(plan, T1 + 750.0) == pytest.approx(0.45)
    assert planned_soc_at(plan, T1 + 900.0 + 450.0) == pytest.approx(0.5)
    assert planned_soc_at(plan, T1 + 1800.0) is None
    assert np.isclose(planned_soc_at(replace(plan, soc=()), T1 + 700.0) or -1.0, -1.0)
