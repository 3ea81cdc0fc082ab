"""The daemon's planner never plans from a made-up SOC: an unknown or stale battery SOC skips the solve."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import numpy as np
from opt_helpers import battery, flat_inputs, site_config

from drivers.points import DeviceKind
from zoe_ems.control.inputs import ControlInputs, SchedulePlan
from zoe_ems.optimizer.planner import PlannerService
from zoe_ems.optimizer.problem import ModelSpec, MpcInputs, PlanSkipped
from zoe_ems.runtime.planning import Planning
from zoe_ems.site.image import ProcessImage

T0 = 1_780_000_200.0 - 1_780_000_200.0 % 900.0
STALE_AFTER_S = 10.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def planning_with(tmp_path: Path) -> tuple[Planning, ProcessImage, ControlInputs, Clock, list[tuple[str, str]]]:
    mono = Clock(1000.0)
    utc = Clock(T0 + 100.0)
    image = ProcessImage(clock_mono=mono, clock_utc=utc)
    image.add_device("bms1", DeviceKind.BMS, None, STALE_AFTER_S)
    image.add_device("pcs1", DeviceKind.PCS, None, STALE_AFTER_S)
    inputs = ControlInputs()
    events: list[tuple[str, str]] = []
    planning = Planning(
        site_config(tmp_path / "z.db"), image, inputs, lambda kind, sev, data: events.append((kind, sev)), utc
    )
    planning.tariff.set_command_prices(T0, 900.0, [0.10, 0.40] * 100, [0.0] * 200)
    return planning, image, inputs, mono, events


async def test_a_stale_soc_skips_the_solve_and_keeps_the_last_plan_with_the_reason_in_status(tmp_path: Path) -> None:
    planning, image, inputs, mono, events = planning_with(tmp_path)
    image.update("bms1", {"soc": 0.6})
    first = await planning.planner.replan_now("start")
    assert first is not None and inputs.plan == first.plan
    assert first.inputs.soc[0] == 0.6
    assert planning.status()["skipped"] is None

    mono.now += STALE_AFTER_S + 1.0  # the BMS stopped answering: its SOC ages out
    assert planning.fleet_soc() is None
    assert await planning.planner.replan_now("step") is None
    status = planning.status()
    assert status["has_plan"] and inputs.plan == first.plan and planning.planner.latest is first
    assert "battery SOC unknown or stale: pcs1" in status["skipped"]
    assert "following the last plan" in status["skipped"]
    assert status["failures"] == 0 and not status["alarm"] and events.count(("alarm.raised", "warning")) == 0

    image.update("bms1", {"soc": 0.3})
    again = await planning.planner.replan_now("step")
    planning.planner.close()
    assert again is not None and inputs.plan == again.plan and again.inputs.soc[0] == 0.3
    assert planning.status()["skipped"] is None


async def test_a_soc_never_read_gives_no_plan_rather_than_one_planned_from_soc_min(tmp_path: Path) -> None:
    planning, image, inputs, _mono, _events = planning_with(tmp_path)
    image.update("bms1", {"capacity_wh": 100e3})  # the BMS answers, but without a SOC
    assert await planning.planner.replan_now("start") is None
    planning.planner.close()
    status = planning.status()
    assert not status["has_plan"] and inputs.plan is None
    assert "battery SOC unknown or stale: pcs1" in status["skipped"]
    assert "no valid plan left" in status["skipped"]


async def test_the_pcs_soc_is_used_when_the_bms_has_none(tmp_path: Path) -> None:
    planning, image, _inputs, _mono, _events = planning_with(tmp_path)
    image.update("pcs1", {"soc": 0.45})
    record = await planning.planner.replan_now("start")
    planning.planner.close()
    assert record is not None and record.inputs.soc[0] == 0.45
    assert planning.fleet_soc() == 0.45


class SocArrivesLater:
    """InputsSource whose SOC is unknown for the first ``unknown`` builds (a BMS not polled yet at start-up)."""

    def __init__(self, unknown: int) -> None:
        self.unknown = unknown
        self.builds = 0

    def spec(self) -> ModelSpec:
        return ModelSpec(n_steps=8, step_s=900.0, batteries=(battery(),))

    def build(self, spec: ModelSpec, start_utc: float) -> MpcInputs:
        self.builds += 1
        if self.builds <= self.unknown:
            raise PlanSkipped("battery SOC unknown or stale: pcs1")
        inputs = flat_inputs(spec, soc=0.5)
        inputs.start_utc = start_utc
        inputs.buy_eur_per_kwh = np.linspace(0.1, 0.3, spec.n_steps)
        return inputs


async def test_after_a_skip_the_planner_retries_soon_instead_of_waiting_for_the_next_step() -> None:
    plans: list[SchedulePlan] = []
    source = SocArrivesLater(unknown=2)
    # Mid-interval: the next step boundary is ~7 minutes away, far beyond the test's deadline.
    planner = PlannerService(source=source, on_plan=plans.append, clock=lambda: T0 + 450.0, skip_retry_s=0.02)
    task = asyncio.create_task(planner.run())
    deadline = time.monotonic() + 10.0
    while not plans:
        assert time.monotonic() < deadline, f"no plan after {source.builds} builds"
        await asyncio.sleep(0.005)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert source.builds == 3 and planner.skips == 0 and planner.skip_reason == ""
