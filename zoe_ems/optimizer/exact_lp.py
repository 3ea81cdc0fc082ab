"""Exact reference LP of the same economics, built directly as sparse matrices and solved by HiGHS (scipy).

Independent of the cvxpy model (own formulation, own solver): tests cross-check the MPC's objective against
it, and the economics benchmark uses it for the perfect-foresight optimum over whole periods with several
billing-period peaks. Never used on the real-time path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from zoe_ems.optimizer.postprocess import build_solution
from zoe_ems.optimizer.prepare import Prepared, prepare
from zoe_ems.optimizer.problem import FloatArray, ModelSpec, MpcInputs, MpcSolution


@dataclass(frozen=True, kw_only=True)
class DemandPeriod:
    """One billing period's peak: steps where ``mask`` is true count; ``floor_w`` is the peak already reached."""

    mask: np.ndarray
    charge_eur_per_kw: float
    floor_w: float = 0.0


def solve_exact(
    spec: ModelSpec, inputs: MpcInputs, periods: list[DemandPeriod] | None = None
) -> tuple[MpcSolution, float]:
    """Solve the instance exactly with HiGHS; returns the post-processed plan and the LP objective in euros.

    ``periods`` replaces the (current, next) peaks of ``inputs`` with any number of billing periods.
    Raises RuntimeError when HiGHS finds no optimum.
    """
    prepared = prepare(spec, inputs)
    base = prepared.power_base_w
    if periods is None:
        periods = [
            DemandPeriod(
                mask=prepared.demand_mask == 1.0,
                charge_eur_per_kw=prepared.demand_charge,
                floor_w=prepared.peak_floor * base,
            ),
            DemandPeriod(
                mask=prepared.next_mask == 1.0,
                charge_eur_per_kw=prepared.demand_charge_next,
                floor_w=prepared.peak_floor_next * base,
            ),
        ]
    started = time.perf_counter()
    x, objective = _solve(spec, prepared, periods)
    elapsed = time.perf_counter() - started
    n = spec.n_steps
    n_bat = len(spec.batteries)
    layout = _Layout(n, n_bat, spec.n_ev, len(periods))
    charge = np.array([x[layout.charge(b)] for b in range(n_bat)]).reshape(n_bat, n)
    discharge = np.array([x[layout.discharge(b)] for b in range(n_bat)]).reshape(n_bat, n)
    ev = np.array([x[layout.ev(k)] for k in range(spec.n_ev)]).reshape(spec.n_ev, n)
    solution = build_solution(
        spec=spec,
        prepared=prepared,
        start_utc=inputs.start_utc,
        status="optimal",
        charge=charge,
        discharge=discharge,
        curtail=x[layout.curtail],
        ev=ev,
        objective_eur=objective * base / 1000.0,
        solve_time_s=elapsed,
        iterations=0,
    )
    return solution, objective * base / 1000.0


class _Layout:
    """Index ranges of the LP's variable vector."""

    def __init__(self, n: int, n_bat: int, n_ev: int, n_periods: int) -> None:
        self.n = n
        self.n_bat = n_bat
        self.n_ev = n_ev
        self.grid_import = slice(0, n)
        self.grid_export = slice(n, 2 * n)
        self.curtail = slice(2 * n, 3 * n)
        self.overrun = slice(3 * n, 4 * n)
        self._battery0 = 4 * n
        self._ev0 = self._battery0 + 3 * n * n_bat
        self._peak0 = self._ev0 + n * n_ev
        self._short0 = self._peak0 + n_periods
        self.size = self._short0 + n_ev

    def charge(self, b: int) -> slice:
        return slice(self._battery0 + 3 * b * self.n, self._battery0 + (3 * b + 1) * self.n)

    def discharge(self, b: int) -> slice:
        return slice(self._battery0 + (3 * b + 1) * self.n, self._battery0 + (3 * b + 2) * self.n)

    def energy(self, b: int) -> slice:
        return slice(self._battery0 + (3 * b + 2) * self.n, self._battery0 + (3 * b + 3) * self.n)

    def ev(self, k: int) -> slice:
        return slice(self._ev0 + k * self.n, self._ev0 + (k + 1) * self.n)

    def peak(self, j: int) -> int:
        return self._peak0 + j

    def shortfall(self, k: int) -> int:
        return self._short0 + k


