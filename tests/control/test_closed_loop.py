"""Closed loop: the engine driving the tiny in-test plant through load steps, PV ramps and a whole day."""

from __future__ import annotations

import math

import pytest
from control_helpers import Plant, site_config

from zoe_ems.control import ControlEngine


def cycle(engine: ControlEngine, plant: Plant, dt: float) -> None:
    decision = engine.step(plant.snapshot(), plant.inputs(), plant.t_mono)
    plant.apply(decision.setpoints)
    plant.advance(dt)


def test_peak_shaving_brings_import_back_within_2_percent_in_3_cycles_with_a_lagging_pcs() -> None:
    plant = Plant(
        site_config(import_kw=300, battery_kw=200, control={"self_consumption": {"enabled": False}}),
        load_w=250_000,
        pcs_response=0.7,
    )
    engine = ControlEngine(plant.config)
    for _ in range(5):
        cycle(engine, plant, 0.5)
    plant.load_w = 420_000
    assert plant.grid_w > 300_000 * 1.02
    for _ in range(3):
        cycle(engine, plant, 0.5)
    assert plant.grid_w <= 300_000 * 1.02


def test_zero_export_holds_through_a_pv_ramp_with_a_full_battery() -> None:
    plant = Plant(site_config(export_kw=0, pv_kw=60), load_w=8_000)
    plant.batteries["pcs1"].soc = 0.95
    engine = ControlEngine(plant.config)
    worst_export = 0.0
    for i in range(1200):  # 0 → 60 kW over 10 minutes at 0.5 s cycles
        plant.pv_available_w["pv1"] = min(60_000.0, i * 100.0)
        cycle(engine, plant, 0.5)
        worst_export = max(worst_export, -plant.grid_w)
    assert worst_export <= 0.01 * 60_000
    assert plant.pv_limit_w["pv1"] == pytest.approx(8_000, rel=0.01)


def test_a_simulated_day_never_leaves_the_soc_window_nor_breaks_grid_limits() -> None:
    control = {"soc_min": 0.1, "soc_max": 0.9, "self_consumption": {"enabled": True}}
    plant = Plant(
        site_config(import_kw=60, export_kw=5, battery_kw=30, battery_kwh=60, pv_kw=80, evs=1, hps=1, control=control),
        load_w=0.0,
    )
    plant.batteries["pcs1"].capacity_wh = 60_000
    plant.batteries["pcs1"].soc = 0.5
    engine = ControlEngine(plant.config)
    dt = 10.0
    soc_seen = []
    worst_import = worst_export = 0.0
    over_before = False
    for i in range(int(24 * 3600 / dt)):
        hour = i * dt / 3600
        plant.load_w = 15_000 + 40_000 * math.exp(-((hour - 18) ** 2) / 2) + (30_000 if 11 <= hour < 11.5 else 0)
        plant.pv_available_w["pv1"] = max(0.0, 80_000 * math.sin(math.pi * (hour - 6) / 12)) if 6 < hour < 18 else 0.0
        plant.evs["ev1"].connected = 8 <= hour < 20
        cycle(engine, plant, dt)
        soc_seen.append(plant.batteries["pcs1"].soc)
        worst_import = max(worst_import, plant.grid_w)
        over = plant.grid_w > 60_000 * 1.02 or plant.grid_w < -5_000 - 0.01 * 80_000
        assert not (over and over_before), f"limit broken two cycles in a row at {hour:.3f} h"
        over_before = over
        worst_export = max(worst_export, -plant.grid_w)
    step_soc = 30_000 * dt / 3600 / 60_000  # one cycle of full power
    assert min(soc_seen) >= 0.1 - step_soc and max(soc_seen) <= 0.9 + step_soc
    # Settling allowance: one cycle after a step the engine could not foresee (load, PV, a heat-pump relay).
    assert worst_import <= 60_000 * 1.05
    assert worst_export <= 5_000 + 0.05 * 80_000
