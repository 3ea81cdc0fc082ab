"""Economics of the MPC on real Belgian day-ahead prices for a C&I site, against baselines and the optimum.

Strategies, each simulated over the same consecutive days at 15-min resolution:
  no battery; rule-based self-consumption; MPC re-planning every 15 min with perfect load/PV knowledge;
  MPC with its own forecasts (weekly load profile, clear-sky PV scaled by recent production); and the
  perfect-foresight optimum over the whole period solved as one LP (HiGHS).
The MPC runs with the site file's defaults (horizon, terminal value of stored energy, expected monthly peak from
the measured history), as the daemon does. It sees day-ahead prices only as the market publishes them (next day
from 13:00 Brussels time); unpublished hours are forecast as the same hour one day earlier. Costs include energy
(buy = spot + grid fee, sell = spot - fee), monthly demand charges and battery wear; the energy left at the end
is credited at the same value for every strategy. Load and PV are synthetic (seeded) and do not depend on the
horizon.

    python bench/economics.py [--json] [--quick] [--prices PATH] [--days N] [--start YYYY-MM-DD] ...

Progress goes to stderr; with --json the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from zoe_ems.config.optimizer import BatteryEconomicsConfig, ExpectedPeakConfig, OptimizerConfig
from zoe_ems.optimizer.clearsky import clear_sky_pv_fraction
from zoe_ems.optimizer.exact_lp import DemandPeriod, solve_exact
from zoe_ems.optimizer.forecast import LoadForecaster, PvForecaster
from zoe_ems.optimizer.model import MpcModel, OsqpSettings
from zoe_ems.optimizer.peak import ExpectedPeak, Fleet
from zoe_ems.optimizer.problem import BatterySpec, FloatArray, ModelSpec, MpcInputs
from zoe_ems.optimizer.tariffs import fill_unknown, load_price_csv

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PRICES = ROOT.parent / "shared" / "data" / "be_day_ahead_2022_2024_utc.csv"
STEP_S = 900.0
DAY_STEPS = 96
BRUSSELS = ZoneInfo("Europe/Brussels")
LAT, LON = 50.85, 4.35
WARMUP_DAYS = 28
DATA_PAD_STEPS = 7 * DAY_STEPS
"""Synthetic data always extends this far past the simulated days (at least the horizon), so that load and PV
do not depend on the horizon (the random draws follow the series' length)."""


@dataclass(frozen=True)
class Site:
    capacity_kwh: float
    power_kw: float
    pv_kwp: float
    load_gwh_per_year: float
    grid_fee: float
    sell_fee: float
    demand_charge: float
    import_limit_kw: float
    export_limit_kw: float
    degradation: float
    efficiency: float
    horizon_h: float
    terminal_value: float | None
    """EUR/kWh of stored energy at the horizon end in the MPC; None = the optimizer's default (as the daemon)."""
    expected_peak_days: int
    expected_peak_fraction: float


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="7 days instead of 60")
    parser.add_argument("--prices", type=Path, default=DEFAULT_PRICES)
    parser.add_argument("--days", type=int, default=None)
    parser.add_argument("--start", default="2023-04-01", help="first simulated day (UTC date)")
    parser.add_argument("--capacity-kwh", type=float, default=500.0)
    parser.add_argument("--power-kw", type=float, default=250.0)
    parser.add_argument("--pv-kwp", type=float, default=300.0)
    parser.add_argument("--load-gwh", type=float, default=1.5, help="annual load, GWh")
    parser.add_argument("--grid-fee", type=float, default=0.08, help="EUR/kWh added to spot for import")
    parser.add_argument("--sell-fee", type=float, default=0.01, help="EUR/kWh deducted from spot for export")
    parser.add_argument("--demand-charge", type=float, default=4.0, help="EUR per kW of monthly peak")
    parser.add_argument("--import-limit-kw", type=float, default=600.0)
    parser.add_argument("--export-limit-kw", type=float, default=400.0)
    parser.add_argument("--degradation", type=float, default=0.02, help="EUR per kWh throughput")
    parser.add_argument("--efficiency", type=float, default=0.95, help="one-way efficiency")
    defaults = OptimizerConfig()
    parser.add_argument("--horizon-h", type=float, default=defaults.horizon_h, help="MPC horizon (site file default)")
    parser.add_argument(
        "--terminal-value",
        type=float,
        default=BatteryEconomicsConfig().terminal_value_eur_per_kwh,
        help="EUR/kWh of stored energy at the horizon end (default: the optimizer's own, as in the daemon)",
    )
    parser.add_argument(
        "--expected-peak-days",
        type=int,
        default=ExpectedPeakConfig().lookback_days,
        help="history days for the expected monthly peak (optimizer.expected_peak.lookback_days; 0: off)",
    )
    parser.add_argument(
        "--expected-peak-fraction",
        type=float,
        default=ExpectedPeakConfig().fraction,
        help="optimizer.expected_peak.fraction (0: off)",
    )
    parser.add_argument(
        "--osqp-alpha", type=float, default=OsqpSettings().alpha, help="OSQP relaxation (OSQP's own default: 1.6)"
    )
    parser.add_argument(
        "--perfect-prices", action="store_true", help="the MPC sees all future prices (separates price uncertainty)"
    )
    parser.add_argument("--osqp-eps", type=float, default=OsqpSettings().eps_abs, help="OSQP eps_abs = eps_rel")
    parser.add_argument("--no-forecasts", action="store_true", help="skip the MPC with its own forecasts (faster)")
    args = parser.parse_args()
    days = args.days or (7 if args.quick else 60)
    site = Site(
        args.capacity_kwh,
        args.power_kw,
        args.pv_kwp,
        args.load_gwh,
        args.grid_fee,
        args.sell_fee,
        args.demand_charge,
        args.import_limit_kw,
        args.export_limit_kw,
        args.degradation,
        args.efficiency,
        args.horizon_h,
        args.terminal_value,
        args.expected_peak_days,
        args.expected_peak_fraction,
    )
    started = time.perf_counter()
    load_start = _loadavg()
    settings = OsqpSettings(alpha=args.osqp_alpha, eps_abs=args.osqp_eps, eps_rel=args.osqp_eps)
    result = run(
        site,
        args.prices,
        args.start,
        days,
        settings,
        perfect_prices=args.perfect_prices,
        forecasts=not args.no_forecasts,
    )
    result["perfect_prices"] = args.perfect_prices
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    result["osqp"] = {"alpha": args.osqp_alpha, "eps": args.osqp_eps}
    result["loadavg_start"] = load_start
    result["loadavg_end"] = _loadavg()
    result["quick"] = args.quick
    result["machine"] = {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()}
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


