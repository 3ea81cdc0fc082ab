"""Safety envelope: the hard limits every setpoint must satisfy, whatever the controllers ask.

Per battery unit: PCS rating, BMS/PCS charge and discharge limits (power, or current × voltage), SOC window,
backup reserve, unit faults (offline, alarm, unknown SOC → zero), ramp rate. For the fleet: headroom reserved
for frequency services. For the grid connection: static import/export limits, dynamic operating envelopes and
per-phase fuse limits. Pure functions over plain values so it can be property-tested alone; never performs
I/O and never chooses a setpoint inside the limits (that is the arbiter's job).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from zoe_ems.control.inputs import EnvelopeInput
from zoe_ems.control.siteview import BatteryUnit

INF = float("inf")
EPS_W = 1e-6


@dataclass(frozen=True, slots=True)
class Limit:
    """A closed range [min_w, max_w] with the reason for each side."""

    min_w: float
    max_w: float
    min_reason: str = ""
    max_reason: str = ""

    def clamp(self, value_w: float) -> float:
        """``value_w`` forced into the range."""
        return min(self.max_w, max(self.min_w, value_w))

    def contains(self, value_w: float, tol_w: float = 1e-3) -> bool:
        return self.min_w - tol_w <= value_w <= self.max_w + tol_w


@dataclass(frozen=True, slots=True)
class EnvelopeParams:
    """Configuration of the envelope (SI units)."""

    soc_min: float
    soc_max: float
    backup_soc: float | None = None
    ramp_w_per_s: float | None = None
    reserve_up_w: float = 0.0
    reserve_down_w: float = 0.0
    import_limit_w: float = INF
    export_limit_w: float = INF
    fuse_a: float | None = None
    voltage_v: float = 230.0


@dataclass(frozen=True, slots=True)
class UnitLimit:
    """Limits of one battery unit: ``hard`` (device and SOC) and ``final`` (``hard`` within the ramp)."""

    hard: Limit
    final: Limit


def unit_limit(unit: BatteryUnit, params: EnvelopeParams, prev_w: float | None, dt_s: float) -> UnitLimit:
    """The envelope of one battery unit; ``prev_w`` is the last commanded power (None: no ramp history)."""
    if unit.faults or unit.soc is None:
        code = unit.faults[0][0] if unit.faults else "SOC_UNKNOWN"
        zero = Limit(0.0, 0.0, code, code)
        return UnitLimit(hard=zero, final=zero)
    if unit.charge_limit_w < unit.rated_w:
        hi, hi_reason = unit.charge_limit_w, f"BMS/PCS charge limit {_kw(unit.charge_limit_w)}"
    else:
        hi, hi_reason = unit.rated_w, f"PCS rating {_kw(unit.rated_w)}"
    if unit.discharge_limit_w < unit.rated_w:
        lo, lo_reason = -unit.discharge_limit_w, f"BMS/PCS discharge limit {_kw(unit.discharge_limit_w)}"
    else:
        lo, lo_reason = -unit.rated_w, f"PCS rating {_kw(unit.rated_w)}"
    if unit.soc >= params.soc_max:
        hi, hi_reason = 0.0, f"SOC {unit.soc:.3f} ≥ soc_max {params.soc_max:.3f}"
    if unit.soc <= params.soc_min:
        lo, lo_reason = 0.0, f"SOC {unit.soc:.3f} ≤ soc_min {params.soc_min:.3f}"
    elif params.backup_soc is not None and unit.soc <= params.backup_soc:
        lo, lo_reason = 0.0, f"SOC {unit.soc:.3f} ≤ backup reserve {params.backup_soc:.3f}"
    hard = Limit(lo, hi, lo_reason, hi_reason)
    if params.ramp_w_per_s is None or prev_w is None:
        return UnitLimit(hard=hard, final=hard)
    step = params.ramp_w_per_s * max(0.0, dt_s)
    ramp_reason = f"ramp {_kw(params.ramp_w_per_s)}/s"
    r_lo, r_hi = prev_w - step, prev_w + step
    if r_lo > hi or r_hi < lo:
        # The previous setpoint lies outside the hard limits: the hard limit wins, jump to its nearest edge.
        point = hard.clamp(prev_w)
        reason = hi_reason if point == hi else lo_reason
        return UnitLimit(hard=hard, final=Limit(point, point, reason, reason))
    final = Limit(
        r_lo if r_lo > lo else lo,
        r_hi if r_hi < hi else hi,
        ramp_reason if r_lo > lo else lo_reason,
        ramp_reason if r_hi < hi else hi_reason,
    )
    return UnitLimit(hard=hard, final=final)


def fleet_limit(units: Iterable[UnitLimit], params: EnvelopeParams) -> Limit:
    """The battery fleet's range: the sum of unit ranges, minus the headroom reserved for frequency services.

    The reserve only narrows how far the fleet may discharge (charge); it never forces the opposite direction.
    """
    units = list(units)
    lo = sum(u.final.min_w for u in units)
    hi = sum(u.final.max_w for u in units)
    hard_lo = sum(u.hard.min_w for u in units)
    hard_hi = sum(u.hard.max_w for u in units)
    lo_reason = _joined(u.final.min_reason for u in units)
    hi_reason = _joined(u.final.max_reason for u in units)
    if params.reserve_up_w > 0:
        reserved_lo = min(0.0, hard_lo + params.reserve_up_w)
        if reserved_lo > lo:
            lo, lo_reason = reserved_lo, f"frequency reserve up {_kw(params.reserve_up_w)}"
    if params.reserve_down_w > 0:
        reserved_hi = max(0.0, hard_hi - params.reserve_down_w)
        if reserved_hi < hi:
            hi, hi_reason = reserved_hi, f"frequency reserve down {_kw(params.reserve_down_w)}"
    if hi < lo:
        hi, hi_reason = lo, lo_reason
    return Limit(lo, hi, lo_reason, hi_reason)


def grid_limit(
    params: EnvelopeParams,
    envelopes: Iterable[EnvelopeInput] = (),
    grid_w: float | None = None,
    phase_p_w: tuple[float, float, float] | None = None,
) -> Limit:
    """Allowed grid power [−export, +import]: static limits, dynamic operating envelopes and the fuse."""
    imp, imp_reason = params.import_limit_w, f"static import limit {_kw(params.import_limit_w)}"
    exp, exp_reason = params.export_limit_w, f"static export limit {_kw(params.export_limit_w)}"
    for env in envelopes:
        if env.import_limit_w is not None and env.import_limit_w < imp:
            imp, imp_reason = (
                env.import_limit_w,
                f"operating envelope {env.command_id} import {_kw(env.import_limit_w)}",
            )
        if env.export_limit_w is not None and env.export_limit_w < exp:
            exp, exp_reason = (
                env.export_limit_w,
                f"operating envelope {env.command_id} export {_kw(env.export_limit_w)}",
            )
    if params.fuse_a is not None:
        phase_w = params.fuse_a * params.voltage_v
        if 3 * phase_w < imp:
            imp, imp_reason = 3 * phase_w, f"fuse {params.fuse_a:g} A × 3 phases"
        if 3 * phase_w < exp:
            exp, exp_reason = 3 * phase_w, f"fuse {params.fuse_a:g} A × 3 phases"
        if phase_p_w is not None and grid_w is not None:
            # Controllable assets are taken as balanced three-phase: a change ΔP moves each phase by ΔP/3.
            up = min(phase_w - p for p in phase_p_w)
            down = max(-phase_w - p for p in phase_p_w)
            phase_imp = grid_w + 3 * up
            phase_exp = -(grid_w + 3 * down)
            if phase_imp < imp:
                worst = min(range(3), key=lambda i: phase_w - phase_p_w[i])
                imp, imp_reason = phase_imp, f"fuse {params.fuse_a:g} A on L{worst + 1}"
            if phase_exp < exp:
                worst = max(range(3), key=lambda i: -phase_w - phase_p_w[i])
                exp, exp_reason = phase_exp, f"fuse {params.fuse_a:g} A on L{worst + 1}"
    return Limit(-exp, imp, exp_reason, imp_reason)


def check_units(values_w: Mapping[str, float], limits: Mapping[str, UnitLimit], tol_w: float = 1e-3) -> list[str]:
    """Violations of unit limits by ``values_w`` (empty when all are inside); used by tests and as a guard."""
    problems = []
    for unit_id, value in values_w.items():
        limit = limits[unit_id].final
        if not limit.contains(value, tol_w):
            problems.append(f"{unit_id}: {value:.1f} W outside [{limit.min_w:.1f}, {limit.max_w:.1f}]")
    return problems


def _kw(value_w: float) -> str:
    return "∞" if value_w == INF else f"{value_w / 1000.0:g} kW"


def _joined(reasons: Iterable[str]) -> str:
    unique = list(dict.fromkeys(r for r in reasons if r))
    return unique[0] if len(unique) == 1 else "; ".join(unique[:3])
