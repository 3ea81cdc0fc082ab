"""Each controller, through the whole engine, on hand-made site states."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from control_helpers import Plant, site_config

from zoe_ems.control import ControlEngine, Decision
from zoe_ems.control.inputs import DrEventInput, LoadLimitInput, PriceInput, SchedulePlan, SetpointInput


def step(engine: ControlEngine, plant: Plant, **inputs: Any) -> Decision:
    return engine.step(plant.snapshot(), plant.inputs(**inputs), plant.t_mono)


def run(engine: ControlEngine, plant: Plant, cycles: int, dt: float = 0.5, **inputs: Any) -> Decision:
    decision = step(engine, plant, **inputs)
    for _ in range(cycles - 1):
        plant.apply(decision.setpoints)
        plant.advance(dt)
        decision = step(engine, plant, **inputs)
    plant.apply(decision.setpoints)
    return decision


def battery_w(decision: Decision) -> float:
    return sum(points["p_set_w"] for points in decision.setpoints.values() if "p_set_w" in points)


# -- self-consumption ---------------------------------------------------------------------------------------------


def test_self_consumption_discharges_battery_to_hold_grid_at_zero() -> None:
    plant = Plant(site_config(), load_w=20_000)
    plant.pv_available_w["pv1"] = 5_000
    decision = step(ControlEngine(plant.config), plant)
    assert battery_w(decision) == pytest.approx(-15_000)
    assert "self_consumption preferred grid 0 kW" in decision.record.asset("battery").render()


def test_self_consumption_charges_from_surplus_to_a_configured_target() -> None:
    plant = Plant(site_config(control={"self_consumption": {"grid_target_kw": 1.0}}), load_w=5_000)
    plant.pv_available_w["pv1"] = 20_000
    decision = step(ControlEngine(plant.config), plant)
    assert battery_w(decision) == pytest.approx(16_000)


def test_self_consumption_does_not_empty_the_battery_into_the_car_by_default() -> None:
    plant = Plant(site_config(evs=1), load_w=2_000)
    plant.evs["ev1"] = plant.evs["ev1"].__class__(connected=True, p_w=11_040)
    decision = step(ControlEngine(plant.config), plant)
    assert battery_w(decision) == pytest.approx(-2_000)
    decision = step(ControlEngine(site_config(evs=1, control={"self_consumption": {"battery_to_ev": True}})), plant)
    assert battery_w(decision) == pytest.approx(-13_040)


# -- peak shaving -------------------------------------------------------------------------------------------------


def test_peak_shaving_holds_import_below_limit_during_load_step() -> None:
    plant = Plant(site_config(import_kw=100, control={"self_consumption": {"enabled": False}}), load_w=60_000)
    engine = ControlEngine(plant.config)
    assert battery_w(run(engine, plant, 2)) == pytest.approx(0.0)
    plant.load_w = 130_000
    decision = run(engine, plant, 1)
    assert battery_w(decision) == pytest.approx(-30_000)
    assert plant.grid_w == pytest.approx(100_000)
    assert "peak_shaving bound max import 100 kW" in decision.record.asset("battery").render()


def test_peak_shaving_limit_below_the_contract_is_honoured() -> None:
    control = {"self_consumption": {"enabled": False}, "peak_shaving": {"import_limit_kw": 80}}
    plant = Plant(site_config(import_kw=100, control=control), load_w=95_000)
    run(ControlEngine(plant.config), plant, 1)
    assert plant.grid_w == pytest.approx(80_000)


def test_peak_shaving_recharges_only_within_remaining_headroom() -> None:
    control = {"peak_shaving": {"recharge_soc": 0.8}}
    plant = Plant(site_config(import_kw=100, control=control), load_w=90_000)
    plant.batteries["pcs1"].soc = 0.5
    decision = step(ControlEngine(plant.config), plant)
    assert battery_w(decision) == pytest.approx(10_000)
    text = decision.record.asset("battery").render()
    assert "peak_shaving bound max import 100 kW" in text and "recharge" in text


def test_peak_shaving_recharge_soc_stops_self_consumption_discharge() -> None:
    control = {"peak_shaving": {"recharge_soc": 0.8}}
    plant = Plant(site_config(import_kw=100, control=control), load_w=30_000)
    plant.batteries["pcs1"].soc = 0.79
    engine = ControlEngine(plant.config)
    assert battery_w(step(engine, plant)) == pytest.approx(0.0)  # inside hysteresis: neither recharge nor discharge


# -- export limit -------------------------------------------------------------------------------------------------


def test_export_limit_charges_battery_before_curtailing_pv() -> None:
    control = {"self_consumption": {"enabled": False}}
    plant = Plant(site_config(export_kw=10, control=control), load_w=5_000)
    plant.pv_available_w["pv1"] = 40_000
    decision = run(ControlEngine(plant.config), plant, 1)
    assert battery_w(decision) == pytest.approx(25_000)
    assert decision.setpoints["pv1"]["p_limit_pct"] == pytest.approx(1.0)
    assert plant.grid_w == pytest.approx(-10_000)


def test_zero_export_curtails_pv_when_battery_is_full() -> None:
    plant = Plant(site_config(export_kw=0), load_w=5_000)
    plant.pv_available_w["pv1"] = 40_000
    plant.batteries["pcs1"].soc = 0.96
    decision = run(ControlEngine(plant.config), plant, 1)
    assert decision.setpoints["pv1"]["p_limit_w"] == pytest.approx(5_000)
    assert plant.grid_w >= -1e-6
    assert "export" in decision.record.asset("pv:pv1").render()


def test_export_margin_curtails_pv_to_hold_a_small_import_by_day() -> None:
    plant = Plant(site_config(export_kw=0, control={"export_limit": {"margin_kw": 1.5}}), load_w=5_000)
    plant.pv_available_w["pv1"] = 40_000
    plant.batteries["pcs1"].soc = 0.96
    decision = run(ControlEngine(plant.config), plant, 1)
    assert decision.setpoints["pv1"]["p_limit_w"] == pytest.approx(3_500)
    assert plant.grid_w == pytest.approx(1_500)


def test_export_margin_never_makes_the_battery_charge_from_the_grid_at_night() -> None:
    control = {"export_limit": {"margin_kw": 1.5}, "self_consumption": {"enabled": False}}
    plant = Plant(site_config(export_kw=0, control=control), load_w=500)
    plant.pv_available_w["pv1"] = 0.0
    decision = run(ControlEngine(plant.config), plant, 1)
    assert battery_w(decision) == pytest.approx(0.0)
    assert plant.grid_w == pytest.approx(500)


def test_curtailed_pv_is_released_step_by_step_when_load_rises() -> None:
    plant = Plant(site_config(export_kw=0), load_w=5_000)
    plant.pv_available_w["pv1"] = 40_000
    plant.batteries["pcs1"].soc = 0.96
    engine = ControlEngine(plant.config)
    run(engine, plant, 2)
    plant.load_w = 30_000
    limits = []
    for _ in range(20):
        decision = run(engine, plant, 1)
        limits.append(decision.setpoints["pv1"]["p_limit_w"])
        assert plant.grid_w >= -1e-6
    assert limits[-1] == pytest.approx(30_000, abs=1.0)


# -- backup reserve ------------------------------------------------------------------------------------------------


def test_backup_reserve_forbids_discharge_below_reserve_and_recharges_from_pv() -> None:
    plant = Plant(site_config(control={"backup_reserve": {"enabled": True, "reserve_soc": 0.3}}), load_w=10_000)
    plant.batteries["pcs1"].soc = 0.25
    plant.pv_available_w["pv1"] = 4_000
    engine = ControlEngine(plant.config)
    assert battery_w(step(engine, plant)) == pytest.approx(0.0)
    plant.load_w = 1_000
    decision = step(engine, plant)
    assert battery_w(decision) == pytest.approx(3_000)
    assert "backup_reserve preferred" in decision.record.asset("battery").render()


def test_backup_reserve_recharges_from_grid_when_allowed() -> None:
    control = {"backup_reserve": {"enabled": True, "reserve_soc": 0.3, "charge_from_grid": True, "grid_charge_kw": 20}}
    plant = Plant(site_config(control=control), load_w=10_000)
    plant.batteries["pcs1"].soc = 0.25
    assert battery_w(step(ControlEngine(plant.config), plant)) == pytest.approx(20_000)


# -- manual / VPP setpoint -----------------------------------------------------------------------------------------


def test_fixed_battery_setpoint_from_the_site_file() -> None:
    plant = Plant(site_config(control={"manual": {"battery_kw": -12}}), load_w=40_000)
    assert battery_w(step(ControlEngine(plant.config), plant)) == pytest.approx(-12_000)


def test_vpp_setpoint_overrides_the_site_file_but_not_the_grid_limits() -> None:
    plant = Plant(site_config(import_kw=100, control={"manual": {"battery_kw": -12}}), load_w=80_000)
    command = SetpointInput(target="battery", p_w=40_000, valid_until_utc=plant.t_utc + 60, command_id="c-1")
    decision = step(ControlEngine(plant.config), plant, setpoint=command)
    assert battery_w(decision) == pytest.approx(20_000)
    text = decision.record.asset("battery").render()
    assert "peak_shaving bound max import 100 kW" in text and "manual preferred 40 kW (command c-1)" in text


def test_vpp_grid_setpoint_moves_the_battery() -> None:
    plant = Plant(site_config(), load_w=30_000)
    command = SetpointInput(target="grid", p_w=10_000, valid_until_utc=plant.t_utc + 60, command_id="c-2")
    assert battery_w(step(ControlEngine(plant.config), plant, setpoint=command)) == pytest.approx(-20_000)


# -- schedule follower ---------------------------------------------------------------------------------------------


def test_schedule_follows_the_plan_interval() -> None:
    plant = Plant(site_config(control={"schedule": {"soc_tracking": False}}), load_w=10_000)
    plan = SchedulePlan(start_utc=plant.t_utc - 100, step_s=900, battery_p_w=(5_000.0, -7_000.0), source="optimizer")
    assert battery_w(step(ControlEngine(plant.config), plant, plan=plan)) == pytest.approx(5_000)


def test_schedule_corrects_a_soc_deviation_from_the_plan() -> None:
    plant = Plant(site_config(), load_w=10_000)
    plant.batteries["pcs1"].soc = 0.40
    # Plan: 0.50 at the interval end, 0.50 at its start: the battery is 10 % (10 kWh) behind.
    plan = SchedulePlan(
        start_utc=plant.t_utc - 900, step_s=900, battery_p_w=(0.0, 0.0), soc=(0.5, 0.5), source="optimizer"
    )
    decision = step(ControlEngine(plant.config), plant, plan=plan)
    assert battery_w(decision) == pytest.approx(10_000 * 3600 / 900)  # capped by the PCS below 50 kW


def test_missing_plan_falls_back_to_self_consumption_with_an_alarm() -> None:
    plant = Plant(site_config(optimizer={"enabled": True}), load_w=10_000)
    decision = step(ControlEngine(plant.config), plant)
    assert battery_w(decision) == pytest.approx(-10_000)
    assert "PLAN_MISSING" in [a.code for a in decision.alarms]


# -- DR event ------------------------------------------------------------------------------------------------------


def test_dr_event_caps_import_at_baseline_minus_reduction() -> None:
    plant = Plant(site_config(import_kw=200, control={"self_consumption": {"enabled": False}}), load_w=90_000)
    event = DrEventInput(
        event_id="e1",
        start_utc=0,
        end_utc=plant.t_utc + 3600,
        target_reduction_w=30_000,
        baseline_w=100_000,
        command_id="c-9",
    )
    decision = run(ControlEngine(plant.config), plant, 1, dr_event=event)
    assert plant.grid_w == pytest.approx(70_000)
    assert "dr_event bound max import 70 kW" in decision.record.asset("battery").render()


# -- EV charging ---------------------------------------------------------------------------------------------------


def ev_site(mode: str, **kwargs: Any) -> Plant:
    control = {"ev_charging": {"default_mode": mode, **kwargs}, "self_consumption": {"enabled": False}}
    plant = Plant(site_config(evs=1, import_kw=100, control=control), load_w=2_000)
    plant.evs["ev1"].connected = True
    return plant


def test_ev_mode_off_pauses_the_charger() -> None:
    plant = ev_site("off")
    assert step(ControlEngine(plant.config), plant).setpoints["ev1"] == {"i_limit_a": 0.0, "enable": 0.0}


def test_ev_mode_now_charges_at_maximum_current() -> None:
    plant = ev_site("now")
    assert step(ControlEngine(plant.config), plant).setpoints["ev1"] == {"i_limit_a": 16.0, "enable": 1.0}


def test_ev_without_a_car_is_disabled() -> None:
    plant = ev_site("now")
    plant.evs["ev1"].connected = False
    assert step(ControlEngine(plant.config), plant).setpoints["ev1"]["enable"] == 0.0


def test_ev_min_pv_charges_at_least_minimum_current_and_follows_surplus() -> None:
    plant = ev_site("min_pv")
    engine = ControlEngine(plant.config)
    assert step(engine, plant).setpoints["ev1"]["i_limit_a"] == pytest.approx(6.0)
    plant.pv_available_w["pv1"] = 2_000 + 10 * 3 * 230
    assert step(engine, plant).setpoints["ev1"]["i_limit_a"] == pytest.approx(10.0)


def test_ev_pv_surplus_starts_only_after_the_enable_delay_and_pauses_after_the_disable_delay() -> None:
    plant = ev_site("pv_surplus", enable_delay_s=60, disable_delay_s=120)
    engine = ControlEngine(plant.config)
    plant.pv_available_w["pv1"] = 2_000 + 8 * 3 * 230
    assert run(engine, plant, 1).setpoints["ev1"]["enable"] == 0.0
    plant.advance(59)
    assert run(engine, plant, 1).setpoints["ev1"]["enable"] == 0.0
    plant.advance(2)
    decision = run(engine, plant, 1)
    assert decision.setpoints["ev1"] == {"i_limit_a": pytest.approx(8.0), "enable": 1.0}
    plant.pv_available_w["pv1"] = 2_000 + 3 * 3 * 230  # surplus below the 6 A minimum
    assert run(engine, plant, 1).setpoints["ev1"]["i_limit_a"] == pytest.approx(6.0)  # keeps minimum meanwhile
    plant.advance(119)
    assert run(engine, plant, 1).setpoints["ev1"]["enable"] == 1.0
    plant.advance(2)
    assert run(engine, plant, 1).setpoints["ev1"]["enable"] == 0.0


def test_ev_single_phase_minimum_is_six_amps_on_one_phase() -> None:
    plant = ev_site("pv_surplus", enable_delay_s=0)
    plant.evs["ev1"].phases = 1
    plant.pv_available_w["pv1"] = 2_000 + 1_500  # 1.5 kW surplus ≥ 6 A × 230 V = 1.38 kW
    decision = step(ControlEngine(plant.config), plant)
    assert decision.setpoints["ev1"]["enable"] == 1.0
    assert decision.setpoints["ev1"]["i_limit_a"] == pytest.approx(6.5)


def test_ev_target_mode_charges_at_the_rate_needed_by_departure() -> None:
    plant = ev_site("now")
    # Europe/Berlin local time of the plant clock, departure 4 h later.
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = datetime.fromtimestamp(plant.t_utc, ZoneInfo("Europe/Berlin"))
    departure = f"{(local.hour + 4) % 24:02d}:{local.minute:02d}"
    control = {
        "self_consumption": {"enabled": False},
        "ev_charging": {"chargers": {"ev1": {"mode": "target", "target_energy_kwh": 20, "departure": departure}}},
    }
    plant = Plant(site_config(evs=1, control=control), load_w=2_000)
    plant.evs["ev1"].connected = True
    decision = step(ControlEngine(plant.config), plant)
    expected_a = 20_000 / (4 - local.second / 3600) * 1.1 / (3 * 230)
    assert decision.setpoints["ev1"]["i_limit_a"] == pytest.approx(expected_a, abs=0.15)


def test_ev_is_paused_when_a_grid_limit_leaves_less_than_the_minimum() -> None:
    plant = ev_site("now")
    plant.load_w = 98_000  # 2 kW headroom < 4.14 kW minimum at 3 phases; battery empty
    plant.batteries["pcs1"].soc = 0.05
    decision = run(ControlEngine(plant.config), plant, 1)
    assert decision.setpoints["ev1"] == {"i_limit_a": 0.0, "enable": 0.0}
    assert plant.grid_w <= 100_000


def test_ev_is_slowed_to_hold_the_import_limit() -> None:
    plant = ev_site("now")
    plant.load_w = 92_000
    plant.batteries["pcs1"].soc = 0.05
    decision = run(ControlEngine(plant.config), plant, 1)
    assert decision.setpoints["ev1"]["i_limit_a"] == pytest.approx(8000 / 690, abs=0.1)
    assert plant.grid_w <= 100_000 + 1e-6


# -- SG-Ready ------------------------------------------------------------------------------------------------------


def sg_site(**sg: Any) -> Plant:
    control = {"sg_ready": {"min_switch_interval_s": 300, **sg}}
    plant = Plant(site_config(hps=1, import_kw=100, control=control), load_w=10_000)
    return plant


def relays(decision: Decision) -> tuple[float, float]:
    points = decision.setpoints["hp1"]
    return points["relay1"], points["relay2"]


def test_sg_ready_recommends_on_pv_surplus_after_the_minimum_interval() -> None:
    plant = sg_site()
    plant.pv_available_w["pv1"] = 20_000
    plant.batteries["pcs1"].soc = 0.96  # battery full: surplus stays
    engine = ControlEngine(plant.config)
    assert relays(run(engine, plant, 1)) == (0.0, 0.0)
    plant.advance(301)
    assert relays(run(engine, plant, 1)) == (0.0, 1.0)


def test_sg_ready_never_switches_faster_than_its_minimum_interval() -> None:
    plant = sg_site(min_switch_interval_s=300)
    plant.batteries["pcs1"].soc = 0.96
    engine = ControlEngine(plant.config)
    plant.advance(301)
    changes = []
    last = relays(run(engine, plant, 1))
    for i in range(200):
        plant.pv_available_w["pv1"] = 20_000 if (i // 3) % 2 == 0 else 0.0  # surplus flapping every 30 s
        plant.advance(10)
        now = relays(run(engine, plant, 1))
        if now != last:
            changes.append(plant.t_mono)
            last = now
    assert len(changes) >= 2
    assert all(b - a >= 300 for a, b in itertools.pairwise(changes))


def test_sg_ready_blocks_during_a_peak_at_most_two_hours_and_three_times_a_day() -> None:
    plant = sg_site(min_switch_interval_s=60)
    plant.load_w = 150_000  # permanent peak
    engine = ControlEngine(plant.config)
    plant.advance(61)
    blocked_since = None
    blocks = 0
    longest = 0.0
    for _ in range(int(7 * 3600 / 60)):  # 16:13 to 23:13 local: one local day
        state = relays(run(engine, plant, 1))
        if state == (1.0, 0.0):
            if blocked_since is None:
                blocked_since = plant.t_mono
                blocks += 1
            longest = max(longest, plant.t_mono - blocked_since)
        else:
            blocked_since = None
        plant.advance(60)
    assert blocks == 3
    assert longest <= 7200


def test_sg_ready_blocks_at_high_prices_and_forces_on_at_low_prices() -> None:
    plant = sg_site(min_switch_interval_s=0, block_price_eur_per_kwh=0.4, force_price_eur_per_kwh=0.05)
    engine = ControlEngine(plant.config)
    prices = PriceInput(start_utc=plant.t_utc - 10, step_s=3600, buy_eur_per_kwh=(0.5, 0.02))
    assert relays(run(engine, plant, 1, prices=prices)) == (1.0, 0.0)
    plant.advance(3600)
    assert relays(run(engine, plant, 1, prices=prices)) == (1.0, 1.0)


# -- external load limit (§14a) ------------------------------------------------------------------------------------


def test_load_limit_caps_ev_but_never_below_4_2_kw() -> None:
    plant = ev_site("now")
    limit = LoadLimitInput(max_controllable_load_w=2_000, source="§14a FNN contact")
    decision = step(ControlEngine(plant.config), plant, load_limit=limit)
    assert decision.setpoints["ev1"]["i_limit_a"] == pytest.approx(4_200 / 690, abs=0.1)
    assert "load_limit bound max 4.2 kW" in decision.record.asset("ev:ev1").render()


def test_load_limit_keeps_the_heat_pump_from_being_forced_on() -> None:
    control = {"sg_ready": {"min_switch_interval_s": 0, "force_price_eur_per_kwh": 0.1}}
    plant = Plant(site_config(hps=1, control=control), load_w=1_000)
    prices = PriceInput(start_utc=plant.t_utc - 10, step_s=3600, buy_eur_per_kwh=(0.01,))
    limit = LoadLimitInput(max_controllable_load_w=4_200, source="§14a")
    engine = ControlEngine(plant.config)
    assert relays(run(engine, plant, 1, prices=prices, load_limit=limit)) == (0.0, 0.0)
    assert relays(run(engine, plant, 1, prices=prices)) == (1.0, 1.0)
