"""A plan made inside an interval: its first step covers only the rest of the interval, from the measured SOC."""

from __future__ import annotations

import numpy as np
import pytest
from opt_helpers import battery, flat_inputs, random_instance

from zoe_ems.optimizer.exact_lp import solve_exact
from zoe_ems.optimizer.model import MpcModel
from zoe_ems.optimizer.problem import InputError, ModelSpec

SPEC = ModelSpec(n_steps=48, step_s=900.0, batteries=(battery(capacity_kwh=100.0, power_kw=50.0),))


def test_plan_made_two_thirds_into_a_step_charges_at_full_power_for_the_third_left() -> None:
    inputs = flat_inputs(SPEC, load_kw=10.0, soc=0.2)
    inputs.buy_eur_per_kwh = np.where(np.arange(48) < 1, 0.02, 0.40)  # only the current interval is cheap
    inputs.now_utc = inputs.start_utc + 600.0
    plan = MpcModel(SPEC).solve(inputs)
    assert plan.battery_p_w[0, 0] == pytest.approx(50_000.0, rel=0.01)  # the physical power, not a third of it
    gained = plan.soc[0, 0] - 0.2
    assert gained == pytest.approx(50.0 * 300.0 / 3600.0 * 0.95 / 100.0, rel=0.01)  # 300 s at 50 kW, eta 0.95
    assert plan.state_utc == inputs.now_utc
    assert plan.initial_soc is not None and plan.initial_soc[0] == pytest.approx(0.2)


def test_whole_first_step_when_no_measurement_time_is_given() -> None:
    inputs = flat_inputs(SPEC, load_kw=10.0, soc=0.2)
    inputs.buy_eur_per_kwh = np.where(np.arange(48) < 1, 0.02, 0.40)
    plan = MpcModel(SPEC).solve(inputs)
    assert plan.soc[0, 0] - 0.2 == pytest.approx(50.0 * 0.25 * 0.95 / 100.0, rel=0.01)
    assert plan.state_utc == inputs.start_utc


def test_import_already_measured_in_the_current_step_counts_toward_its_peak() -> None:
    inputs = flat_inputs(SPEC, load_kw=20.0, soc=0.9, price=0.1)
    inputs.demand_charge_eur_per_kw = 50.0
    inputs.now_utc = inputs.start_utc + 600.0
    inputs.elapsed_import_w = 90_000.0  # a 90 kW burst in the first 10 minutes
    plan = MpcModel(SPEC).solve(inputs)
    exact, _ = solve_exact(SPEC, inputs)
    # At least 2/3 x 90 kW averaged over the interval, whatever the battery does in the last 5 minutes.
    assert plan.peak_w >= 60_000.0 - 1.0
    assert exact.peak_w == pytest.approx(60_000.0, rel=0.01)
    assert plan.cost.demand_eur == pytest.approx(exact.cost.demand_eur, rel=0.01)


@pytest.mark.parametrize("seed", [3, 11, 21])
def test_mid_step_instances_match_the_exact_lp_within_half_a_percent(seed: int) -> None:
    spec, inputs = random_instance(seed)
    inputs.now_utc = inputs.start_utc + float(np.random.default_rng(seed).uniform(0.0, 899.0))
    plan = MpcModel(spec).solve(inputs)
    exact, objective = solve_exact(spec, inputs)
    assert abs(plan.objective - objective) <= 0.005 * abs(objective)
    assert plan.soc[0, 0] == pytest.approx(exact.soc[0, 0], abs=0.02)


def test_measurement_time_outside_the_first_step_is_rejected_naming_the_field() -> None:
    inputs = flat_inputs(SPEC)
    inputs.now_utc = inputs.start_utc + 900.0
    with pytest.raises(InputError, match="now_utc"):
        MpcModel(SPEC).solve(inputs)
