"""The command types not covered elsewhere act on the simulated site end to end (mosquitto → daemon → control
engine → Modbus → simulators): a `dr_event` caps grid import at baseline − reduction and ends with a report, a
`schedule` drives the PCS until its time-to-live and then hands back to the local strategy, an `ffr` order arms
the fast path at its trigger level (and an order with a trigger that is no FFR level is refused and arms nothing).
"""

from __future__ import annotations

import time
from typing import Any

from e2e_helpers import PCS, StartE2e, command

from zoe_ems.northbound.messages import DrReportMessage
from zoe_ems.northbound.timefmt import iso_utc


def window(length_s: float, start_in_s: float = -1.0) -> dict[str, str]:
    now = time.time()
    return {"start": iso_utc(now + start_in_s), "end": iso_utc(now + start_in_s + length_s)}


async def test_dr_event_caps_grid_import_at_baseline_minus_reduction_and_ends_with_a_report(
    start_e2e: StartE2e,
) -> None:
    e2e = await start_e2e(
        load_kw=40.0, control={"self_consumption": {"enabled": False}}, northbound={"response_interval_s": 1}
    )
    await e2e.pcs_settles(0.0, tol_w=1.0)
    await e2e.steady(lambda: abs(e2e.grid_w() - 40_000.0) < 500.0, "the site importing its 40 kW load")

    event = command(
        "dr_event", {"event_id": "ev-e2e", "target_reduction_kw": 15.0, **window(5.0, start_in_s=0.5)}, valid_for_s=60
    )
    await e2e.send(event)
    await e2e.ack(event["id"], "accepted")
    await e2e.steady(lambda: e2e.daemon.inputs.dr_event is not None, "the DR event to start")
    dr_input = e2e.daemon.inputs.dr_event
    assert dr_input is not None and dr_input.command_id == event["id"]
    baseline_w = dr_input.baseline_w
    assert abs(baseline_w - 40_000.0) < 1500.0, "prior_15min (or its fallback) sees the 40 kW import"
    cap_w = baseline_w - 15_000.0
    await e2e.steady(lambda: e2e.grid_w() <= cap_w + 300.0, "grid import under baseline − 15 kW")
    assert -17_000.0 < (e2e.last_pcs_setpoint_w() or 0.0) < -13_000.0, "the battery delivers the reduction"

    await e2e.ack(event["id"], "completed", timeout_s=10.0)

    def report() -> dict[str, Any] | None:
        reports = [r for r in e2e.recorder.on("response") if r.get("type") == "dr_event_report"]
        return reports[0] if reports else None

    await e2e.steady(lambda: report() is not None, "the end-of-event report")
    message = report()
    assert message is not None
    DrReportMessage.model_validate(message)
    data = message["data"]
    assert data["command_id"] == event["id"] and data["event_id"] == "ev-e2e"
    assert data["end_reason"] == "completed" and data["samples"] >= 2
    assert data["achievement_rate"] > 0.5, data
    live = [r["data"] for r in e2e.recorder.on("response") if r.get("type") == "response"]
    assert any(d["kind"] == "dr_event" and d["command_id"] == event["id"] for d in live)
    # After the event the site goes back to importing its load (self-consumption is off).
    await e2e.pcs_settles(0.0, tol_w=300.0)
    assert e2e.daemon.inputs.dr_event is None


async def test_schedule_drives_the_pcs_until_valid_until_then_the_local_strategy_returns(start_e2e: StartE2e) -> None:
    e2e = await start_e2e(load_kw=8.0)
    await e2e.pcs_settles(-8_000.0, tol_w=300.0)  # self-consumption covers the load

    plan = command(
        "schedule",
        {"start": iso_utc(time.time() - 1.0), "step_s": 60, "battery_p_kw": [15.0, 15.0]},
        valid_for_s=4.0,
    )
    since = time.monotonic()
    await e2e.send(plan)
    accepted = await e2e.ack(plan["id"], "accepted")
    assert accepted["reason"].startswith("schedule of 2 x 60 s"), accepted
    reached = await e2e.pcs_reaches(15_000.0, tol_w=300.0, since=since)
    await e2e.steady(lambda: abs(e2e.model_point(PCS, "p_w") - 15_000.0) < 500.0, "the PCS to charge 15 kW")
    assert e2e.daemon.inputs.plan is not None and e2e.daemon.inputs.plan.source == plan["id"]

    await e2e.ack(plan["id"], "expired", timeout_s=8.0)
    back = await e2e.pcs_reaches(-8_000.0, tol_w=300.0, since=reached)
    await e2e.pcs_settles(-8_000.0, tol_w=300.0)
    assert e2e.daemon.inputs.plan is None
    assert all(p < 5_000.0 for _, p in e2e.pcs_writes(back)), "no charge write once the plan lapsed"


