"""PlannerService: solves off the event loop, publishes plans, survives failures without publishing nothing."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
from opt_helpers import battery, flat_inputs

from zoe_ems.control.inputs import SchedulePlan
from zoe_ems.optimizer.planner import ALARM_CODE, PlannerService
from zoe_ems.optimizer.problem import ModelSpec, MpcInputs
from zoe_ems.optimizer.summary import plan_to_dict, render_plan_text

SPEC = ModelSpec(n_steps=96, step_s=900.0, batteries=(battery(),))


class Source:
    """InputsSource with a switch to fail."""

    def __init__(self) -> None:
        self.fail = False
        self.builds = 0

    def spec(self) -> ModelSpec:
        return SPEC

    def build(self, spec: ModelSpec, start_utc: float) -> MpcInputs:
        self.builds += 1
        if self.fail:
            raise RuntimeError("forecast database unavailable")
        inputs = flat_inputs(spec, load_kw=30.0, soc=0.5)
        inputs.start_utc = start_utc
        inputs.buy_eur_per_kwh = 0.2 + 0.1 * np.sin(np.arange(spec.n_steps) / 8.0)
        return inputs


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def wait_for(predicate: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.005)


async def test_planner_publishes_a_plan_covering_the_horizon_from_the_current_step() -> None:
    plans: list[SchedulePlan] = []
    clock = Clock(1_700_000_123.0)
    planner = PlannerService(source=Source(), on_plan=plans.append, clock=clock)
    record = await planner.replan_now("test")
    planner.close()
    assert record is not None and len(plans) == 1
    plan = plans[0]
    assert plan.start_utc % 900.0 == 0.0
    assert plan.start_utc <= clock.now < plan.start_utc + plan.step_s
    assert len(plan.battery_p_w) == 96 and len(plan.soc) == 96 and len(plan.grid_p_w) == 96
    assert plan.source == "optimizer"


async def test_event_loop_keeps_running_while_the_solver_works() -> None:
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    planner = PlannerService(source=Source(), on_plan=lambda plan: None)
    beat = asyncio.create_task(heartbeat())
    await planner.replan_now("test")  # includes the model build (tens of ms)
    beat.cancel()
    planner.close()
    assert ticks > 1


async def test_failure_keeps_the_last_plan_trimmed_to_its_max_age_and_raises_then_clears_an_alarm() -> None:
    plans: list[SchedulePlan] = []
    alarms: list[tuple[str, str, bool]] = []
    source = Source()
    clock = Clock(1_700_000_000.0)
    planner = PlannerService(
        source=source,
        on_plan=plans.append,
        on_alarm=lambda code, text, active: alarms.append((code, text, active)),
        clock=clock,
        max_plan_age_s=4 * 3600.0,
    )
    assert await planner.replan_now("start") is not None
    source.fail = True
    clock.now += 900.0
    assert await planner.replan_now("step") is None
    assert alarms[-1][0] == ALARM_CODE and alarms[-1][2] is True
    assert "forecast database unavailable" in alarms[-1][1]
    kept = plans[-1]
    assert 0 < len(kept.battery_p_w) <= 17  # never empty, never older than 4 h
    assert kept.end_utc <= plans[0].start_utc + 4 * 3600.0 + 900.0
    source.fail = False
    assert await planner.replan_now("recovered") is not None
    planner.close()
    assert alarms[-1] == (ALARM_CODE, "optimizer recovered", False)
    assert all(len(plan.battery_p_w) > 0 for plan in plans)


async def test_run_replans_on_request_and_soc_deviation() -> None:
    plans: list[SchedulePlan] = []
    source = Source()
    planner = PlannerService(source=source, on_plan=plans.append, soc_deviation=0.05)
    task = asyncio.create_task(planner.run())
    await wait_for(lambda: len(plans) >= 1)
    planner.request_replan("prices")
    await wait_for(lambda: len(plans) >= 2)
    planner.notify_soc(0.99)  # far from the plan
    await wait_for(lambda: len(plans) >= 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_plan_summary_is_json_and_renders_as_text() -> None:
    planner = PlannerService(source=Source(), on_plan=lambda plan: None)
    record = await planner.replan_now("test")
    planner.close()
    assert record is not None
    summary = plan_to_dict(record.inputs, record.solution, record.capacity_wh)
    decoded = json.loads(json.dumps(summary))
    assert len(decoded["intervals"]) == 96
    first = decoded["intervals"][0]
    assert set(first) >= {"start", "buy_eur_per_kwh", "load_kw", "pv_kw", "battery_kw", "grid_kw", "soc"}
    assert decoded["expected_cost_eur"]["total"] == pytest.approx(record.solution.cost.total_eur, abs=1e-3)
    text = render_plan_text(summary, max_rows=10)
    assert "expected cost" in text and "86 more intervals" in text
