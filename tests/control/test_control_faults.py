"""Fail-safe behaviour: lost grid meter, silent PCS, BMS alarm, a raising controller; the loop goes on."""

from __future__ import annotations

import json

import pytest
from control_helpers import Plant, site_config

from zoe_ems.control import ControlEngine, Decision
from zoe_ems.control.controllers import Context, Controller
from zoe_ems.control.types import Proposal


def step(engine: ControlEngine, plant: Plant) -> Decision:
    return engine.step(plant.snapshot(), plant.inputs(), plant.t_mono)


def codes(decision: Decision) -> list[str]:
    return [a.code for a in decision.alarms]


def test_grid_meter_stale_puts_battery_to_zero_and_caps_pv_at_the_export_limit() -> None:
    plant = Plant(site_config(export_kw=10, pvs=2, pv_kw=30), load_w=30_000)
    plant.pv_available_w.update(pv1=25_000, pv2=25_000)
    engine = ControlEngine(plant.config)
    assert step(engine, plant).setpoints["pcs1"]["p_set_w"] == pytest.approx(20_000)  # charging the surplus
    plant.stale.add("grid")
    decision = step(engine, plant)
    assert decision.setpoints["pcs1"]["p_set_w"] == 0.0
    assert decision.setpoints["pv1"]["p_limit_w"] + decision.setpoints["pv2"]["p_limit_w"] == pytest.approx(10_000)
    assert decision.record.mode == "failsafe"
    assert "GRID_METER_STALE" in codes(decision)
    plant.stale.clear()
    recovered = step(engine, plant)
    assert recovered.record.mode == "normal" and "GRID_METER_STALE" not in codes(recovered)


def test_grid_meter_offline_with_hold_keeps_the_battery_and_counts_its_discharge_in_the_pv_cap() -> None:
    plant = Plant(site_config(export_kw=20, control={"failsafe": {"grid_meter_loss_battery": "hold"}}), load_w=15_000)
    engine = ControlEngine(plant.config)
    assert step(engine, plant).setpoints["pcs1"]["p_set_w"] == pytest.approx(-15_000)
    plant.offline.add("grid")
    decision = step(engine, plant)
    assert decision.setpoints["pcs1"]["p_set_w"] == pytest.approx(-15_000)
    assert decision.setpoints["pv1"]["p_limit_w"] == pytest.approx(5_000)


def test_silent_pcs_gets_no_command_and_the_other_pcs_carries_the_load() -> None:
    plant = Plant(site_config(batteries=2), load_w=30_000)
    plant.offline.add("pcs2")
    decision = step(ControlEngine(plant.config), plant)
    assert "pcs2" not in decision.setpoints
    assert decision.setpoints["pcs1"]["p_set_w"] == pytest.approx(-30_000)
    assert "PCS_OFFLINE" in codes(decision)


def test_bms_alarm_stops_charge_and_discharge_of_its_battery() -> None:
    plant = Plant(site_config(batteries=2), load_w=30_000)
    plant.batteries["pcs1"].bms_alarm = 4
    decision = step(ControlEngine(plant.config), plant)
    assert decision.setpoints["pcs1"]["p_set_w"] == 0.0
    assert decision.setpoints["pcs2"]["p_set_w"] == pytest.approx(-30_000)
    alarm = next(a for a in decision.alarms if a.code == "BMS_ALARM")
    assert alarm.device_id == "bms1" and alarm.severity.value == "critical"


def test_pcs_alarm_means_no_discharge_command() -> None:
    plant = Plant(site_config(), load_w=30_000)
    plant.batteries["pcs1"].pcs_alarm = 1
    decision = step(ControlEngine(plant.config), plant)
    assert decision.setpoints["pcs1"]["p_set_w"] == 0.0
    assert "PCS_ALARM" in codes(decision)


def test_stale_bms_soc_idles_the_battery() -> None:
    plant = Plant(site_config(), load_w=30_000)
    plant.stale.add("bms1")
    decision = step(ControlEngine(plant.config), plant)
    assert decision.setpoints["pcs1"]["p_set_w"] == 0.0
    assert "SOC_UNKNOWN" in codes(decision)


class Exploding(Controller):
    name = "exploding"
    priority = 500

    def __init__(self) -> None:
        self.calls = 0

    def propose(self, ctx: Context) -> list[Proposal]:
        self.calls += 1
        raise ZeroDivisionError("bug in a controller")


def test_a_raising_controller_is_skipped_with_an_alarm_and_the_loop_goes_on() -> None:
    plant = Plant(site_config(), load_w=20_000)
    bomb = Exploding()
    engine = ControlEngine(plant.config, extra_controllers=[bomb])
    for _ in range(3):
        decision = step(engine, plant)
        assert decision.setpoints["pcs1"]["p_set_w"] == pytest.approx(-20_000)
        assert "CONTROLLER_FAILED" in codes(decision)
        plant.advance(0.5)
    assert bomb.calls == 3
    status = {c.name: c.status for c in decision.record.controllers}
    assert status["exploding"] == "failed" and status["self_consumption"] == "ok"


def test_decision_is_json_able_in_every_mode() -> None:
    plant = Plant(site_config(evs=1, hps=1), load_w=20_000)
    engine = ControlEngine(plant.config)
    normal = json.loads(json.dumps(step(engine, plant).to_dict()))
    assert normal["record"]["lines"][0].startswith("battery")
    plant.stale.add("grid")
    failsafe = json.loads(json.dumps(step(engine, plant).to_dict(), allow_nan=False))
    assert failsafe["record"]["mode"] == "failsafe"
