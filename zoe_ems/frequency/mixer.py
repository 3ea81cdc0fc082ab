"""PCS setpoint mixer: the slow loop's base setpoint plus the fast frequency response, within hard limits.

One writer per PCS: both the control loop and the fast path go through here, and the sum goes to the PCS
link (which writes ahead of queued reads). Every control cycle refreshes each unit's hard limits (rating,
BMS limits, SOC window, faults) and the grid headroom; limits older than ``limits_ttl_s`` count as zero,
so a stalled control loop cannot leave a stale envelope behind. The response is clamped to the grid
headroom (grid limits, DOE and fuse win over frequency services) and water-filled over the units.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass
class _Unit:
    rated_w: float
    base_w: float = 0.0
    min_w: float = 0.0
    max_w: float = 0.0
    """Hard limits; zero until the first control cycle has judged the unit (fail safe)."""
    limits_mono: float = -math.inf


class PcsMixer:
    """Combines base setpoints and the frequency response per PCS."""

    def __init__(
        self,
        ratings_w: Mapping[str, float],
        apply: Callable[[str, Mapping[str, float]], None],
        *,
        limits_ttl_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._units = {pcs_id: _Unit(rated_w=max(rated, 0.0)) for pcs_id, rated in ratings_w.items()}
        self._apply = apply
        self._ttl = limits_ttl_s
        self._clock = clock
        self.response_w = 0.0
        self.grid_headroom_w = (math.inf, math.inf)
        """(import, export) headroom at the connection point; the response never exceeds it."""
        self.clamped_w = 0.0
        """How much of the response was cut at the last push (0 when fully delivered)."""
        self._shares: dict[str, float] = {}

    @property
    def pcs_ids(self) -> list[str]:
        return list(self._units)

    def set_limits(self, pcs_id: str, min_w: float, max_w: float) -> None:
        """Hard limits of one PCS for the total (base + response), refreshed every control cycle."""
        unit = self._units[pcs_id]
        unit.min_w, unit.max_w = min(min_w, 0.0), max(max_w, 0.0)
        unit.limits_mono = self._clock()

    def set_grid_headroom(self, import_w: float, export_w: float) -> None:
        self.grid_headroom_w = (max(0.0, import_w), max(0.0, export_w))

    def set_base(self, pcs_id: str, base_w: float) -> None:
        """The control loop's setpoint for one PCS."""
        self._units[pcs_id].base_w = base_w
        self._distribute()
        self._push(pcs_id)

    def set_response(self, response_w: float) -> None:
        """The fast path's total response; pushed to every PCS at once."""
        self.response_w = response_w if math.isfinite(response_w) else 0.0
        self._distribute()
        for pcs_id in self._units:
            self._push(pcs_id)

    def total_w(self, pcs_id: str) -> float:
        """What is (or will be) written to the PCS now."""
        low, high = self._limits(self._units[pcs_id])
        return min(high, max(low, self._units[pcs_id].base_w + self._shares.get(pcs_id, 0.0)))

    def _limits(self, unit: _Unit) -> tuple[float, float]:
        if self._clock() - unit.limits_mono > self._ttl:
            return 0.0, 0.0
        return unit.min_w, unit.max_w

    def _distribute(self) -> None:
        """Split the response over the units by rating, refilling what a unit at its limit cannot take."""
        import_room, export_room = self.grid_headroom_w
        wanted = min(import_room, max(-export_room, self.response_w))
        rooms: dict[str, float] = {}
        for pcs_id, unit in self._units.items():
            low, high = self._limits(unit)
            base = min(high, max(low, unit.base_w))
            rooms[pcs_id] = (high - base) if wanted >= 0 else (base - low)
        shares = dict.fromkeys(self._units, 0.0)
        remaining = abs(wanted)
        open_units = {pcs_id for pcs_id, room in rooms.items() if room > 0}
        while remaining > 1e-6 and open_units:
            weight = sum(self._units[p].rated_w or 1.0 for p in open_units)
            handed = 0.0
            for pcs_id in list(open_units):
                offer = remaining * (self._units[pcs_id].rated_w or 1.0) / weight
                take = min(offer, rooms[pcs_id] - shares[pcs_id])
                shares[pcs_id] += take
                handed += take
                if rooms[pcs_id] - shares[pcs_id] <= 1e-6:
                    open_units.discard(pcs_id)
            remaining -= handed
            if handed <= 1e-9:
                break
        sign = 1.0 if wanted >= 0 else -1.0
        self._shares = {pcs_id: sign * share for pcs_id, share in shares.items()}
        self.clamped_w = abs(self.response_w - sign * sum(shares.values()))

    def _push(self, pcs_id: str) -> None:
        self._apply(pcs_id, {"p_set_w": self.total_w(pcs_id)})
