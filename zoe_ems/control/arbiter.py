"""Arbiter: turns prioritised proposals into one value per asset, inside the envelope, without fights.

The feasible set is a box per asset (battery fleet, each PV inverter, each EV charger) plus one range on their
sum, because grid = base + Σ assets. Proposals are walked from the highest priority down; each bound is
intersected with what higher priorities left. A bound that would empty the set is recorded as infeasible and is
honoured only as far as possible (the set is narrowed to its edge nearest the bound), never overriding a higher
priority. A preference pins its asset to the feasible value nearest to it, so lower priorities choose only among
what is left. Unpinned assets end at their default (battery idle, PV uncurtailed, EV off) moved as little as
needed to satisfy the sum: to import less the battery discharges, then EVs slow; to export less the battery
charges, then PV is curtailed, then EVs
speed up. Pure and synchronous; never reads devices or time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from zoe_ems.control.envelope import Limit
from zoe_ems.control.record import AssetRecord, format_kw
from zoe_ems.control.types import GRID, INF, Bound, Preference, Proposal, asset_group

TOL_W = 1e-6
ENVELOPE = "envelope"

_DOWN_ORDER = ("battery", "ev")
"""Groups moved (in order) to lower the sum when import is too high."""
_UP_ORDER = ("battery", "pv", "ev")
"""Groups moved (in order) to raise the sum when export is too high (EVs only as a last resort)."""


@dataclass(frozen=True, slots=True)
class AssetSpec:
    """One controllable asset as the arbiter sees it."""

    key: str
    limit: Limit
    """Envelope range of the asset."""
    default_w: float
    """Value when nobody expresses a preference (clamped into the range)."""
    min_on_w: float = 0.0
    """Values strictly between 0 and this are not allowed (EV minimum current): they become 0."""


@dataclass(frozen=True, slots=True)
class BoundOutcome:
    """What the arbiter did with one bound of one proposal."""

    controller: str
    priority: int
    asset: str
    min_w: float
    max_w: float
    reason: str
    feasible: bool


@dataclass(frozen=True, slots=True)
class PreferenceOutcome:
    """What the arbiter did with one preference."""

    controller: str
    priority: int
    asset: str
    requested_w: float
    reason: str
    pinned: dict[str, float]


@dataclass(slots=True)
class Resolution:
    """The arbiter's result for one cycle."""

    values: dict[str, float]
    grid_w: float
    """Predicted grid power with these values (base + Σ values)."""
    grid_range: tuple[float, float]
    bounds: list[BoundOutcome] = field(default_factory=list)
    preferences: list[PreferenceOutcome] = field(default_factory=list)
    records: list[AssetRecord] = field(default_factory=list)


def arbitrate(
    assets: Sequence[AssetSpec],
    base_w: float,
    grid_envelope: Limit,
    proposals: Iterable[Proposal],
) -> Resolution:
    """Resolve ``proposals`` (any order; sorted here by priority, stable) over ``assets``."""
    state = _State(assets, base_w)
    state.apply_grid(
        ENVELOPE,
        1 << 30,
        grid_envelope.min_w,
        grid_envelope.max_w,
        grid_envelope.min_reason,
        grid_envelope.max_reason,
        record=False,
    )
    ordered = sorted(proposals, key=lambda p: -p.priority)
    for proposal in ordered:
        for bound in proposal.bounds:
            state.apply_bound(proposal, bound)
        for pref in proposal.preferences:
            state.apply_preference(proposal, pref)
    return state.finish()