def run(
    site: Site,
    prices_path: Path,
    start_date: str,
    days: int,
    settings: OsqpSettings,
    perfect_prices: bool = False,
    forecasts: bool = True,
) -> dict[str, object]:
    prices = load_price_csv(prices_path)
    spot_all = np.repeat(prices.values, round(prices.step_s / STEP_S))
    t0 = datetime.fromisoformat(start_date).replace(tzinfo=UTC).timestamp()
    first = round((t0 - prices.start_utc) / STEP_S)
    n_sim = days * DAY_STEPS
    horizon = round(site.horizon_h * 3600.0 / STEP_S)
    begin = first - WARMUP_DAYS * DAY_STEPS
    total = WARMUP_DAYS * DAY_STEPS + n_sim + max(horizon, DATA_PAD_STEPS)
    if begin < DAY_STEPS or begin + total > spot_all.size:
        raise SystemExit(f"--start/--days: outside the price file ({prices_path})")
    times: FloatArray = prices.start_utc + STEP_S * np.arange(begin, begin + total, dtype=np.float64)
    load, pv = synthetic_site(site, times)
    spot = spot_all[begin : begin + total]
    w = WARMUP_DAYS * DAY_STEPS
    sim = slice(w, w + n_sim)
    buy = spot + site.grid_fee
    sell = spot - site.sell_fee
    battery = BatterySpec(
        name="bess",
        capacity_wh=site.capacity_kwh * 1e3,
        max_charge_w=site.power_kw * 1e3,
        max_discharge_w=site.power_kw * 1e3,
        charge_efficiency=site.efficiency,
        discharge_efficiency=site.efficiency,
        soc_min=0.05,
        soc_max=0.95,
        degradation_eur_per_kwh=site.degradation,
    )
    months_all = month_index(times)
    months = months_all[sim]
    terminal = site.efficiency * float(np.mean(buy[sim]))
    ctx = Context(
        site,
        battery,
        times,
        load,
        pv,
        spot,
        buy,
        sell,
        w,
        n_sim,
        months,
        months_all,
        terminal,
        settings,
        perfect_prices,
    )
    results: dict[str, dict[str, float]] = {}

    log(
        f"{days} days from {start_date}: load {load[sim].sum() * 0.25 / 1e6:.1f} MWh, "
        f"PV {-pv[sim].sum() * 0.25 / 1e6:.1f} MWh"
    )
    results["no_battery"] = ctx.evaluate(np.zeros(n_sim))
    log(f"no battery: {results['no_battery']['total_eur']:.0f} EUR")
    results["self_consumption"] = ctx.evaluate(ctx.self_consumption())
    log(f"self-consumption: {results['self_consumption']['total_eur']:.0f} EUR")
    tick = time.perf_counter()
    optimum = ctx.perfect_foresight()
    results["optimum"] = ctx.evaluate(optimum)
    log(f"perfect-foresight LP: {results['optimum']['total_eur']:.0f} EUR ({time.perf_counter() - tick:.1f} s)")
    solve_ms: dict[str, list[float]] = {}
    strategies = (("mpc_perfect_knowledge", False), ("mpc_forecasts", True))
    for name, with_forecasts in strategies if forecasts else strategies[:1]:
        tick = time.perf_counter()
        power, times_ms = ctx.mpc(horizon, with_forecasts)
        results[name] = ctx.evaluate(power)
        solve_ms[name] = times_ms
        log(f"{name}: {results[name]['total_eur']:.0f} EUR ({time.perf_counter() - tick:.1f} s)")
    base = results["no_battery"]["total_eur"]
    best = base - results["optimum"]["total_eur"]
    captured = {
        name: round((base - results[name]["total_eur"]) / best * 100.0, 2) if best > 0 else None
        for name in ("self_consumption", "mpc_perfect_knowledge", "mpc_forecasts", "optimum")
        if name in results
    }
    log(f"share of the optimum's savings: {captured}")
    return {
        "benchmark": "economics",
        "days": days,
        "start": start_date,
        "site": site.__dict__,
        "costs_eur": {k: {m: round(v, 2) for m, v in r.items()} for k, r in results.items()},
        "savings_captured_pct": captured,
        "target_mpc_perfect_knowledge_ge_95pct": (captured["mpc_perfect_knowledge"] or 0.0) >= 95.0,
        "mpc_highs_fallback_solves": ctx.fallbacks,
        "mpc_osqp_failures": ctx.osqp_failures,
        "mpc_solves_per_strategy": n_sim,
        "mpc_solve_ms_p50": {k: round(float(np.median(v)), 2) for k, v in solve_ms.items()},
        "mpc_solve_ms_p99": {k: round(float(np.percentile(v, 99)), 2) for k, v in solve_ms.items()},
    }


