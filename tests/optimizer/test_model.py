"""Hand-checkable behaviour of the MPC model (OSQP through the DPP model)."""

from __future__ import annotations

import numpy as np
import pytest
from opt_helpers import battery, flat_inputs

from zoe_ems.optimizer.model import MpcModel
from zoe_ems.optimizer.problem import EvRequest, InputError, ModelSpec

STEP_S = 3600.0


def hourly_spec(n: int = 24, **kwargs: float) -> ModelSpec:
    return ModelSpec(n_steps=n, step_s=STEP_S, batteries=(battery(**kwargs),))  # type: ignore[arg-type]


def test_model_is_dpp_and_resolves_without_refactorizing() -> None:
    model = MpcModel(hourly_spec())
    assert model.is_dpp()
    assert model.direct_unavailable_reason == ""


def test_two_price_day_charges_in_cheap_hours_and_discharges_in_expensive_ones() -> None:
    spec = hourly_spec()
    inputs = flat_inputs(spec, load_kw=30.0, soc=0.05)
    cheap = np.arange(24) < 6
    inputs.buy_eur_per_kwh = np.where(cheap, 0.05, 0.30)
    inputs.sell_eur_per_kwh = np.zeros(24)
    inputs.terminal_value_eur_per_kwh = np.array([0.0])
    plan = MpcModel(spec).solve(inputs)
    battery_kw = plan.battery_p_w[0] / 1000.0
    assert battery_kw[cheap].sum() > 80.0  # fills ~90 kWh of the 100 kWh battery in the cheap hours
    assert np.all(battery_kw[cheap] > -0.01)
    assert np.all(battery_kw[~cheap] < 0.01)  # never charges at the high price
    assert plan.soc[0, 5] == pytest.approx(0.95, abs=0.01)
    assert plan.soc[0, -1] == pytest.approx(0.05, abs=0.01)  # all of it used against the expensive load


def test_demand_charge_caps_the_peak_at_what_the_battery_can_shave() -> None:
    spec = hourly_spec(capacity_kwh=200.0, power_kw=50.0)
    inputs = flat_inputs(spec, load_kw=40.0, price=0.1, soc=0.9)
    load = np.full(24, 40e3)
    load[10:13] = 120e3  # a three-hour 120 kW spike
    inputs.load_w = load
    inputs.demand_charge_eur_per_kw = 20.0
    plan = MpcModel(spec).solve(inputs)
    # The battery delivers its 50 kW through the spike: the peak falls from 120 kW to 70 kW.
    assert plan.grid_p_w.max() / 1000.0 == pytest.approx(70.0, abs=0.5)
    assert plan.peak_w / 1000.0 == pytest.approx(70.0, abs=0.5)


def test_peak_already_reached_is_the_floor_so_no_useless_shaving_below_it() -> None:
    spec = hourly_spec(capacity_kwh=200.0, power_kw=50.0)
    inputs = flat_inputs(spec, load_kw=40.0, price=0.1, soc=0.5)
    inputs.sell_eur_per_kwh = np.zeros(24)
    inputs.demand_charge_eur_per_kw = 20.0
    inputs.peak_so_far_w = 100e3
    inputs.terminal_value_eur_per_kwh = np.array([0.0])
    plan = MpcModel(spec).solve(inputs)
    assert plan.cost.demand_eur == pytest.approx(0.0, abs=0.05)
    assert plan.peak_w == pytest.approx(100e3, rel=1e-3)


def test_export_limit_curtails_pv_when_the_battery_is_full() -> None:
    spec = hourly_spec()
    inputs = flat_inputs(spec, load_kw=10.0, price=0.2, soc=0.95)
    inputs.pv_w = np.full(24, -100e3)
    inputs.export_limit_w = np.full(24, 20e3)
    plan = MpcModel(spec).solve(inputs)
    assert plan.grid_p_w.min() >= -20e3 - 50.0
    # 100 kW PV - 10 kW load - 20 kW export = 70 kW curtailed while the battery stays full.
    assert plan.curtail_w[5] / 1000.0 == pytest.approx(70.0, abs=0.5)


