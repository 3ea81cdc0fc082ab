"""Plan summaries for `zoe-ems plan [--json]`, history and the northbound link: a JSON-ready dict and a text table.

Units in the output carry their name (kW, EUR/kWh, EUR); timestamps are ISO 8601 UTC with ``Z``.
Pure formatting: never solves and never does I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from zoe_ems.optimizer.problem import MpcInputs, MpcSolution


def plan_to_dict(inputs: MpcInputs, solution: MpcSolution, capacity_wh: tuple[float, ...] = ()) -> dict[str, Any]:
    """Per-interval prices, forecasts, battery power, grid and SOC, plus the expected cost (JSON-ready)."""
    n = len(solution.grid_p_w)
    capacity = np.asarray(capacity_wh, dtype=float)
    if capacity.size == solution.soc.shape[0] and capacity.sum() > 0:
        fleet_soc = (capacity[:, None] * solution.soc).sum(axis=0) / capacity.sum()
    else:
        fleet_soc = solution.soc.mean(axis=0) if solution.soc.size else np.zeros(n)
    intervals = []
    fleet = solution.fleet_p_w
    for i in range(n):
        intervals.append(
            {
                "start": iso_utc(solution.start_utc + i * solution.step_s),
                "buy_eur_per_kwh": round(float(inputs.buy_eur_per_kwh[i]), 5),
                "sell_eur_per_kwh": round(float(inputs.sell_eur_per_kwh[i]), 5),
                "load_kw": round(float(inputs.load_w[i]) / 1000.0, 3),
                "pv_kw": round(float(inputs.pv_w[i]) / 1000.0, 3),
                "battery_kw": round(float(fleet[i]) / 1000.0, 3),
                "grid_kw": round(float(solution.grid_p_w[i]) / 1000.0, 3),
                "curtail_kw": round(float(solution.curtail_w[i]) / 1000.0, 3),
                "ev_kw": round(float(solution.ev_p_w[:, i].sum()) / 1000.0, 3) if solution.ev_p_w.size else 0.0,
                "soc": round(float(fleet_soc[i]), 4),
            }
        )
    cost = solution.cost
    initial = solution.initial_soc
    if initial is not None and capacity.size == initial.size and capacity.sum() > 0:
        initial_fleet: float | None = float(np.dot(capacity, initial) / capacity.sum())
    else:
        initial_fleet = float(initial.mean()) if initial is not None and initial.size else None
    state_utc = solution.state_utc if solution.state_utc is not None else solution.start_utc
    return {
        "v": 1,
        "start": iso_utc(solution.start_utc),
        "step_s": solution.step_s,
        "soc_from": iso_utc(state_utc),
        "soc_initial": None if initial_fleet is None else round(initial_fleet, 4),
        "status": solution.status,
        "solve_time_ms": round(solution.solve_time_s * 1000.0, 3),
        "peak_kw": round(solution.peak_w / 1000.0, 3),
        "peak_reached_kw": round(inputs.peak_so_far_w / 1000.0, 3),
        "expected_peak_kw": round(inputs.expected_peak_w / 1000.0, 3),
        "expected_cost_eur": {
            "total": round(cost.total_eur, 4),
            "energy": round(cost.energy_eur, 4),
            "demand": round(cost.demand_eur, 4),
            "degradation": round(cost.degradation_eur, 4),
            "terminal_value": round(cost.terminal_value_eur, 4),
            "penalty": round(cost.penalty_eur, 4),
        },
        "intervals": intervals,
    }


def render_plan_text(summary: dict[str, Any], max_rows: int = 200) -> str:
    """Human-readable table of a ``plan_to_dict`` summary."""
    cost = summary["expected_cost_eur"]
    lines = [
        f"plan from {summary['start']}  step {summary['step_s'] / 60:.0f} min  status {summary['status']}  "
        f"solve {summary['solve_time_ms']:.1f} ms",
        f"expected cost {cost['total']:.2f} EUR (energy {cost['energy']:.2f}, demand {cost['demand']:.2f}, "
        f"wear {cost['degradation']:.2f}, stored value -{cost['terminal_value']:.2f}, penalty {cost['penalty']:.2f})"
        f"  peak {summary['peak_kw']:.1f} kW (reached {summary.get('peak_reached_kw', 0.0):.1f}, "
        f"expected {summary.get('expected_peak_kw', 0.0):.1f})",
        f"{'start (UTC)':<20} {'buy':>7} {'sell':>7} {'load kW':>8} {'pv kW':>8} {'batt kW':>8} "
        f"{'grid kW':>8} {'soc':>6}",
    ]
    for row in summary["intervals"][:max_rows]:
        lines.append(
            f"{row['start'][:16].replace('T', ' '):<20} {row['buy_eur_per_kwh']:>7.4f} {row['sell_eur_per_kwh']:>7.4f} "
            f"{row['load_kw']:>8.1f} {row['pv_kw']:>8.1f} {row['battery_kw']:>8.1f} {row['grid_kw']:>8.1f} "
            f"{row['soc'] * 100:>5.1f}%"
        )
    quality = summary.get("forecast_quality") or {}
    if quality:
        parts = [
            f"{name.removesuffix('_w')} MAE {score['mae_w'] / 1000.0:.1f} kW over {score['samples']} steps"
            for name, score in quality.items()
        ]
        lines.insert(2, "forecast quality: " + ", ".join(parts))
    hidden = len(summary["intervals"]) - max_rows
    if hidden > 0:
        lines.append(f"... {hidden} more intervals")
    return "\n".join(lines)


def iso_utc(timestamp: float) -> str:
    """ISO 8601 UTC with ``Z``."""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
