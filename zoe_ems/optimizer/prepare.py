"""Turn SI inputs into the per-unit numbers both LP formulations use (cvxpy model and exact reference LP).

Owns input validation (errors name the field), the per-unit scaling, reachable-SOC clipping that keeps
every instance feasible, and the anti-cycling throughput cost. It never builds or solves a problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoe_ems.optimizer.problem import FloatArray, InputError, ModelSpec, MpcInputs

ANTI_CYCLING_MARGIN = 1.25
"""Throughput cost at negative prices is this factor above break-even for a charge/discharge loop."""
MIN_THROUGHPUT_EUR_PER_KWH = 1e-4
"""Tiny floor so that a loop is never cost-neutral (degenerate) at zero prices and zero wear cost."""
BIG_M = 1e3
"""Per-unit cap on limits before the tighter physical bounds are applied."""
MIN_FIRST_STEP_FRACTION = 0.05
"""A first step with less than this fraction left is planned as if this fraction were left (keeps the
first step's physical power = scaled value / fraction away from solver noise)."""


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """Per-unit (power / power_base, energy / (power_base x 1 h)) data of one solve; prices in EUR/kWh."""

    power_base_w: float
    dt_h: float
    net_load: FloatArray
    pv: FloatArray
    buy: FloatArray
    sell: FloatArray
    import_limit: FloatArray
    export_limit: FloatArray
    energy0: FloatArray
    energy_lo: FloatArray
    energy_hi: FloatArray
    charge_max: FloatArray
    discharge_max: FloatArray
    throughput_cost: FloatArray
    terminal_value: FloatArray
    eta_c: FloatArray
    eta_d: FloatArray
    capacity: FloatArray
    degradation: FloatArray
    peak_floor: float
    """Floor of the current period's planned peak: the peak reached, or the expected peak when higher."""
    peak_reached: float
    """Peak already reached this period (the plan's demand cost counts only what lies above it)."""
    peak_floor_next: float
    """Floor of the next period's planned peak (the expected peak)."""
    demand_charge: float
    demand_charge_next: float
    peak_relax: FloatArray
    peak_relax_next: FloatArray
    ev_max: FloatArray
    ev_required: FloatArray
    ev_cap: FloatArray
    ev_penalty: FloatArray
    overrun_penalty: float
    load: FloatArray
    demand_mask: FloatArray
    """1 where a step counts for the current billing period's peak."""
    next_mask: FloatArray
    """1 where a step counts for the next billing period's peak."""
    peak_offset: FloatArray
    """Import already measured in each step (only the elapsed part of the first step), counted in its peak."""
    first_fraction: float
    """Part of the first step still ahead (1 = whole step). Step-0 powers are energies of the remaining part
    per full step: physical power = value / first_fraction."""
    state_utc: float


def power_base_w(spec: ModelSpec) -> float:
    """The scale of per-unit power: the spec's explicit base, else the largest battery rating (1 kW if none)."""
    if spec.power_base_w > 0:
        return spec.power_base_w
    ratings = [b.max_charge_w for b in spec.batteries] + [b.max_discharge_w for b in spec.batteries]
    base = max(ratings) if ratings else 0.0
    return base if base > 0 else 1000.0


def prepare(spec: ModelSpec, inputs: MpcInputs) -> Prepared:
    """Validate ``inputs`` against ``spec`` and convert to per-unit; raises InputError naming the field."""
    n = spec.n_steps
    n_bat = len(spec.batteries)
    base = power_base_w(spec)
    dt_h = spec.step_h

    first, state_utc = _first_fraction(inputs, spec.step_s)
    # Step 0 covers only [now, start + step): its powers become energies of that part per full step.
    head = np.ones(n)
    head[0] = first
    load = _vector(inputs.load_w, n, "load_w") / base
    pv_passive = _vector(inputs.pv_w, n, "pv_w")
    if np.any(pv_passive > 1.0):
        raise InputError("pv_w: PV forecast must use the passive sign (production negative), got positive values")
    pv = np.maximum(-pv_passive, 0.0) / base
    elapsed_import = (
        max(float(load[0] - pv[0]), 0.0)
        if inputs.elapsed_import_w is None
        else max(_finite(inputs.elapsed_import_w, "elapsed_import_w"), 0.0) / base
    )
    load = load * head
    pv = pv * head
    buy = _vector(inputs.buy_eur_per_kwh, n, "buy_eur_per_kwh")
    sell = np.minimum(_vector(inputs.sell_eur_per_kwh, n, "sell_eur_per_kwh"), buy)
    import_limit = np.minimum(_vector(inputs.import_limit_w, n, "import_limit_w", allow_inf=True), 1e12) / base
    export_limit = np.minimum(_vector(inputs.export_limit_w, n, "export_limit_w", allow_inf=True), 1e12) / base
    import_limit = np.minimum(np.maximum(import_limit, 0.0), BIG_M) * head
    export_limit = np.minimum(np.maximum(export_limit, 0.0), BIG_M) * head

    soc = np.asarray(inputs.soc, dtype=float).reshape(-1)
    if soc.shape != (n_bat,) or not np.all(np.isfinite(soc)):
        raise InputError(f"soc: expected {n_bat} finite values (one per battery), got {soc.shape[0]}")
    capacity = np.array([b.capacity_wh for b in spec.batteries], dtype=float) / base
    eta_c = np.array([b.charge_efficiency for b in spec.batteries], dtype=float)
    eta_d = np.array([b.discharge_efficiency for b in spec.batteries], dtype=float)
    soc_min = np.array([b.soc_min for b in spec.batteries], dtype=float)
    soc_max = np.array([b.soc_max for b in spec.batteries], dtype=float)
    floor = _matrix(inputs.soc_floor, n_bat, n, "soc_floor", default=soc_min)
    ceiling = _matrix(inputs.soc_ceiling, n_bat, n, "soc_ceiling", default=soc_max)
    floor = np.maximum(floor, soc_min[:, None])
    ceiling = np.minimum(ceiling, soc_max[:, None])
    floor = np.minimum(floor, ceiling)
    charge_max = _matrix(
        inputs.charge_max_w, n_bat, n, "charge_max_w", default=np.array([b.max_charge_w for b in spec.batteries])
    )
    discharge_max = _matrix(
        inputs.discharge_max_w,
        n_bat,
        n,
        "discharge_max_w",
        default=np.array([b.max_discharge_w for b in spec.batteries]),
    )
    charge_max = np.clip(charge_max, 0.0, None) / base * head
    discharge_max = np.clip(discharge_max, 0.0, None) / base * head

    energy0 = np.clip(soc, 0.0, 1.0) * capacity
    energy_lo = floor * capacity[:, None]
    energy_hi = ceiling * capacity[:, None]
    # Keep every instance feasible: a floor above what full-power charging can reach by then is lowered to
    # that reach (and a ceiling below what full-power discharging can reach is raised).
    reach_up = energy0[:, None] + np.cumsum(charge_max * eta_c[:, None] * dt_h, axis=1)
    reach_down = energy0[:, None] - np.cumsum(discharge_max / eta_d[:, None] * dt_h, axis=1)
    energy_lo = np.minimum(energy_lo, reach_up)
    energy_hi = np.maximum(energy_hi, reach_down)
    energy_hi = np.minimum(np.maximum(energy_hi, energy_lo), capacity[:, None])
    energy_lo = np.maximum(np.minimum(energy_lo, energy_hi), 0.0)

    degradation = np.array([b.degradation_eur_per_kwh for b in spec.batteries], dtype=float)
    throughput_cost = _throughput_cost(degradation, eta_c * eta_d, buy, sell)

    if inputs.terminal_value_eur_per_kwh is None:
        terminal_value = eta_d * float(np.mean(np.maximum(buy, 0.0)))
    else:
        terminal_value = np.asarray(inputs.terminal_value_eur_per_kwh, dtype=float).reshape(-1)
        if terminal_value.shape == (1,):
            terminal_value = np.repeat(terminal_value, n_bat)
        if terminal_value.shape != (n_bat,) or not np.all(np.isfinite(terminal_value)):
            raise InputError(f"terminal_value_eur_per_kwh: expected {n_bat} finite values")

    mask = _mask(inputs.demand_mask, n, "demand_mask", default=1.0)
    next_mask = _mask(inputs.next_period_mask, n, "next_period_mask", default=0.0)
    if inputs.demand_charge_eur_per_kw < 0 or inputs.next_period_demand_charge_eur_per_kw < 0:
        raise InputError("demand_charge_eur_per_kw: must be >= 0")
    if inputs.peak_so_far_w < 0 or not np.isfinite(inputs.peak_so_far_w):
        raise InputError("peak_so_far_w: must be a finite value >= 0")
    if inputs.expected_peak_w < 0 or not np.isfinite(inputs.expected_peak_w):
        raise InputError("expected_peak_w: must be a finite value >= 0")

    ev_max, ev_required, ev_cap, ev_penalty = _evs(spec, inputs, base)
    ev_max = ev_max * head
    # Tight big-M values keep OSQP well conditioned: grid import can never exceed load + full charging
    # + EV power, and export never PV + full discharging, so larger limits are replaced by these bounds.
    max_import = load + charge_max.sum(axis=0) + ev_max.sum(axis=0) + 1e-3
    max_export = pv + discharge_max.sum(axis=0) + 1e-3
    import_limit = np.minimum(import_limit, max_import)
    export_limit = np.minimum(export_limit, max_export)
    peak_offset = np.zeros(n)
    peak_offset[0] = (1.0 - first) * elapsed_import
    return Prepared(
        power_base_w=base,
        dt_h=dt_h,
        net_load=load - pv,
        pv=pv,
        buy=buy,
        sell=sell,
        import_limit=import_limit,
        export_limit=export_limit,
        energy0=energy0,
        energy_lo=energy_lo,
        energy_hi=energy_hi,
        charge_max=charge_max,
        discharge_max=discharge_max,
        throughput_cost=throughput_cost,
        terminal_value=np.asarray(terminal_value, dtype=float) * np.ones(n_bat),
        eta_c=eta_c,
        eta_d=eta_d,
        capacity=capacity,
        degradation=degradation,
        peak_floor=max(inputs.peak_so_far_w, inputs.expected_peak_w) / base,
        peak_reached=inputs.peak_so_far_w / base,
        peak_floor_next=inputs.expected_peak_w / base if next_mask.any() else 0.0,
        demand_charge=inputs.demand_charge_eur_per_kw,
        demand_charge_next=inputs.next_period_demand_charge_eur_per_kw,
        peak_relax=(1.0 - mask) * max_import - mask * peak_offset,
        peak_relax_next=(1.0 - next_mask) * max_import - next_mask * peak_offset,
        ev_max=ev_max,
        ev_required=ev_required,
        ev_cap=ev_cap,
        ev_penalty=ev_penalty,
        overrun_penalty=float(inputs.import_overrun_eur_per_kwh),
        load=load,
        demand_mask=mask,
        next_mask=next_mask,
        peak_offset=peak_offset,
        first_fraction=first,
        state_utc=state_utc,
    )


def anti_cycling_cost(round_trip_efficiency: float, price_eur_per_kwh: float) -> float:
    """Smallest throughput cost (EUR/kWh) at which a charge/discharge loop cannot earn at ``price``."""
    if price_eur_per_kwh >= 0:
        return 0.0
    return -price_eur_per_kwh * (1.0 - round_trip_efficiency) / (1.0 + round_trip_efficiency)


def _throughput_cost(degradation: FloatArray, round_trip: FloatArray, buy: FloatArray, sell: FloatArray) -> FloatArray:
    # A loop (charge c, discharge c*eta_rt in one step) changes grid energy by c*(1 - eta_rt) at the marginal
    # price (between sell and buy). At a negative price that earns |p|*c*(1-eta_rt); throughput costs
    # w*c*(1+eta_rt). Raising w above the break-even (with margin) on those steps makes a loop a loss.
    lowest = np.minimum(np.minimum(buy, sell), 0.0)
    breakeven = -lowest[None, :] * ((1.0 - round_trip) / (1.0 + round_trip))[:, None]
    cost = np.maximum(degradation[:, None], ANTI_CYCLING_MARGIN * breakeven)
    result: FloatArray = np.maximum(cost, MIN_THROUGHPUT_EUR_PER_KWH)
    return result


def _evs(spec: ModelSpec, inputs: MpcInputs, base: float) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    n = spec.n_steps
    if len(inputs.evs) != spec.n_ev:
        raise InputError(f"evs: the model was built for {spec.n_ev} EV(s), got {len(inputs.evs)} requests")
    ev_max = np.zeros((spec.n_ev, n))
    ev_required = np.zeros(spec.n_ev)
    ev_cap = np.zeros(spec.n_ev)
    ev_penalty = np.zeros(spec.n_ev)
    starts = inputs.start_utc + spec.step_s * np.arange(n)
    for index, ev in enumerate(inputs.evs):
        if ev.energy_wh < 0 or ev.max_power_w < 0:
            raise InputError(f"evs[{index}]: energy_wh and max_power_w must be >= 0")
        # Fraction of each step during which the car is plugged in and before its departure.
        overlap = np.clip(
            np.minimum(starts + spec.step_s, ev.departure_utc) - np.maximum(starts, ev.arrival_utc), 0.0, spec.step_s
        )
        ev_max[index] = ev.max_power_w * overlap / spec.step_s / base
        ev_required[index] = ev.energy_wh / base
        cap = ev.max_energy_wh if ev.max_energy_wh is not None else ev.energy_wh
        ev_cap[index] = max(cap, ev.energy_wh) / base
        ev_penalty[index] = ev.shortfall_eur_per_kwh
    return ev_max, ev_required, ev_cap, ev_penalty


def _first_fraction(inputs: MpcInputs, step_s: float) -> tuple[float, float]:
    if inputs.now_utc is None:
        return 1.0, inputs.start_utc
    now = _finite(inputs.now_utc, "now_utc")
    if not inputs.start_utc <= now < inputs.start_utc + step_s:
        raise InputError(
            f"now_utc: {now} must lie inside the first step [{inputs.start_utc}, {inputs.start_utc + step_s})"
        )
    left = (inputs.start_utc + step_s - now) / step_s
    return max(left, MIN_FIRST_STEP_FRACTION), now


def _finite(value: float, name: str) -> float:
    result = float(value)
    if not np.isfinite(result):
        raise InputError(f"{name}: must be finite, got {value}")
    return result


def _vector(values: object, n: int, name: str, allow_inf: bool = False) -> FloatArray:
    array = np.asarray(values, dtype=float).reshape(-1)
    if array.shape == (1,):
        array = np.repeat(array, n)
    if array.shape != (n,):
        raise InputError(f"{name}: expected {n} values (one per step), got {array.shape[0]}")
    bad = np.isnan(array) if allow_inf else ~np.isfinite(array)
    if np.any(bad):
        raise InputError(f"{name}: non-finite value at step {int(np.argmax(bad))}")
    return array


def _matrix(values: FloatArray | None, rows: int, n: int, name: str, default: FloatArray) -> FloatArray:
    if values is None:
        return np.repeat(np.asarray(default, dtype=float).reshape(rows, 1), n, axis=1)
    array = np.asarray(values, dtype=float)
    if array.ndim == 1 and array.shape[0] == n and rows == 1:
        array = array.reshape(1, n)
    if array.shape != (rows, n) or not np.all(np.isfinite(array)):
        raise InputError(f"{name}: expected a finite {rows} x {n} array (battery x step), got shape {array.shape}")
    return array


def _mask(values: FloatArray | None, n: int, name: str, default: float) -> FloatArray:
    if values is None:
        return np.full(n, default)
    array = _vector(values, n, name)
    if np.any((array != 0.0) & (array != 1.0)):
        raise InputError(f"{name}: values must be 0 or 1")
    return array