class _State:
    """Mutable feasible set during one arbitration."""

    def __init__(self, assets: Sequence[AssetSpec], base_w: float) -> None:
        self.specs = list(assets)
        self.index = {a.key: i for i, a in enumerate(self.specs)}
        self.base = base_w
        self.lo = [a.limit.min_w for a in self.specs]
        self.hi = [a.limit.max_w for a in self.specs]
        self.lo_src = [f"{ENVELOPE}: {a.limit.min_reason}" for a in self.specs]
        self.hi_src = [f"{ENVELOPE}: {a.limit.max_reason}" for a in self.specs]
        self.pinned: list[str | None] = [None] * len(self.specs)
        self.pin_cause: list[str | None] = [None] * len(self.specs)
        self.moved: list[str | None] = [None] * len(self.specs)
        self.glo = -INF
        self.ghi = INF
        self.glo_src = ""
        self.ghi_src = ""
        self.bounds: list[BoundOutcome] = []
        self.prefs: list[PreferenceOutcome] = []
        self.notes: list[list[str]] = [[] for _ in self.specs]

    # -- feasibility ---------------------------------------------------------------------------------------------

    def _sum_range(self) -> tuple[float, float]:
        """Range of the grid power reachable within the boxes."""
        return self.base + sum(self.lo), self.base + sum(self.hi)

    def _asset_range(self, i: int) -> tuple[float, float]:
        """Projection of the feasible set on asset ``i``."""
        s_lo = sum(self.lo) - self.lo[i]
        s_hi = sum(self.hi) - self.hi[i]
        lo = max(self.lo[i], self.glo - self.base - s_hi)
        hi = min(self.hi[i], self.ghi - self.base - s_lo)
        return lo, hi

    # -- bounds --------------------------------------------------------------------------------------------------

    def apply_bound(self, proposal: Proposal, bound: Bound) -> None:
        if bound.asset == GRID:
            self.apply_grid(
                proposal.controller,
                proposal.priority,
                bound.min_w,
                bound.max_w,
                bound.reason,
                bound.reason,
                record=True,
            )
            return
        i = self.index.get(bound.asset)
        if i is None:
            return  # asset not controllable this cycle (offline, read-only): nothing to bound
        f_lo, f_hi = self._asset_range(i)
        text = f"{proposal.controller} bound {_describe(bound.min_w, bound.max_w, asset=True)}"
        if bound.reason:
            text += f" ({bound.reason})"
        b_min, b_max = bound.min_w, bound.max_w
        min_on = self.specs[i].min_on_w
        if min_on > 0:
            # Between 0 and the minimum the asset cannot run: a minimum rounds up, a maximum rounds down to 0.
            b_min = min_on if 0.0 < b_min < min_on else b_min
            b_max = 0.0 if 0.0 < b_max < min_on else b_max
        feasible = b_min <= f_hi + TOL_W and b_max >= f_lo - TOL_W
        if feasible:
            if b_min > self.lo[i] + TOL_W:
                self.lo[i], self.lo_src[i] = min(b_min, self.hi[i]), text
            elif abs(b_min - self.lo[i]) <= TOL_W:
                self.lo_src[i] = _also(self.lo_src[i], text)
            if b_max < self.hi[i] - TOL_W:
                self.hi[i], self.hi_src[i] = max(b_max, self.lo[i]), text
            elif abs(b_max - self.hi[i]) <= TOL_W:
                self.hi_src[i] = _also(self.hi_src[i], text)
        elif b_max < f_lo:
            # Narrow towards the bound, never outside what higher priorities (and the envelope) left.
            self.hi[i] = min(self.hi[i], max(self.lo[i], f_lo))
            self.hi_src[i] = text + " [infeasible: as low as allowed]"
        else:
            self.lo[i] = max(self.lo[i], min(self.hi[i], f_hi))
            self.lo_src[i] = text + " [infeasible: as high as allowed]"
        self.notes[i].append(text if feasible else text + " [infeasible]")
        self.bounds.append(
            BoundOutcome(
                proposal.controller, proposal.priority, bound.asset, bound.min_w, bound.max_w, bound.reason, feasible
            )
        )

    def apply_grid(
        self,
        controller: str,
        priority: int,
        g_min: float,
        g_max: float,
        min_reason: str,
        max_reason: str,
        *,
        record: bool,
    ) -> None:
        s_lo, s_hi = self._sum_range()
        f_lo, f_hi = max(self.glo, s_lo), min(self.ghi, s_hi)
        text_min = f"{controller} bound max export {format_kw(-g_min)}" + (f" ({min_reason})" if min_reason else "")
        text_max = f"{controller} bound max import {format_kw(g_max)}" + (f" ({max_reason})" if max_reason else "")
        if controller == ENVELOPE:
            text_min, text_max = f"{ENVELOPE}: {min_reason}", f"{ENVELOPE}: {max_reason}"
        feasible = g_min <= f_hi + TOL_W and g_max >= f_lo - TOL_W
        if feasible:
            if g_min > self.glo + TOL_W:
                self.glo, self.glo_src = g_min, text_min
            elif abs(g_min - self.glo) <= TOL_W:
                self.glo_src = _also(self.glo_src, text_min)
            if g_max < self.ghi - TOL_W:
                self.ghi, self.ghi_src = g_max, text_max
            elif abs(g_max - self.ghi) <= TOL_W:
                self.ghi_src = _also(self.ghi_src, text_max)
        elif g_max < f_lo:
            self.ghi = min(self.ghi, max(self.glo, f_lo))
            self.ghi_src = text_max + " [infeasible: as low as possible]"
        else:
            self.glo = max(self.glo, min(self.ghi, f_hi))
            self.glo_src = text_min + " [infeasible: as high as possible]"
        if record:
            self.bounds.append(
                BoundOutcome(controller, priority, GRID, g_min, g_max, max_reason or min_reason, feasible)
            )

    # -- preferences ---------------------------------------------------------------------------------------------

    def apply_preference(self, proposal: Proposal, pref: Preference) -> None:
        target = f"grid {format_kw(pref.value_w)}" if pref.asset == GRID else format_kw(pref.value_w)
        text = f"{proposal.controller} preferred {target}" + (f" ({pref.reason})" if pref.reason else "")
        if pref.asset == GRID:
            pinned = self._pin_grid(pref, text)
        else:
            i = self.index.get(pref.asset)
            pinned = {} if i is None else {pref.asset: self._pin(i, pref.value_w, text)}
        self.prefs.append(
            PreferenceOutcome(proposal.controller, proposal.priority, pref.asset, pref.value_w, pref.reason, pinned)
        )

    def _pin_grid(self, pref: Preference, text: str) -> dict[str, float]:
        actuators = [
            i for i, a in enumerate(self.specs) if asset_group(a.key) in pref.actuators and self.pinned[i] is None
        ]
        if not actuators:
            return {}
        acting = set(actuators)
        others = 0.0
        for i, spec in enumerate(self.specs):
            if i in acting or asset_group(spec.key) in pref.exclude:
                continue
            others += self._provisional(i)
        needed = pref.value_w - self.base - others
        pinned: dict[str, float] = {}
        # Order actuators by group as listed in the preference.
        actuators.sort(key=lambda i: pref.actuators.index(asset_group(self.specs[i].key)))
        remaining_default = sum(self._provisional(i) for i in actuators)
        for i in actuators:
            remaining_default -= self._provisional(i)
            value = self._pin(i, needed - remaining_default, text)
            pinned[self.specs[i].key] = value
            needed -= value
        return pinned

    def _provisional(self, i: int) -> float:
        lo, hi = self.lo[i], self.hi[i]
        return min(hi, max(lo, self.specs[i].default_w))

    def _pin(self, i: int, value: float, text: str) -> float:
        f_lo, f_hi = self._asset_range(i)
        chosen = min(f_hi, max(f_lo, value))
        cause = None
        if chosen > value + TOL_W:
            cause = self.lo_src[i] if f_lo <= self.lo[i] + TOL_W else self.glo_src
        elif chosen < value - TOL_W:
            cause = self.hi_src[i] if f_hi >= self.hi[i] - TOL_W else self.ghi_src
        min_on = self.specs[i].min_on_w
        if 0.0 < chosen < min_on - TOL_W:
            if f_lo <= TOL_W:
                chosen, cause = 0.0, f"paused: below minimum {format_kw(min_on)}"
            elif f_hi >= min_on:
                chosen, cause = min_on, f"raised to minimum {format_kw(min_on)}"
            else:
                chosen, cause = 0.0, f"paused: below minimum {format_kw(min_on)} (overrides {self.lo_src[i]})"
        self.lo[i] = self.hi[i] = chosen
        self.pinned[i] = text
        self.pin_cause[i] = cause
        return chosen

    # -- final values --------------------------------------------------------------------------------------------

    def finish(self) -> Resolution:
        values = [self.pinned_value(i) for i in range(len(self.specs))]
        self._enforce_sum(values, _DOWN_ORDER, _UP_ORDER)
        for i, spec in enumerate(self.specs):
            if 0.0 < values[i] < spec.min_on_w - TOL_W and self.pinned[i] is None:
                total = self.base + sum(values)
                if spec.min_on_w <= self.hi[i] + TOL_W and total - values[i] + spec.min_on_w <= self.ghi + TOL_W:
                    values[i] = spec.min_on_w
                    self.moved[i] = f"raised to minimum {format_kw(spec.min_on_w)}"
                else:
                    values[i] = 0.0
                    self.moved[i] = f"paused: below minimum {format_kw(spec.min_on_w)}"
        self._enforce_sum(values, ("battery",), ("battery", "pv"))
        for i, value in enumerate(values):
            if abs(value) < TOL_W:
                values[i] = 0.0  # float dust from the sums must not read as "EV at 0.000001 W"
        grid = self.base + sum(values)
        records = [self._record(i, values[i], grid) for i in range(len(self.specs))]
        return Resolution(
            values={spec.key: values[i] for i, spec in enumerate(self.specs)},
            grid_w=grid,
            grid_range=(self.glo, self.ghi),
            bounds=self.bounds,
            preferences=self.prefs,
            records=records,
        )

    def pinned_value(self, i: int) -> float:
        return self.lo[i] if self.pinned[i] is not None else self._provisional(i)

    def _enforce_sum(self, values: list[float], down: tuple[str, ...], up: tuple[str, ...]) -> None:
        total = self.base + sum(values)
        if total > self.ghi + TOL_W:
            excess = total - self.ghi
            for group in down:
                for i, spec in enumerate(self.specs):
                    if excess <= TOL_W:
                        return
                    if asset_group(spec.key) != group or self.pinned[i] is not None:
                        continue
                    step = min(excess, values[i] - self.lo[i])
                    if step > TOL_W:
                        values[i] -= step
                        excess -= step
                        self.moved[i] = self.ghi_src
        elif total < self.glo - TOL_W:
            missing = self.glo - total
            for group in up:
                for i, spec in enumerate(self.specs):
                    if missing <= TOL_W:
                        return
                    if asset_group(spec.key) != group or self.pinned[i] is not None:
                        continue
                    step = min(missing, self.hi[i] - values[i])
                    if step > TOL_W:
                        values[i] += step
                        missing -= step
                        self.moved[i] = self.glo_src

    def _record(self, i: int, value: float, grid: float) -> AssetRecord:
        binding: list[str] = []
        if self.pin_cause[i] is not None:
            binding.append(self.pin_cause[i] or "")
        elif self.moved[i] is not None:
            binding.append(self.moved[i] or "")
        elif self.pinned[i] is None:
            if value <= self.lo[i] + TOL_W and self.lo[i] > -INF:
                binding.append(self.lo_src[i])
            elif value >= self.hi[i] - TOL_W and self.hi[i] < INF:
                binding.append(self.hi_src[i])
        return AssetRecord(
            asset=self.specs[i].key,
            value_w=value,
            binding=tuple(b for b in binding if b),
            preferred=self.pinned[i],
            chain=tuple(self.notes[i]),
        )


def _also(existing: str, text: str) -> str:
    """Two sources for the same edge: name the controller first, keep the envelope as context."""
    if not existing:
        return text
    return f"{text} (= {existing})" if existing.startswith(ENVELOPE) else f"{existing}; {text}"


def _describe(min_w: float, max_w: float, *, asset: bool) -> str:
    parts = []
    if min_w > -INF:
        parts.append(f"min {format_kw(min_w)}")
    if max_w < INF:
        parts.append(f"max {format_kw(max_w)}")
    return " ".join(parts) if parts else "none"
