"""MPC solve time: cold (build + first solve) and warm re-solve p50/p99 by horizon length and battery count.

Warm re-solves follow a receding horizon: each solve starts one step later on real Belgian day-ahead prices
(../shared/data), with the previous plan's first-step SOC as the new state, as the planner does.

    python bench/mpc_solve.py [--json] [--quick] [--prices PATH]

Progress goes to stderr; with --json the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from zoe_ems.optimizer.exact_lp import solve_exact
from zoe_ems.optimizer.model import MpcModel, OsqpSettings
from zoe_ems.optimizer.problem import BatterySpec, ModelSpec, MpcInputs
from zoe_ems.optimizer.tariffs import load_price_csv

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PRICES = ROOT.parent / "shared" / "data" / "be_day_ahead_2022_2024_utc.csv"
STEP_S = 900.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--quick", action="store_true", help="reduced run (under a minute)")
    parser.add_argument("--prices", type=Path, default=DEFAULT_PRICES, help="day-ahead price CSV")
    parser.add_argument("--resolves", type=int, default=None, help="warm re-solves per case")
    parser.add_argument(
        "--osqp-alpha", type=float, default=OsqpSettings().alpha, help="OSQP relaxation (OSQP's own default: 1.6)"
    )
    parser.add_argument("--osqp-eps", type=float, default=OsqpSettings().eps_abs, help="OSQP eps_abs = eps_rel")
    args = parser.parse_args()
    settings = OsqpSettings(alpha=args.osqp_alpha, eps_abs=args.osqp_eps, eps_rel=args.osqp_eps)

    prices = load_price_csv(args.prices)
    quarter = np.repeat(prices.values, round(prices.step_s / STEP_S))
    steps = [96, 192, 672]
    counts = [1, 4, 16]
    resolves = args.resolves or (15 if args.quick else 100)
    cases = [(n, b) for n in steps for b in counts]
    if args.quick:
        cases = [(96, 1), (96, 4), (192, 1), (672, 1), (96, 16)]
    results = []
    load_start = _loadavg()
    for n, n_bat in cases:
        result = run_case(quarter, n, n_bat, resolves, settings)
        results.append(result)
        print(
            f"{n:4d} steps x {n_bat:2d} batteries: cold {result['cold_ms']:.1f} ms, warm p50 "
            f"{result['warm_p50_ms']:.2f} ms p99 {result['warm_p99_ms']:.2f} ms, "
            f"max objective gap vs HiGHS {result['max_gap_pct']:.3f} %, "
            f"HiGHS fallbacks {result['highs_fallback_solves']}",
            file=sys.stderr,
        )
    summary = {
        "benchmark": "mpc_solve",
        "quick": args.quick,
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "resolves_per_case": resolves,
        "osqp": {"alpha": settings.alpha, "eps": settings.eps_abs},
        "loadavg_start": load_start,
        "loadavg_end": _loadavg(),
        "cases": results,
        "targets": {
            "96x1_warm_p50_ms_le_5": _lookup(results, 96, 1) <= 5.0,
            "672x1_warm_p50_ms_le_100": _lookup(results, 672, 1) <= 100.0,
        },
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(json.dumps(summary, indent=2))
    return 0


def run_case(prices: np.ndarray, n: int, n_bat: int, resolves: int, settings: OsqpSettings) -> dict[str, float | int]:
    """Cold build + solve, then ``resolves`` receding-horizon warm solves; objective checked against HiGHS."""
    batteries = tuple(
        BatterySpec(name=f"b{i}", capacity_wh=500e3 / n_bat, max_charge_w=250e3 / n_bat, max_discharge_w=250e3 / n_bat)
        for i in range(n_bat)
    )
    spec = ModelSpec(n_steps=n, step_s=STEP_S, batteries=batteries)
    rng = np.random.default_rng(n * 100 + n_bat)
    offset = 4 * 24 * 500  # mid-2023
    total = n + resolves + 1
    hours = (np.arange(offset, offset + total) * STEP_S / 3600.0) % 24.0
    load = 170e3 + 120e3 * np.clip(np.sin(2 * np.pi * (hours - 6) / 24), 0, None) + rng.normal(0, 10e3, total)
    pv = -np.clip(210e3 * np.sin(2 * np.pi * (hours - 6) / 24), 0, None)
    soc = np.full(n_bat, 0.5)

    def inputs_at(k: int) -> MpcInputs:
        window = slice(offset + k, offset + k + n)
        spot = prices[window]
        return MpcInputs(
            start_utc=(offset + k) * STEP_S,
            load_w=load[k : k + n],
            pv_w=pv[k : k + n],
            buy_eur_per_kwh=spot + 0.08,
            sell_eur_per_kwh=spot - 0.01,
            soc=soc,
            import_limit_w=np.full(n, 400e3),
            export_limit_w=np.full(n, 200e3),
            demand_charge_eur_per_kw=4.0,
            peak_so_far_w=150e3,
        )

    started = time.perf_counter()
    model = MpcModel(spec, settings)
    first = model.solve(inputs_at(0))
    cold_ms = (time.perf_counter() - started) * 1000.0
    soc = first.soc[:, 0]
    warm: list[float] = []
    gaps: list[float] = []
    for k in range(1, resolves + 1):
        inputs = inputs_at(k)
        tick = time.perf_counter()
        plan = model.solve(inputs)
        warm.append((time.perf_counter() - tick) * 1000.0)
        soc = plan.soc[:, 0]
        if k % max(1, resolves // 3) == 0:
            _, exact = solve_exact(spec, inputs)
            gaps.append(abs(plan.objective - exact) / abs(exact) * 100.0)
    times = np.asarray(warm)
    return {
        "steps": n,
        "batteries": n_bat,
        "cold_ms": round(cold_ms, 2),
        "build_ms": round(model.build_time_s * 1000.0, 2),
        "warm_p50_ms": round(float(np.percentile(times, 50)), 3),
        "warm_p99_ms": round(float(np.percentile(times, 99)), 3),
        "max_gap_pct": round(max(gaps) if gaps else 0.0, 4),
        "highs_fallback_solves": model.fallbacks,
    }


def _loadavg() -> list[float] | None:
    """1, 5 and 15-minute load averages (the machine may be shared), None where /proc is absent."""
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def _lookup(results: list[dict[str, float | int]], n: int, n_bat: int) -> float:
    for result in results:
        if result["steps"] == n and result["batteries"] == n_bat:
            return float(result["warm_p50_ms"])
    return float("nan")


if __name__ == "__main__":
    sys.exit(main())
