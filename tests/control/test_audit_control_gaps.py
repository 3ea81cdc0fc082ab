"""Audit of issue 3 items the existing control tests leave implicit: an expired plan falls back to
self-consumption with an alarm; an operating envelope binds only inside its time window; SG-Ready blocks
are counted per local day (3 a day, each at most 2 h, and a new day allows blocks again); a three-phase
charger stays paused below 3 × 6 A of surplus where a single-phase one starts; the cycle period is
validated to 100–2000 ms naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from control_helpers import Plant, site_config
from pydantic import ValidationError

from zoe_ems.control import ControlEngine, Decision
from zoe_ems.control.inputs import ControlInputs, EnvelopeInput, SchedulePlan


def step(engine: ControlEngine, plant: Plant, **inputs: Any) -> Decision:
    return engine.step(plant.snapshot(), plant.inputs(**inputs), plant.t_mono)


def battery_w(decision: Decision) -> float:
    return sum(points["p_set_w"] for points in decision.setpoints.values() if "p_set_w" in points)


def test_an_expired_plan_falls_back_to_self_consumption_with_an_alarm() -> None:
    plant = Plant(site_config(control={"schedule": {"soc_tracking": False}}), load_w=10_000)
    engine = ControlEngine(plant.config)
    plan = SchedulePlan(start_utc=plant.t_utc - 100, step_s=900, battery_p_w=(20_000.0,), source="optimizer")
    following = step(engine, plant, plan=plan)
    assert battery_w(following) == pytest.approx(20_000), "the plan is followed while it lasts"
    assert "PLAN_MISSING" not in [a.code for a in following.alarms]

    plant.advance(900)  # the plan's only interval has ended
    expired = step(engine, plant, plan=plan)
    assert battery_w(expired) == pytest.approx(-10_000), "self-consumption: the battery covers the load"
    assert "PLAN_MISSING" in [a.code for a in expired.alarms]
    assert "self_consumption" in expired.record.asset("battery").render()


def test_an_operating_envelope_binds_only_inside_its_time_window() -> None:
    plant = Plant(site_config(import_kw=100, control={"self_consumption": {"enabled": False}}), load_w=90_000)
    engine = ControlEngine(plant.config)
    inputs = ControlInputs()
    start, end = plant.t_utc + 60, plant.t_utc + 180
    inputs.envelopes.append(
        EnvelopeInput(import_limit_w=60_000.0, export_limit_w=None, start_utc=start, end_utc=end, command_id="doe-1")
    )

    def cycle() -> Decision:
        decision = engine.step(plant.snapshot(), inputs.view(plant.t_utc), plant.t_mono)
        plant.apply(decision.setpoints)
        return decision

    assert battery_w(cycle()) == pytest.approx(0.0), "before the window: 90 kW is inside the static 100 kW"
    plant.advance(61)
    inside = cycle()
    assert battery_w(inside) == pytest.approx(-30_000), "inside the window: the battery holds import at 60 kW"
    assert "doe-1" in inside.record.asset("battery").render()
    plant.advance(120)
    assert battery_w(cycle()) == pytest.approx(0.0), "after the window: the static limit again"
    assert inputs.envelopes == [], "an expired envelope is dropped"


def test_sg_ready_blocks_are_counted_per_local_day_and_a_new_day_allows_them_again() -> None:
    control = {"sg_ready": {"min_switch_interval_s": 60}, "self_consumption": {"enabled": False}}
    plant = Plant(site_config(hps=1, import_kw=100, control=control), load_w=150_000)  # a permanent peak
    engine = ControlEngine(plant.config)
    tz = ZoneInfo("Europe/Berlin")
    blocks_per_day: dict[str, int] = {}
    block_lengths: list[float] = []
    blocked_since: float | None = None
    for _ in range(int(40 * 3600 / 60)):  # 40 hours: two local midnights at most, at least one
        decision = step(engine, plant)
        plant.apply(decision.setpoints)
        points = decision.setpoints["hp1"]
        blocked = (points["relay1"], points["relay2"]) == (1.0, 0.0)
        if blocked and blocked_since is None:
            blocked_since = plant.t_mono
            day = datetime.fromtimestamp(plant.t_utc, tz).date().isoformat()
            blocks_per_day[day] = blocks_per_day.get(day, 0) + 1
        elif not blocked and blocked_since is not None:
            block_lengths.append(plant.t_mono - blocked_since)
            blocked_since = None
        plant.advance(60)
    assert len(blocks_per_day) >= 2, f"blocks on more than one local day: {blocks_per_day}"
    assert all(count <= 3 for count in blocks_per_day.values()), blocks_per_day
    assert 3 in blocks_per_day.values(), "a whole day of peak uses all three blocks"
    assert block_lengths and max(block_lengths) <= 7200.0, block_lengths


def ev_plant(phases: int, surplus_w: float) -> Plant:
    control = {
        "ev_charging": {"default_mode": "pv_surplus", "enable_delay_s": 0},
        "self_consumption": {"enabled": False},
    }
    plant = Plant(site_config(evs=1, import_kw=100, control=control), load_w=2_000)
    plant.evs["ev1"].connected = True
    plant.evs["ev1"].phases = phases
    plant.pv_available_w["pv1"] = 2_000 + surplus_w
    return plant


def test_three_phase_charger_stays_paused_below_three_times_six_amps_where_one_phase_starts() -> None:
    surplus_w = 3_000.0  # ≥ 6 A × 230 V (1.38 kW) but < 3 × 6 A × 230 V (4.14 kW)
    three = ev_plant(3, surplus_w)
    assert step(ControlEngine(three.config), three).setpoints["ev1"]["enable"] == 0.0
    one = ev_plant(1, surplus_w)
    decision = step(ControlEngine(one.config), one)
    assert decision.setpoints["ev1"]["enable"] == 1.0
    assert decision.setpoints["ev1"]["i_limit_a"] == pytest.approx(min(16.0, surplus_w / 230.0), abs=0.2)


@pytest.mark.parametrize("cycle_ms", [99, 2001, 0])
def test_cycle_period_outside_100_to_2000_ms_is_refused_naming_the_field(cycle_ms: int) -> None:
    with pytest.raises(ValidationError) as caught:
        site_config(control={"cycle_ms": cycle_ms})
    assert any(
        error["loc"][-2:] == ("control", "cycle_ms") or "cycle_ms" in error["loc"] for error in caught.value.errors()
    )


@pytest.mark.parametrize("cycle_ms", [100, 500, 2000])
def test_cycle_period_inside_the_range_is_accepted(cycle_ms: int) -> None:
    assert site_config(control={"cycle_ms": cycle_ms}).control.cycle_ms == cycle_ms
