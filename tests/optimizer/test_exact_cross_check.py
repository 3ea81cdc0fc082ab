"""The MPC (OSQP) objective stays within 0.5 % of an independent exact LP (HiGHS) on random instances."""

from __future__ import annotations

import pytest
from opt_helpers import random_instance

from zoe_ems.optimizer.exact_lp import solve_exact
from zoe_ems.optimizer.model import MpcModel


@pytest.mark.parametrize(("n_bat", "seeds"), [(1, range(0, 8)), (3, range(100, 104))])
def test_osqp_objective_matches_exact_lp_within_half_a_percent(n_bat: int, seeds: range) -> None:
    spec, _ = random_instance(seeds[0], n_bat=n_bat)
    model = MpcModel(spec)
    for seed in seeds:
        spec_i, inputs = random_instance(seed, n_bat=n_bat)
        model_i = model if spec_i == spec else MpcModel(spec_i)
        plan = model_i.solve(inputs)
        exact, exact_objective = solve_exact(spec_i, inputs)
        assert abs(plan.objective - exact_objective) <= 0.005 * abs(exact_objective), seed
        # The post-processed plan, priced the same way, costs no more than the exact plan (same 0.5 % budget).
        assert plan.cost.total_eur <= exact.cost.total_eur + 0.005 * abs(exact_objective), seed