async def test_ffr_order_arms_the_trigger_it_names_and_an_invalid_trigger_is_refused(start_e2e: StartE2e) -> None:
    e2e = await start_e2e(load_kw=0.0)
    daemon = e2e.daemon
    await e2e.pcs_settles(0.0, tol_w=100.0)

    bad = command(
        "frequency_service", {"service": "ffr", "enabled": True, "power_kw": 20.0, "trigger_hz": 49.8, **window(600)}
    )
    await e2e.send(bad)
    refused = await e2e.ack(bad["id"], "rejected")
    assert refused["code"] == "range", refused
    assert refused["reason"].startswith("body.trigger_hz = 49.8 Hz is not an ffr trigger level"), refused
    assert "49.7, 49.6, 49.5" in refused["reason"], refused
    await e2e.quiet_period(cycles=3, polls=2)
    assert daemon.frequency_registry.entries == {} and daemon.status()["frequency"] is None

    order = command(
        "frequency_service", {"service": "ffr", "enabled": True, "power_kw": 20.0, "trigger_hz": 49.6, **window(600)}
    )
    await e2e.send(order)
    await e2e.ack(order["id"], "accepted")

    def ffr_armed() -> bool:
        frequency = daemon.status()["frequency"]
        return (
            frequency is not None
            and frequency["samples"] > 5
            and any(s["name"] == "ffr" for s in frequency["services"])
        )

    await e2e.steady(ffr_armed, "FFR armed and the fast path sampling the grid meter")
    e2e.site.frequency.set(49.65)  # above the ordered 49.6 Hz trigger (below the default 49.7 Hz)
    since = time.monotonic()
    await e2e.quiet_period(cycles=5, polls=3)
    assert all(abs(p) < 1000.0 for _, p in e2e.pcs_writes(since)), "49.65 Hz does not trigger a 49.6 Hz FFR"

    e2e.site.frequency.set(49.55)
    await e2e.pcs_reaches(-20_000.0, tol_w=500.0, since=since)
    await e2e.steady(lambda: abs(e2e.model_point(PCS, "p_w") + 20_000.0) < 1000.0, "the PCS to deliver 20 kW")


async def test_prices_reach_the_optimizer_whose_new_plan_charges_the_battery_before_dear_hours(
    start_e2e: StartE2e,
) -> None:
    optimizer = {
        "enabled": True,
        "horizon_h": 2,
        "step_min": 15,
        "tariff": {"energy": {"type": "dynamic", "fallback_eur_per_kwh": 0.25}, "sell": {"type": "zero"}},
        "forecast": {"load_profile_kw": [0.0] * 24},
    }
    e2e = await start_e2e(load_kw=0.0, optimizer=optimizer)
    planning = e2e.daemon.planning
    assert planning is not None
    await e2e.steady(lambda: planning.status()["has_plan"], "a first plan at the flat fallback price", timeout_s=20)
    await e2e.pcs_settles(0.0, tol_w=1000.0)  # flat prices: nothing to gain from cycling the battery

    now = time.time()
    interval_start = now - now % 900.0
    prices = command(
        "prices",
        {
            "start": iso_utc(interval_start),
            "step_s": 900,
            "buy_eur_per_kwh": [0.02, 0.02] + [0.60] * 7,  # two cheap intervals: robust to a boundary passing
            "sell_eur_per_kwh": [0.0] * 9,
        },
    )
    since = time.monotonic()
    await e2e.send(prices)
    accepted = await e2e.ack(prices["id"], "accepted")
    assert accepted["reason"] == "9 price intervals", accepted
    assert e2e.daemon.inputs.prices is not None and e2e.daemon.inputs.prices.source == prices["id"]
    # Cheap now, dear for the rest of the horizon: the re-plan charges now, and the PCS follows the plan.
    await e2e.steady(
        lambda: any(p > 20_000.0 for _, p in e2e.pcs_writes(since)), "the PCS to charge on the new plan", timeout_s=20
    )
    plan = e2e.daemon.inputs.plan
    assert plan is not None and plan.battery_p_w[0] > 20_000.0, plan