def _solve(spec: ModelSpec, pr: Prepared, periods: list[DemandPeriod]) -> tuple[FloatArray, float]:
    n = spec.n_steps
    n_bat = len(spec.batteries)
    dt = pr.dt_h
    lay = _Layout(n, n_bat, spec.n_ev, len(periods))
    steps = np.arange(n)
    cost = np.zeros(lay.size)
    lower = np.zeros(lay.size)
    upper = np.full(lay.size, np.inf)
    cost[lay.grid_import] = pr.buy * dt
    cost[lay.grid_export] = -pr.sell * dt
    cost[lay.overrun] = pr.overrun_penalty * dt
    upper[lay.grid_export] = pr.export_limit
    upper[lay.curtail] = pr.pv

    eq_rows: list[np.ndarray] = []
    eq_cols: list[np.ndarray] = []
    eq_vals: list[np.ndarray] = []
    eq_rhs: list[np.ndarray] = []

    def add_eq(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        eq_rows.append(rows)
        eq_cols.append(cols)
        eq_vals.append(np.broadcast_to(vals, rows.shape).astype(float))

    # Balance: import - export - charge + discharge - ev - curtail = net load.
    add_eq(steps, steps + lay.grid_import.start, np.array(1.0))
    add_eq(steps, steps + lay.grid_export.start, np.array(-1.0))
    add_eq(steps, steps + lay.curtail.start, np.array(-1.0))
    eq_rhs.append(pr.net_load)
    row0 = n
    for b in range(n_bat):
        ch, dis, en = lay.charge(b), lay.discharge(b), lay.energy(b)
        add_eq(steps, steps + ch.start, np.array(-1.0))
        add_eq(steps, steps + dis.start, np.array(1.0))
        cost[ch] = pr.throughput_cost[b] * dt
        cost[dis] = pr.throughput_cost[b] * dt
        cost[en.stop - 1] = -pr.terminal_value[b]
        upper[ch] = pr.charge_max[b]
        upper[dis] = pr.discharge_max[b]
        lower[en] = pr.energy_lo[b]
        upper[en] = pr.energy_hi[b]
        # energy[t] - energy[t-1] - eta_c dt charge[t] + dt/eta_d discharge[t] = 0 (energy[-1] = energy0).
        rows = row0 + steps
        add_eq(rows, steps + en.start, np.array(1.0))
        add_eq(rows[1:], steps[:-1] + en.start, np.array(-1.0))
        add_eq(rows, steps + ch.start, np.array(-pr.eta_c[b] * dt))
        add_eq(rows, steps + dis.start, np.array(dt / pr.eta_d[b]))
        rhs = np.zeros(n)
        rhs[0] = pr.energy0[b]
        eq_rhs.append(rhs)
        row0 += n
    for k in range(spec.n_ev):
        add_eq(steps, steps + lay.ev(k).start, np.array(-1.0))
        upper[lay.ev(k)] = pr.ev_max[k]
        cost[lay.shortfall(k)] = pr.ev_penalty[k]

    ub_rows: list[np.ndarray] = []
    ub_cols: list[np.ndarray] = []
    ub_vals: list[np.ndarray] = []
    ub_rhs: list[np.ndarray] = []

    def add_ub(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        ub_rows.append(rows)
        ub_cols.append(cols)
        ub_vals.append(np.broadcast_to(vals, rows.shape).astype(float))

    # import - overrun <= import limit
    add_ub(steps, steps + lay.grid_import.start, np.array(1.0))
    add_ub(steps, steps + lay.overrun.start, np.array(-1.0))
    ub_rhs.append(pr.import_limit)
    urow = n
    for j, period in enumerate(periods):
        mask_steps = steps[np.asarray(period.mask, dtype=bool)]
        cost[lay.peak(j)] = period.charge_eur_per_kw
        lower[lay.peak(j)] = period.floor_w / pr.power_base_w
        rows = urow + np.arange(mask_steps.size)
        add_ub(rows, mask_steps + lay.grid_import.start, np.array(1.0))
        add_ub(rows, np.full(mask_steps.size, lay.peak(j)), np.array(-1.0))
        ub_rhs.append(-pr.peak_offset[mask_steps])
        urow += mask_steps.size
    for k in range(spec.n_ev):
        evs = lay.ev(k)
        # -dt * sum(ev) - shortfall <= -required ; dt * sum(ev) <= cap
        add_ub(np.full(n, urow), steps + evs.start, np.array(-dt))
        add_ub(np.array([urow]), np.array([lay.shortfall(k)]), np.array(-1.0))
        add_ub(np.full(n, urow + 1), steps + evs.start, np.array(dt))
        ub_rhs.append(np.array([-pr.ev_required[k], pr.ev_cap[k]]))
        urow += 2

    a_eq = sp.csr_matrix(
        (np.concatenate(eq_vals), (np.concatenate(eq_rows), np.concatenate(eq_cols))), shape=(row0, lay.size)
    )
    a_ub = sp.csr_matrix(
        (np.concatenate(ub_vals), (np.concatenate(ub_rows), np.concatenate(ub_cols))), shape=(urow, lay.size)
    )
    result = linprog(
        cost,
        A_ub=a_ub,
        b_ub=np.concatenate(ub_rhs),
        A_eq=a_eq,
        b_eq=np.concatenate(eq_rhs),
        bounds=np.column_stack([lower, upper]),
        method="highs",
    )
    if result.status != 0 or result.x is None:
        raise RuntimeError(f"HiGHS found no optimum: {result.message}")
    x: FloatArray = np.asarray(result.x, dtype=float)
    return x, float(result.fun)
