"""Turn raw solver values into a clean plan: net charge/discharge, re-simulate SOC, recompute grid and cost.

The returned plan never charges and discharges one battery in the same interval. This module is pure numpy;
it never solves and never publishes.
"""

from __future__ import annotations

import numpy as np

from zoe_ems.optimizer.prepare import Prepared
from zoe_ems.optimizer.problem import CostBreakdown, FloatArray, ModelSpec, MpcSolution

NEGLIGIBLE_W = 0.5
"""Battery power below this magnitude is planned as exactly zero (solver noise)."""


def build_solution(
    *,
    spec: ModelSpec,
    prepared: Prepared,
    start_utc: float,
    status: str,
    charge: FloatArray,
    discharge: FloatArray,
    curtail: FloatArray,
    ev: FloatArray,
    objective_eur: float,
    solve_time_s: float,
    iterations: int,
) -> MpcSolution:
    """Post-process per-unit solver values (battery x step arrays) into an SI plan."""
    base = prepared.power_base_w
    n_bat = len(spec.batteries)
    charge = np.clip(charge[:n_bat], 0.0, None)
    discharge = np.clip(discharge[:n_bat], 0.0, None)
    simultaneous = float(np.max(np.minimum(charge, discharge), initial=0.0)) * base
    net = charge - discharge
    net[np.abs(net) * base < NEGLIGIBLE_W] = 0.0
    net = np.clip(net, -prepared.discharge_max, prepared.charge_max)
    energy = simulate_energy(prepared, net)
    curtail = np.clip(curtail, 0.0, prepared.pv)
    ev = np.clip(ev, 0.0, prepared.ev_max) if ev.size else ev
    grid = prepared.net_load + net.sum(axis=0) + ev.sum(axis=0) + curtail
    # Solver tolerance can leave export a hair above its limit: curtail that bit more (never less).
    extra = np.clip(-prepared.export_limit - grid, 0.0, prepared.pv - curtail)
    curtail = curtail + extra
    grid = grid + extra
    cost, peak = plan_cost(prepared, net, grid, energy, ev)
    soc = energy / prepared.capacity[:, None] if n_bat else np.zeros((0, spec.n_steps))
    # Step 0 holds the remaining part's energy per full step: its physical power is value / fraction.
    head = np.ones(spec.n_steps)
    head[0] = 1.0 / prepared.first_fraction
    return MpcSolution(
        status=status,
        start_utc=start_utc,
        step_s=spec.step_s,
        battery_p_w=net * head * base,
        soc=soc,
        grid_p_w=grid * head * base,
        curtail_w=curtail * head * base,
        ev_p_w=ev * head * base if ev.size else ev * base,
        peak_w=peak * base,
        cost=cost,
        objective=objective_eur,
        solve_time_s=solve_time_s,
        iterations=iterations,
        raw_simultaneous_w=simultaneous,
        state_utc=prepared.state_utc,
        initial_soc=prepared.energy0 / prepared.capacity if n_bat else np.zeros(0),
    )


def simulate_energy(prepared: Prepared, net: FloatArray) -> FloatArray:
    """Stored energy (per unit) at the end of each step for per-unit AC battery power ``net``."""
    gain = np.where(net > 0, net * prepared.eta_c[:, None], net / prepared.eta_d[:, None]) * prepared.dt_h
    energy = prepared.energy0[:, None] + np.cumsum(gain, axis=1)
    result: FloatArray = np.clip(energy, 0.0, prepared.capacity[:, None])
    return result


def plan_cost(
    prepared: Prepared, net: FloatArray, grid: FloatArray, energy: FloatArray, ev: FloatArray
) -> tuple[CostBreakdown, float]:
    """Expected cost of a per-unit plan in euros (demand charge counted above the peak already reached)."""
    kw = prepared.power_base_w / 1000.0
    dt = prepared.dt_h
    imported = np.maximum(grid, 0.0)
    exported = np.maximum(-grid, 0.0)
    energy_eur = float(np.sum(prepared.buy * imported - prepared.sell * exported)) * dt * kw
    in_period = prepared.demand_mask == 1.0
    in_next = prepared.next_mask == 1.0
    step_import = imported + prepared.peak_offset
    peak = max(prepared.peak_floor, float(np.max(step_import[in_period], initial=0.0)))
    peak_next = max(prepared.peak_floor_next, float(np.max(step_import[in_next], initial=0.0)))
    demand_eur = (
        prepared.demand_charge * (peak - prepared.peak_reached) + prepared.demand_charge_next * peak_next
    ) * kw
    degradation_eur = float(np.sum(prepared.degradation[:, None] * np.abs(net))) * dt * kw if net.size else 0.0
    terminal_eur = float(np.sum(prepared.terminal_value * energy[:, -1])) * kw if energy.size else 0.0
    overrun = np.maximum(imported - prepared.import_limit, 0.0)
    shortfall = np.maximum(prepared.ev_required - ev.sum(axis=1) * dt, 0.0) if ev.size else np.zeros(0)
    penalty_eur = (
        prepared.overrun_penalty * float(np.sum(overrun)) * dt + float(np.sum(prepared.ev_penalty * shortfall))
    ) * kw
    cost = CostBreakdown(
        energy_eur=energy_eur,
        demand_eur=demand_eur,
        degradation_eur=degradation_eur,
        terminal_value_eur=terminal_eur,
        penalty_eur=penalty_eur,
    )
    return cost, peak