@dataclass
class Context:
    site: Site
    battery: BatterySpec
    times: FloatArray
    load: FloatArray
    pv: FloatArray
    spot: FloatArray
    buy: FloatArray
    sell: FloatArray
    w: int
    n_sim: int
    months: np.ndarray
    months_all: np.ndarray
    terminal: float
    settings: OsqpSettings
    perfect_prices: bool = False
    fallbacks: dict[str, int] = field(default_factory=dict)
    osqp_failures: dict[str, int] = field(default_factory=dict)

    def evaluate(self, battery_w: FloatArray) -> dict[str, float]:
        """Realized cost of following ``battery_w`` (clipped to what SOC allows) over the simulated steps."""
        b = self.battery
        sim = slice(self.w, self.w + self.n_sim)
        energy = 0.5 * b.capacity_wh
        applied = np.zeros(self.n_sim)
        for k in range(self.n_sim):
            p = float(battery_w[k])
            if p > 0:
                p = min(p, b.max_charge_w, (b.soc_max * b.capacity_wh - energy) / (b.charge_efficiency * 0.25))
                energy += p * b.charge_efficiency * 0.25
            else:
                p = max(p, -b.max_discharge_w, -(energy - b.soc_min * b.capacity_wh) * b.discharge_efficiency / 0.25)
                energy += p / b.discharge_efficiency * 0.25
            applied[k] = p
        grid = self.load[sim] + self.pv[sim] + applied
        grid = np.maximum(grid, -self.site.export_limit_kw * 1e3)  # curtail what cannot be exported
        imported = np.maximum(grid, 0.0)
        exported = np.maximum(-grid, 0.0)
        energy_eur = float(np.sum(self.buy[sim] * imported - self.sell[sim] * exported)) * 0.25 / 1000.0
        demand_eur = sum(
            float(imported[self.months == m].max()) / 1000.0 * self.site.demand_charge for m in np.unique(self.months)
        )
        wear_eur = float(np.sum(np.abs(applied))) * 0.25 / 1000.0 * b.degradation_eur_per_kwh
        stored_eur = (energy - 0.5 * b.capacity_wh) / 1000.0 * self.terminal
        total = energy_eur + demand_eur + wear_eur - stored_eur
        return {
            "total_eur": total,
            "energy_eur": energy_eur,
            "demand_eur": demand_eur,
            "wear_eur": wear_eur,
            "stored_energy_credit_eur": stored_eur,
        }

    def self_consumption(self) -> FloatArray:
        """Rule: charge from PV surplus, discharge to cover net load (grid held at zero where possible)."""
        sim = slice(self.w, self.w + self.n_sim)
        result: FloatArray = -(self.load[sim] + self.pv[sim])
        return result

    def perfect_foresight(self) -> FloatArray:
        spec = ModelSpec(
            n_steps=self.n_sim, step_s=STEP_S, batteries=(self.battery,), power_base_w=self.battery.max_charge_w
        )
        inputs = self._inputs(
            self.w,
            self.n_sim,
            self.load[self.w : self.w + self.n_sim],
            self.pv[self.w : self.w + self.n_sim],
            self.buy[self.w : self.w + self.n_sim],
            self.sell[self.w : self.w + self.n_sim],
            np.array([0.5]),
            0.0,
        )
        periods = [
            DemandPeriod(mask=self.months == m, charge_eur_per_kw=self.site.demand_charge)
            for m in np.unique(self.months)
        ]
        solution, _ = solve_exact(spec, inputs, periods)
        result: FloatArray = solution.battery_p_w[0]
        return result

    def mpc(self, horizon: int, forecasts: bool) -> tuple[FloatArray, list[float]]:
        spec = ModelSpec(
            n_steps=horizon, step_s=STEP_S, batteries=(self.battery,), power_base_w=self.battery.max_charge_w
        )
        model = MpcModel(spec, self.settings)
        load_fc = LoadForecaster(history_days=WARMUP_DAYS, recency_half_life_days=7.0)
        pv_fc = PvForecaster(
            latitude=LAT, longitude=LON, peak_w=self.site.pv_kwp * 1e3, history_days=3, recency_half_life_days=1.0
        )
        history = ArrayHistory(self.times, {"load_w": self.load, "pv_w": self.pv})
        # As the daemon's SiteInputsBuilder: the expected monthly peak from measured history (both strategies).
        expected = ExpectedPeak(
            lookback_days=self.site.expected_peak_days,
            fraction=self.site.expected_peak_fraction,
            timezone=str(BRUSSELS),
        )
        fleet = Fleet.of((self.battery,))
        b = self.battery
        soc = 0.5
        peak = 0.0
        month = self.months[0]
        power = np.zeros(self.n_sim)
        solve_ms: list[float] = []
        for k in range(self.n_sim):
            i = self.w + k
            now = float(self.times[i])
            if self.months[k] != month:
                month, peak = self.months[k], 0.0
            known_until = float("inf") if self.perfect_prices else published_until(now)
            window = self.spot[i - DAY_STEPS : i + horizon].copy()
            window[self.times[i - DAY_STEPS : i + horizon] >= known_until] = np.nan
            spot = fill_unknown(window, STEP_S)[DAY_STEPS:]
            history.now = now
            if forecasts:
                load = load_fc.forecast(history, now, STEP_S, horizon)
                pv = pv_fc.forecast(history, now, STEP_S, horizon)
                load[0], pv[0] = self.load[i], self.pv[i]  # the current interval is measured
            else:
                load, pv = self.load[i : i + horizon], self.pv[i : i + horizon]
            month_mask = (self.months_ahead(i, horizon) == month).astype(float)
            inputs = self._inputs(
                i, horizon, load, pv, spot + self.site.grid_fee, spot - self.site.sell_fee, np.array([soc]), peak
            )
            inputs.demand_mask = month_mask
            inputs.next_period_mask = 1.0 - month_mask
            inputs.next_period_demand_charge_eur_per_kw = self.site.demand_charge
            inputs.terminal_value_eur_per_kwh = (
                None if self.site.terminal_value is None else np.array([self.site.terminal_value])
            )
            inputs.expected_peak_w = expected.floor_w(history, now, STEP_S, fleet)
            plan = model.solve(inputs)
            solve_ms.append(plan.solve_time_s * 1000.0)
            p = float(plan.battery_p_w[0, 0])
            # The control loop follows the plan but its peak-shaving layer holds import at the planned peak.
            target = max(peak, plan.peak_w)
            p = min(p, target - self.load[i] - self.pv[i])
            # Apply like the control loop: within power and SOC limits.
            if p > 0:
                p = min(p, b.max_charge_w, (b.soc_max - soc) * b.capacity_wh / (b.charge_efficiency * 0.25))
                soc += p * b.charge_efficiency * 0.25 / b.capacity_wh
            else:
                p = max(p, -b.max_discharge_w, -(soc - b.soc_min) * b.capacity_wh * b.discharge_efficiency / 0.25)
                soc += p / b.discharge_efficiency * 0.25 / b.capacity_wh
            power[k] = p
            peak = max(peak, self.load[i] + self.pv[i] + p)
            if k % (DAY_STEPS * 7) == 0:
                log(f"  {'forecast' if forecasts else 'perfect'} MPC day {k // DAY_STEPS}: soc {soc:.2f}")
        self.fallbacks[("forecasts" if forecasts else "perfect")] = model.fallbacks
        self.osqp_failures[("forecasts" if forecasts else "perfect")] = model.osqp_failures
        return power, solve_ms

    def months_ahead(self, i: int, horizon: int) -> np.ndarray:
        return self.months_all[i : i + horizon]

    def _inputs(
        self,
        i: int,
        n: int,
        load: FloatArray,
        pv: FloatArray,
        buy: FloatArray,
        sell: FloatArray,
        soc: FloatArray,
        peak: float,
    ) -> MpcInputs:
        return MpcInputs(
            start_utc=float(self.times[i]),
            load_w=load,
            pv_w=np.minimum(pv, 0.0),
            buy_eur_per_kwh=buy,
            sell_eur_per_kwh=sell,
            soc=soc,
            import_limit_w=np.full(n, self.site.import_limit_kw * 1e3),
            export_limit_w=np.full(n, self.site.export_limit_kw * 1e3),
            demand_charge_eur_per_kw=self.site.demand_charge,
            peak_so_far_w=peak,
            terminal_value_eur_per_kwh=np.array([self.terminal]),
        )


