"""Expected monthly peak: the level the fleet could hold on recent days, and the plan never shaves below it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from opt_helpers import battery, flat_inputs, random_instance, site_config

from zoe_ems.optimizer.exact_lp import solve_exact
from zoe_ems.optimizer.model import MpcModel
from zoe_ems.optimizer.peak import ExpectedPeak, Fleet, holdable_peak_w
from zoe_ems.optimizer.problem import InputError, ModelSpec
from zoe_ems.optimizer.site import SiteInputsBuilder, SiteState
from zoe_ems.optimizer.tariffs import Tariff

DAY_START = datetime(2023, 5, 10, tzinfo=UTC).timestamp()


def spike_day(spike_kw: float, base_kw: float = 40.0) -> np.ndarray:
    """96 quarter hours of ``base_kw`` with a three-hour spike from 10:00."""
    load = np.full(96, base_kw * 1e3)
    load[40:52] = spike_kw * 1e3
    return load


class DailyHistory:
    """HistorySource with one load profile per UTC day (NaN = no history); PV is zero. Counts its reads."""

    def __init__(self, days: dict[float, np.ndarray]) -> None:
        self.days = days
        self.reads = 0

    def series(self, name: str, start_utc: float, end_utc: float, step_s: float) -> np.ndarray:
        self.reads += 1
        n = round((end_utc - start_utc) / step_s)
        if name == "pv_w":
            return np.zeros(n)
        return self.days.get(start_utc, np.full(n, np.nan))[:n]


def test_holdable_peak_is_limited_by_power_or_by_energy_whichever_binds() -> None:
    power_bound = Fleet.of((battery(capacity_kwh=200.0, power_kw=50.0),))
    # 50 kW of discharge against a 120 kW spike: 70 kW (the 3 h need 150 kWh, less than the 171 kWh usable).
    assert holdable_peak_w(spike_day(120.0), 900.0, power_bound) / 1e3 == pytest.approx(70.0, abs=0.1)
    energy_bound = Fleet.of((battery(capacity_kwh=200.0, power_kw=100.0),))
    # 0.9 x 200 kWh x 0.95 = 171 kWh over 3 h: 57 kW off the spike.
    assert holdable_peak_w(spike_day(120.0), 900.0, energy_bound) / 1e3 == pytest.approx(63.0, abs=0.1)
    assert holdable_peak_w(spike_day(120.0), 900.0, Fleet.of(())) / 1e3 == pytest.approx(120.0)


def test_expected_peak_is_the_hardest_recent_day_times_the_fraction_and_each_day_is_read_once() -> None:
    fleet = Fleet.of((battery(capacity_kwh=200.0, power_kw=50.0),))
    days = {DAY_START - k * 86400.0: spike_day(spike) for k, spike in ((1, 90.0), (2, 120.0), (3, 100.0))}
    days[DAY_START - 5 * 86400.0] = spike_day(300.0)  # outside a 4-day lookback
    history = DailyHistory(days)
    expected = ExpectedPeak(lookback_days=4, fraction=0.9)
    now = DAY_START + 11 * 3600.0
    assert expected.floor_w(history, now, 900.0, fleet) / 1e3 == pytest.approx(0.9 * 70.0, abs=0.1)
    reads = history.reads
    assert expected.floor_w(history, now + 900.0, 900.0, fleet) / 1e3 == pytest.approx(63.0, abs=0.1)
    assert history.reads == reads  # the days already evaluated are cached
    assert ExpectedPeak(lookback_days=4, fraction=0.9).floor_w(DailyHistory({}), now, 900.0, fleet) == 0.0
    assert ExpectedPeak(lookback_days=4, fraction=0.9).floor_w(None, now, 900.0, fleet) == 0.0


def test_plan_does_not_shave_below_the_expected_peak_and_counts_its_demand_cost() -> None:
    spec = ModelSpec(n_steps=24, step_s=3600.0, batteries=(battery(capacity_kwh=200.0, power_kw=50.0),))
    inputs = flat_inputs(spec, load_kw=40.0, price=0.1, soc=0.9)
    load = np.full(24, 40e3)
    load[10:13] = 120e3
    inputs.load_w = load
    inputs.demand_charge_eur_per_kw = 20.0
    inputs.terminal_value_eur_per_kwh = np.array([0.05])
    inputs.peak_so_far_w = 60e3
    inputs.expected_peak_w = 100e3  # the month's hard days will need 100 kW anyway
    plan = MpcModel(spec).solve(inputs)
    assert plan.peak_w / 1e3 == pytest.approx(100.0, abs=0.5)
    assert plan.grid_p_w.max() / 1e3 == pytest.approx(100.0, abs=0.5)
    # Only 20 kW of the spike is shaved, and the plan's demand cost is the rise from 60 kW to the expected 100 kW.
    assert plan.cost.demand_eur == pytest.approx(20.0 * 40.0, rel=0.01)
    with pytest.raises(InputError, match="expected_peak_w"):
        inputs.expected_peak_w = float("nan")
        MpcModel(spec).solve(inputs)


@pytest.mark.parametrize("seed", range(4))
def test_osqp_matches_exact_lp_with_an_expected_peak_across_a_billing_boundary(seed: int) -> None:
    spec, inputs = random_instance(300 + seed)
    rng = np.random.default_rng(seed)
    current = (np.arange(spec.n_steps) < rng.integers(20, 76)).astype(float)
    inputs.demand_mask = current
    inputs.next_period_mask = 1.0 - current
    inputs.next_period_demand_charge_eur_per_kw = inputs.demand_charge_eur_per_kw
    inputs.expected_peak_w = float(rng.uniform(100, 250) * 1e3)
    plan = MpcModel(spec).solve(inputs)
    exact, exact_objective = solve_exact(spec, inputs)
    assert abs(plan.objective - exact_objective) <= 0.005 * abs(exact_objective)
    assert plan.peak_w >= inputs.expected_peak_w - 1.0
    assert exact.peak_w >= inputs.expected_peak_w - 1.0
    assert exact.cost.demand_eur == pytest.approx(plan.cost.demand_eur, abs=0.01 * abs(exact_objective))


@pytest.mark.parametrize(
    ("tariff", "expects"),
    [
        ({"demand_charge_eur_per_kw": 4.0}, True),  # monthly demand charge: the hardest recent day
        ({"demand_charge_eur_per_kw": 4.0, "billing_period": "day"}, False),  # each day is billed on its own
        ({}, False),  # no demand charge
    ],
)
def test_site_inputs_carry_the_expected_monthly_peak_from_history(
    tmp_path: Path, tariff: dict[str, float | str], expects: bool
) -> None:
    config = site_config(tmp_path / "z.db", optimizer={"tariff": tariff, "expected_peak": {"lookback_days": 7}})
    local_midnight = datetime(2023, 5, 9, 22, tzinfo=UTC).timestamp()  # 00:00 Brussels (CEST)
    history = DailyHistory({local_midnight - k * 86400.0: spike_day(120.0 - 10.0 * k) for k in range(1, 4)})
    builder = SiteInputsBuilder(config, Tariff(config.optimizer.tariff), lambda: SiteState(soc=[0.5]), history)
    inputs = builder.build(builder.spec(), local_midnight + 10 * 3600.0)
    # The hardest day in the lookback has a 3-hour 110 kW spike; the 100 kWh battery's usable energy bounds it.
    usable_kwh = (config.control.soc_max - config.control.soc_min) * 100.0 * 0.95
    expected_kw = config.optimizer.expected_peak.fraction * (110.0 - usable_kwh / 3.0) if expects else 0.0
    assert inputs.expected_peak_w / 1e3 == pytest.approx(expected_kw, abs=0.1)
