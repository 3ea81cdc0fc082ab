"""SG-Ready arbitration and the heat-pump guard (minimum time between changes, block length and count).

Requests are walked from the highest priority down: allowed-state sets are intersected (an empty intersection
is skipped and recorded), the first preference inside what is allowed chooses. The guard then protects the
compressor and the grid rules: no change sooner than ``min_switch_interval_s`` after the last one, a block lasts
at most ``max_block_s`` and at most ``max_blocks_per_day`` blocks start per local day. Pure logic with small
per-heat-pump state; never writes relays itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from zoe_ems.config.control import SgReadyConfig
from zoe_ems.control.record import SgRecord
from zoe_ems.control.types import SgRequest

NORMAL = 2
BLOCK = 1
_FALLBACK_ORDER = (2, 3, 1, 4)


@dataclass(frozen=True, slots=True)
class RankedRequest:
    """An SG-Ready request with the priority and name of the controller that made it."""

    controller: str
    priority: int
    request: SgRequest


def arbitrate_sg(requests: Sequence[RankedRequest]) -> tuple[int, str]:
    """Desired SG-Ready state and why, before the guard."""
    allowed = {1, 2, 3, 4}
    notes: list[str] = []
    chosen: int | None = None
    why = ""
    for ranked in sorted(requests, key=lambda r: -r.priority):
        req = ranked.request
        narrowed = allowed & set(req.allowed)
        if not narrowed:
            notes.append(f"{ranked.controller} allowed {sorted(req.allowed)} infeasible")
            continue
        if narrowed != allowed:
            notes.append(f"{ranked.controller} allows {sorted(narrowed)}" + (f" ({req.reason})" if req.reason else ""))
        allowed = narrowed
        if chosen is None and req.preferred is not None and req.preferred in allowed:
            chosen = req.preferred
            why = f"{ranked.controller} preferred {req.preferred}" + (f" ({req.reason})" if req.reason else "")
            allowed = {chosen}
    if chosen is None:
        chosen = next(s for s in _FALLBACK_ORDER if s in allowed)
        why = "default"
    return chosen, "; ".join([*notes, why]) if notes else why


@dataclass(slots=True)
class _PumpState:
    state: int | None = None
    last_change_mono: float = 0.0
    block_start_mono: float | None = None
    day: str = ""
    blocks_today: int = 0


class SgGuard:
    """Per-heat-pump switching rules."""

    def __init__(self, config: SgReadyConfig, tz: ZoneInfo, start_mono: float) -> None:
        self._cfg = config
        self._tz = tz
        self._start_mono = start_mono
        self._pumps: dict[str, _PumpState] = {}

    def decide(
        self, device_id: str, current: int | None, desired: int, why: str, now_mono: float, now_utc: float
    ) -> SgRecord:
        """Apply the rules to ``desired``; ``current`` is the state read back (None when unknown)."""
        pump = self._pumps.get(device_id)
        if pump is None:
            # Unknown history at start-up: act as if the state had just been set (protects the compressor).
            pump = _PumpState(state=current if current is not None else NORMAL, last_change_mono=self._start_mono)
            self._pumps[device_id] = pump
        day = datetime.fromtimestamp(now_utc, self._tz).date().isoformat()
        if day != pump.day:
            pump.day, pump.blocks_today = day, 0
        state = pump.state if pump.state is not None else NORMAL
        if (
            state == BLOCK
            and pump.block_start_mono is not None
            and now_mono - pump.block_start_mono >= self._cfg.max_block_s
        ):
            target = desired if desired != BLOCK else NORMAL
            return self._change(
                pump, device_id, target, now_mono, f"block limit {self._cfg.max_block_s:g} s reached; {why}"
            )
        if desired == BLOCK and state != BLOCK and pump.blocks_today >= self._cfg.max_blocks_per_day:
            desired, why = NORMAL, f"{why}; block refused: {self._cfg.max_blocks_per_day} blocks used today"
        if desired == state:
            return SgRecord(device_id, state, why)
        waited = now_mono - pump.last_change_mono
        if waited < self._cfg.min_switch_interval_s:
            left = self._cfg.min_switch_interval_s - waited
            return SgRecord(
                device_id, state, f"held: minimum switch interval ({left:.0f} s left); wanted {desired}: {why}"
            )
        return self._change(pump, device_id, desired, now_mono, why)

    def commanded(self, device_id: str) -> int | None:
        pump = self._pumps.get(device_id)
        return None if pump is None else pump.state

    def _change(self, pump: _PumpState, device_id: str, target: int, now_mono: float, why: str) -> SgRecord:
        if target != pump.state:
            if target == BLOCK:
                pump.block_start_mono = now_mono
                pump.blocks_today += 1
            pump.state = target
            pump.last_change_mono = now_mono
        return SgRecord(device_id, target, why)
