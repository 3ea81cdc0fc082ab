"""The MPC as a parametrized cvxpy problem (DPP), built once per ModelSpec and re-solved with OSQP warm starts.

Parameters enter only the objective's linear terms and constraint right-hand sides, so a re-solve changes
OSQP's q, l and u vectors and never refactorizes. Blocking: call ``solve`` from a worker thread, never on
the event loop. This module never publishes plans and never touches devices.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import cvxpy
import numpy as np

from zoe_ems.optimizer.exact_lp import solve_exact
from zoe_ems.optimizer.osqp_direct import OSQP_SOLVED, OSQP_SOLVED_INACCURATE, DirectOsqp, DirectUnsupported
from zoe_ems.optimizer.postprocess import build_solution
from zoe_ems.optimizer.prepare import Prepared, prepare
from zoe_ems.optimizer.problem import FloatArray, ModelSpec, MpcInputs, MpcSolution

cp: Any = cvxpy
"""cvxpy, untyped: its partial type hints miss most atoms (sum, multiply, ...)."""


HIGHS_STREAK = 16
"""After an OSQP failure, this many following solves go straight to HiGHS before OSQP is tried again."""


class SolveError(RuntimeError):
    """The solver returned no usable solution (infeasible, numerical failure, iteration limit)."""


@dataclass(frozen=True, kw_only=True)
class OsqpSettings:
    """OSQP settings; the defaults reached an exact LP's objective within 0.3 % on every instance we measured."""

    eps_abs: float = 1e-3
    eps_rel: float = 1e-3
    max_iter: int = 4000
    """Iteration budget before the HiGHS fallback takes over (a failed OSQP solve costs this budget)."""
    polishing: bool = False
    """OSQP's polishing never succeeded on these (degenerate) LPs in our measurements and costs ~10 %."""
    alpha: float = 1.6
    """ADMM relaxation (OSQP's default). 1.0 removes the stalls on demand-charge instances (economics bench,
    7 days: OSQP failures 38 -> 0, HiGHS fallback solves 646 -> 0) but its eps=1e-3 solutions, applied in
    closed loop, captured 86.7 % of the optimum's savings instead of 97.5 % (docs/optimizer.md)."""
    adaptive_rho_interval: int = 25
    """Fixed rho-adaptation interval: OSQP's default (0) derives it from measured setup time, which makes
    iteration counts depend on machine load; 25 was also the fastest in our measurements."""
    time_limit_s: float = 0.0
    """0 = no limit."""
    regularization: float = 0.0
    """Weight of a small quadratic term on battery and grid power (EUR per step per p.u.^2)."""

    def as_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "eps_abs": self.eps_abs,
            "eps_rel": self.eps_rel,
            "max_iter": self.max_iter,
            "polishing": self.polishing,
            "alpha": self.alpha,
            "adaptive_rho_interval": self.adaptive_rho_interval,
        }
        if self.time_limit_s > 0:
            options["time_limit"] = self.time_limit_s
        return options