class ArrayHistory:
    """HistorySource over arrays, hiding everything at or after ``now``."""

    def __init__(self, times: FloatArray, series: dict[str, FloatArray]) -> None:
        self.times = times
        self.data = series
        self.now = float("inf")

    def series(self, name: str, start_utc: float, end_utc: float, step_s: float) -> FloatArray:
        count = round((end_utc - start_utc) / step_s)
        first = round((start_utc - self.times[0]) / STEP_S)
        index = first + np.arange(count)
        valid = (index >= 0) & (index < self.times.size)
        out = np.full(count, np.nan)
        out[valid] = self.data[name][index[valid]]
        out[start_utc + step_s * np.arange(count) >= self.now] = np.nan
        return out


def published_until(now_utc: float) -> float:
    """End (UTC) of the day-ahead prices known at ``now_utc``: tomorrow's after 13:00 Brussels, else today's."""
    local = datetime.fromtimestamp(now_utc, tz=BRUSSELS)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    days = 2 if local.hour >= 13 else 1
    end = datetime.fromordinal(midnight.toordinal() + days).replace(tzinfo=BRUSSELS)
    return end.timestamp()


def synthetic_site(site: Site, times: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Commercial load (weekday business hours, seasonal) and PV (clear sky x daily cloudiness), seeded."""
    rng = np.random.default_rng(7)
    local_hours = np.array([datetime.fromtimestamp(t, tz=BRUSSELS).hour for t in times[::4]]).repeat(4)[: times.size]
    weekday = np.array([datetime.fromtimestamp(t, tz=BRUSSELS).weekday() for t in times[::96]]).repeat(96)[: times.size]
    business = ((local_hours >= 7) & (local_hours < 19) & (weekday < 5)).astype(float)
    shape = 0.45 + 1.0 * business + 0.15 * ((local_hours >= 19) & (local_hours < 22) & (weekday < 5))
    noise = np.clip(1.0 + rng.normal(0.0, 0.08, times.size), 0.6, 1.5)
    load = shape * noise
    load *= site.load_gwh_per_year * 1e9 / 8760.0 / float(np.mean(load))
    days = times.size // 96 + 2
    cloud = np.clip(rng.beta(2.2, 1.3, days), 0.05, 1.0).repeat(96)[: times.size]
    flicker = np.clip(1.0 + rng.normal(0.0, 0.1, times.size), 0.5, 1.2)
    pv = -site.pv_kwp * 1e3 * 0.85 * clear_sky_pv_fraction(times + STEP_S / 2, LAT, LON) * cloud * flicker
    return load, np.minimum(pv, 0.0)


def month_index(times: FloatArray) -> np.ndarray:
    hourly = np.array([_month(t) for t in times[::4]])
    return hourly.repeat(4)[: times.size]


def _month(t: float) -> int:
    local = datetime.fromtimestamp(t, tz=BRUSSELS)
    return local.year * 12 + local.month


def _loadavg() -> list[float] | None:
    """1, 5 and 15-minute load averages (the machine may be shared), None where /proc is absent."""
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