def test_backup_floor_is_respected_even_when_discharging_would_pay() -> None:
    spec = hourly_spec()
    inputs = flat_inputs(spec, load_kw=40.0, price=0.5, soc=0.8)
    inputs.soc_floor = np.full((1, 24), 0.5)
    inputs.terminal_value_eur_per_kwh = np.array([0.0])
    plan = MpcModel(spec).solve(inputs)
    assert plan.soc.min() >= 0.5 - 1e-3
    assert plan.soc[0, -1] == pytest.approx(0.5, abs=0.01)


def test_negative_prices_never_charge_and_discharge_at_once() -> None:
    spec = hourly_spec(degradation_eur_per_kwh=0.0, charge_efficiency=0.9, discharge_efficiency=0.9)
    inputs = flat_inputs(spec, load_kw=5.0, soc=0.5)
    prices = np.where((np.arange(24) >= 10) & (np.arange(24) < 16), -0.14, 0.15)
    inputs.buy_eur_per_kwh = prices
    inputs.sell_eur_per_kwh = prices
    plan = MpcModel(spec).solve(inputs)
    assert plan.raw_simultaneous_w < 100.0  # the solver itself found no profit in a charge/discharge loop
    negative = prices < 0
    # It empties the battery before and fills it on the negative hours: 90 kWh stored = 100 kWh AC at 90 %.
    assert plan.battery_p_w[0, negative].sum() / 1000.0 == pytest.approx(100.0, abs=2.0)
    assert plan.soc[0, 15] == pytest.approx(0.95, abs=0.01)


def test_floor_above_reach_and_load_above_import_limit_stay_solvable() -> None:
    spec = hourly_spec()
    inputs = flat_inputs(spec, load_kw=60.0, soc=0.1)
    inputs.soc_floor = np.full((1, 24), 0.9)  # unreachable in the first hours
    inputs.import_limit_w = np.full(24, 30e3)  # below the load
    plan = MpcModel(spec).solve(inputs)
    assert plan.cost.penalty_eur > 0
    assert plan.soc[0, -1] >= 0.9 - 1e-3


def test_ev_gets_its_energy_before_departure_in_the_cheapest_hours() -> None:
    spec = ModelSpec(n_steps=24, step_s=STEP_S, batteries=(battery(capacity_kwh=10.0, power_kw=5.0),), n_ev=1)
    inputs = flat_inputs(spec, load_kw=5.0, soc=0.05)
    prices = np.full(24, 0.3)
    prices[3:6] = 0.1
    inputs.buy_eur_per_kwh = prices
    inputs.sell_eur_per_kwh = np.zeros(24)
    inputs.evs = (EvRequest(energy_wh=30e3, departure_utc=inputs.start_utc + 8 * STEP_S, max_power_w=11e3),)
    plan = MpcModel(spec).solve(inputs)
    ev_kw = plan.ev_p_w[0] / 1000.0
    assert ev_kw.sum() == pytest.approx(30.0, abs=0.3)
    assert ev_kw[8:].sum() == pytest.approx(0.0, abs=0.05)
    assert ev_kw[3:6].sum() == pytest.approx(30.0, abs=0.5)


def test_direct_osqp_path_matches_cvxpy_solve() -> None:
    spec = hourly_spec()
    inputs = flat_inputs(spec, load_kw=30.0, soc=0.3)
    inputs.buy_eur_per_kwh = 0.2 + 0.1 * np.sin(np.arange(24) / 3.0)
    direct = MpcModel(spec).solve(inputs)
    reference = MpcModel(spec)
    reference.use_cvxpy_solve = True
    slow = reference.solve(inputs)
    assert direct.objective == pytest.approx(slow.objective, rel=5e-3)


def test_bad_input_names_the_field() -> None:
    spec = hourly_spec()
    inputs = flat_inputs(spec)
    inputs.load_w = np.zeros(5)
    with pytest.raises(InputError, match="load_w"):
        MpcModel(spec).solve(inputs)
    inputs = flat_inputs(spec)
    inputs.pv_w = np.full(24, 5e3)
    with pytest.raises(InputError, match="pv_w"):
        MpcModel(spec).solve(inputs)