class MpcModel:
    """One site's MPC problem. Not thread-safe: one solve at a time per instance."""

    def __init__(self, spec: ModelSpec, settings: OsqpSettings | None = None) -> None:
        self.spec = spec
        self.settings = settings or OsqpSettings()
        started = time.perf_counter()
        self._build()
        self.build_time_s = time.perf_counter() - started
        self.solves = 0
        self.fallbacks = 0
        """Solves answered by HiGHS (OSQP failures plus the solves that skipped OSQP after one)."""
        self.osqp_failures = 0
        """OSQP solves that did not converge."""
        self._highs_first = 0
        self.highs_fallback = True
        """Solve with HiGHS when OSQP fails to converge."""
        self._last_start: float | None = None

    def is_dpp(self) -> bool:
        """True when re-solves only re-apply parameters (cvxpy's disciplined parametrized programming)."""
        return bool(self._problem.is_dpp())

    def solve(self, inputs: MpcInputs) -> MpcSolution:
        """Solve for ``inputs``; raises InputError on bad input and SolveError when no solution is usable.

        When OSQP does not converge within its budget (seen on demand-charge instances whose optimum is a
        flat shaved plateau), the same LP is solved by HiGHS (``exact_lp``) so that a plan is still produced;
        ``fallbacks`` counts those solves (status ``optimal_highs``).
        """
        exc: Exception | None = None
        if self._highs_first <= 0 or not self.highs_fallback:
            try:
                return self._solve_osqp(inputs)
            except SolveError as error:
                self.osqp_failures += 1
                if not self.highs_fallback:
                    raise
                exc = error
                # Slow-converging instances come in runs (e.g. a demand-charge plateau): go to HiGHS directly
                # for the next solves instead of spending the OSQP budget each time.
                self._highs_first = HIGHS_STREAK
        else:
            self._highs_first -= 1
        self.fallbacks += 1
        started = time.perf_counter()
        try:
            solution, _ = solve_exact(self.spec, inputs)
        except RuntimeError as fallback_exc:
            raise SolveError(f"{exc or 'OSQP skipped'}; HiGHS fallback: {fallback_exc}") from fallback_exc
        self._last_start = None
        return replace(solution, status="optimal_highs", solve_time_s=time.perf_counter() - started)

    def _solve_osqp(self, inputs: MpcInputs) -> MpcSolution:
        prepared = prepare(self.spec, inputs)
        values = self._parameter_values(prepared)
        started = time.perf_counter()
        if self._direct is not None and not self.use_cvxpy_solve:
            shift = 0
            if self._last_start is not None:
                moved = (inputs.start_utc - self._last_start) / self.spec.step_s
                shift = round(moved) if 0 < round(moved) < self.spec.n_steps and abs(moved - round(moved)) < 1e-6 else 0
            self._last_start = inputs.start_utc
            result = self._direct.solve(
                {self._params[name].id: value for name, value in values.items()}, shift_steps=shift
            )
            elapsed = time.perf_counter() - started
            if result.status_val not in (OSQP_SOLVED, OSQP_SOLVED_INACCURATE):
                raise SolveError(f"OSQP status {result.status}")
            status = cp.OPTIMAL if result.status_val == OSQP_SOLVED else cp.OPTIMAL_INACCURATE
            objective = result.objective
            iterations = result.iterations
            read = self._direct.value
        else:
            for name, value in values.items():
                self._params[name].value = value
            try:
                self._problem.solve(solver=cp.OSQP, warm_start=True, **self.settings.as_options())
            except cp.error.SolverError as exc:
                raise SolveError(f"OSQP failed: {exc}") from exc
            elapsed = time.perf_counter() - started
            status = str(self._problem.status)
            if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or self._charge.value is None:
                raise SolveError(f"OSQP status {status}")
            objective = float(self._problem.value)
            iterations = int(self._problem.solver_stats.num_iters or 0)
            read = _value
        self.solves += 1
        return build_solution(
            spec=self.spec,
            prepared=prepared,
            start_utc=inputs.start_utc,
            status=status,
            charge=read(self._charge),
            discharge=read(self._discharge),
            curtail=read(self._curtail),
            ev=read(self._ev) if self._ev is not None else np.zeros((0, self.spec.n_steps)),
            objective_eur=objective * prepared.power_base_w / 1000.0,
            solve_time_s=elapsed,
            iterations=iterations,
        )

    # -- private --------------------------------------------------------------------------------

    def _build(self) -> None:
        spec = self.spec
        n = spec.n_steps
        n_bat = max(len(spec.batteries), 1)
        dt = spec.step_h
        has_battery = bool(spec.batteries)
        eta_c = np.array([b.charge_efficiency for b in spec.batteries] or [1.0])
        eta_d = np.array([b.discharge_efficiency for b in spec.batteries] or [1.0])

        p = self._params = {
            "net_load": cp.Parameter(n, name="net_load"),
            "pv": cp.Parameter(n, nonneg=True, name="pv"),
            "buy": cp.Parameter(n, name="buy"),
            "sell": cp.Parameter(n, name="sell"),
            "import_limit": cp.Parameter(n, nonneg=True, name="import_limit"),
            "export_limit": cp.Parameter(n, nonneg=True, name="export_limit"),
            "energy0": cp.Parameter(n_bat, name="energy0"),
            "energy_lo": cp.Parameter((n_bat, n), name="energy_lo"),
            "energy_hi": cp.Parameter((n_bat, n), name="energy_hi"),
            "charge_max": cp.Parameter((n_bat, n), nonneg=True, name="charge_max"),
            "discharge_max": cp.Parameter((n_bat, n), nonneg=True, name="discharge_max"),
            "throughput_cost": cp.Parameter((n_bat, n), nonneg=True, name="throughput_cost"),
            "terminal_value": cp.Parameter(n_bat, name="terminal_value"),
            "peak_floor": cp.Parameter(nonneg=True, name="peak_floor"),
            "peak_floor_next": cp.Parameter(nonneg=True, name="peak_floor_next"),
            "demand_charge": cp.Parameter(nonneg=True, name="demand_charge"),
            "demand_charge_next": cp.Parameter(nonneg=True, name="demand_charge_next"),
            "peak_relax": cp.Parameter(n, name="peak_relax"),
            "peak_relax_next": cp.Parameter(n, name="peak_relax_next"),
            "overrun_penalty": cp.Parameter(nonneg=True, name="overrun_penalty"),
        }
        grid_import = cp.Variable(n, name="grid_import")
        grid_export = cp.Variable(n, name="grid_export")
        curtail = cp.Variable(n, name="curtail")
        overrun = cp.Variable(n, name="import_overrun")
        peak = cp.Variable(name="peak")
        peak_next = cp.Variable(name="peak_next")
        charge = cp.Variable((n_bat, n), name="charge")
        discharge = cp.Variable((n_bat, n), name="discharge")
        energy = cp.Variable((n_bat, n), name="energy")

        battery_net = cp.sum(charge - discharge, axis=0) if has_battery else 0
        consumption = battery_net
        constraints: list[Any] = [
            grid_import >= 0,
            grid_export >= 0,
            curtail >= 0,
            overrun >= 0,
            peak_next >= p["peak_floor_next"],
            charge >= 0,
            discharge >= 0,
            curtail <= p["pv"],
            grid_import - overrun <= p["import_limit"],
            grid_export <= p["export_limit"],
            peak >= p["peak_floor"],
            peak >= grid_import - p["peak_relax"],
            peak_next >= grid_import - p["peak_relax_next"],
        ]
        if has_battery:
            gain_c = (eta_c * dt)[:, None]
            gain_d = (dt / eta_d)[:, None]
            delta = cp.multiply(gain_c, charge) - cp.multiply(gain_d, discharge)
            constraints += [
                charge <= p["charge_max"],
                discharge <= p["discharge_max"],
                energy[:, 0] == p["energy0"] + delta[:, 0],
                energy[:, 1:] == energy[:, :-1] + delta[:, 1:],
                energy >= p["energy_lo"],
                energy <= p["energy_hi"],
            ]
        else:
            constraints += [charge == 0, discharge == 0, energy == 0]

        cost = (
            dt * (p["buy"] @ grid_import)
            - dt * (p["sell"] @ grid_export)
            + p["demand_charge"] * peak
            + p["demand_charge_next"] * peak_next
            + dt * cp.sum(cp.multiply(p["throughput_cost"], charge + discharge))
            - p["terminal_value"] @ energy[:, n - 1]
            + dt * p["overrun_penalty"] * cp.sum(overrun)
        )
        if self.settings.regularization > 0:
            reg = self.settings.regularization
            cost = cost + reg * (
                cp.sum_squares(charge)
                + cp.sum_squares(discharge)
                + cp.sum_squares(grid_import)
                + cp.sum_squares(grid_export)
            )
        ev: Any = None
        if spec.n_ev:
            p["ev_max"] = cp.Parameter((spec.n_ev, n), nonneg=True, name="ev_max")
            p["ev_required"] = cp.Parameter(spec.n_ev, nonneg=True, name="ev_required")
            p["ev_cap"] = cp.Parameter(spec.n_ev, nonneg=True, name="ev_cap")
            p["ev_penalty"] = cp.Parameter(spec.n_ev, nonneg=True, name="ev_penalty")
            ev = cp.Variable((spec.n_ev, n), name="ev")
            shortfall = cp.Variable(spec.n_ev, name="ev_shortfall")
            delivered = dt * cp.sum(ev, axis=1)
            constraints += [
                ev >= 0,
                shortfall >= 0,
                ev <= p["ev_max"],
                delivered + shortfall >= p["ev_required"],
                delivered <= p["ev_cap"],
            ]
            consumption = consumption + cp.sum(ev, axis=0)
            cost = cost + p["ev_penalty"] @ shortfall
        constraints.append(grid_import - grid_export == p["net_load"] + consumption + curtail)

        self._problem = cp.Problem(cp.Minimize(cost), constraints)
        self._charge = charge
        self._discharge = discharge
        self._curtail = curtail
        self._ev = ev
        self._has_battery = has_battery
        for parameter in self._params.values():
            parameter.value = np.zeros(parameter.shape)
        self.use_cvxpy_solve = False
        """True forces cvxpy's own Problem.solve path (slower; used to cross-check the direct path)."""
        self._direct: DirectOsqp | None
        try:
            self._direct = DirectOsqp(self._problem, self.settings.as_options(), time_steps=self.spec.n_steps)
            self.direct_unavailable_reason = ""
        except DirectUnsupported as exc:
            self._direct = None
            self.direct_unavailable_reason = str(exc)

    def _parameter_values(self, prepared: Prepared) -> dict[str, FloatArray]:
        values: dict[str, Any] = {
            "net_load": prepared.net_load,
            "pv": prepared.pv,
            "buy": prepared.buy,
            "sell": prepared.sell,
            "import_limit": prepared.import_limit,
            "export_limit": prepared.export_limit,
            "peak_floor": prepared.peak_floor,
            "peak_floor_next": prepared.peak_floor_next,
            "demand_charge": prepared.demand_charge,
            "demand_charge_next": prepared.demand_charge_next,
            "peak_relax": prepared.peak_relax,
            "peak_relax_next": prepared.peak_relax_next,
            "overrun_penalty": prepared.overrun_penalty,
        }
        if self._has_battery:
            values.update(
                energy0=prepared.energy0,
                energy_lo=prepared.energy_lo,
                energy_hi=prepared.energy_hi,
                charge_max=prepared.charge_max,
                discharge_max=prepared.discharge_max,
                throughput_cost=prepared.throughput_cost,
                terminal_value=prepared.terminal_value,
            )
        else:
            zeros = np.zeros((1, self.spec.n_steps))
            values.update(
                energy0=np.zeros(1),
                energy_lo=zeros,
                energy_hi=zeros,
                charge_max=zeros,
                discharge_max=zeros,
                throughput_cost=zeros,
                terminal_value=np.zeros(1),
            )
        if self.spec.n_ev:
            values.update(
                ev_max=prepared.ev_max,
                ev_required=prepared.ev_required,
                ev_cap=prepared.ev_cap,
                ev_penalty=prepared.ev_penalty,
            )
        return {name: np.asarray(value, dtype=float) for name, value in values.items()}


def _value(variable: Any) -> FloatArray:
    assert variable is not None and variable.value is not None
    result: FloatArray = np.asarray(variable.value, dtype=float)
    return result
