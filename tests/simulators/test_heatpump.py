"""SG-Ready heat pump: relay states 1..4 drive compressor, heater and tank temperature."""

from __future__ import annotations

import pytest

from drivers.points import sg_ready_relays
from simulators.heatpump import HeatPumpModel


def run(heat_pump: HeatPumpModel, seconds: float, t0: float, step_s: float = 1.0) -> float:
    t = t0
    for _ in range(round(seconds / step_s)):
        t += step_s
        heat_pump.advance(t, step_s)
    return t


def set_state(heat_pump: HeatPumpModel, state: int) -> None:
    relay1, relay2 = sg_ready_relays(state)
    heat_pump.apply({"relay1": float(relay1), "relay2": float(relay2)})


def test_normal_state_runs_the_compressor_below_the_thermostat_band() -> None:
    heat_pump = HeatPumpModel(t_storage_c=44.0, min_off_s=0.0)
    set_state(heat_pump, 2)
    run(heat_pump, 1.0, 0.0)
    assert heat_pump.points()["p_w"] == pytest.approx(5000.0)
    assert heat_pump.sg_state == 2


def test_block_state_stops_the_compressor_and_the_tank_cools() -> None:
    heat_pump = HeatPumpModel(t_storage_c=44.0, min_off_s=0.0)
    set_state(heat_pump, 1)
    run(heat_pump, 600.0, 0.0)
    assert heat_pump.points()["p_w"] == 0.0
    assert heat_pump.t_storage_c < 44.0


def test_recommend_state_heats_to_the_boost_setpoint() -> None:
    heat_pump = HeatPumpModel(t_storage_c=48.0, min_off_s=0.0)
    set_state(heat_pump, 2)
    run(heat_pump, 1.0, 0.0)
    assert heat_pump.p_w() == 0.0, "inside the normal band: idle"
    set_state(heat_pump, 3)
    t = run(heat_pump, 1.0, 1.0)
    assert heat_pump.p_w() == pytest.approx(5000.0)
    run(heat_pump, 3600.0, t)
    assert heat_pump.t_storage_c == pytest.approx(55.0, abs=1.0)


def test_force_state_adds_the_heater_and_heats_to_the_maximum() -> None:
    heat_pump = HeatPumpModel(t_storage_c=50.0, min_off_s=0.0)
    set_state(heat_pump, 4)
    t = run(heat_pump, 1.0, 0.0)
    assert heat_pump.p_w() == pytest.approx(5000.0 + 3000.0)
    run(heat_pump, 7200.0, t)
    assert heat_pump.t_storage_c == pytest.approx(60.0, abs=1.0)
    assert heat_pump.p_w() < 8000.0


def test_compressor_respects_its_minimum_off_time() -> None:
    heat_pump = HeatPumpModel(t_storage_c=44.0, min_off_s=300.0)
    set_state(heat_pump, 2)
    t = run(heat_pump, 1.0, 400.0)
    assert heat_pump.compressor_on
    set_state(heat_pump, 1)
    t = run(heat_pump, 1.0, t)
    set_state(heat_pump, 4)
    t = run(heat_pump, 100.0, t)
    assert not heat_pump.compressor_on, "restart blocked inside the minimum off time"
    run(heat_pump, 250.0, t)
    assert heat_pump.compressor_on
