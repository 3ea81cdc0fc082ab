"""PCS setpoint mixer: the slow loop's base setpoint plus the fast frequency response, within hard limits.

One writer per PCS: both the control loop and the fast path go through here, and the sum goes to the PCS
link (which writes ahead of queued reads). The hard limits (rating, BMS limits, SOC window, faults) come
from the safety envelope every control cycle; the response is split over the PCS units by rating.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass
class _Unit:
    rated_w: float
    base_w: float = 0.0
    min_w: float = 0.0
    max_w: float = 0.0
    """Hard limits; zero until the first control cycle has judged the unit (fail safe)."""


class PcsMixer:
    """Combines base setpoints and the frequency response per PCS."""

    def __init__(self, ratings_w: Mapping[str, float], apply: Callable[[str, Mapping[str, float]], None]) -> None:
        self._units = {pcs_id: _Unit(rated_w=max(rated, 0.0)) for pcs_id, rated in ratings_w.items()}
        self._apply = apply
        self.response_w = 0.0
        self.clamped_w = 0.0
        """How much response the hard limits cut at the last push (0 when fully delivered)."""

    @property
    def pcs_ids(self) -> list[str]:
        return list(self._units)

    def set_limits(self, pcs_id: str, min_w: float, max_w: float) -> None:
        """Hard limits of one PCS for the total (base + response)."""
        unit = self._units[pcs_id]
        unit.min_w, unit.max_w = min(min_w, 0.0), max(max_w, 0.0)

    def set_base(self, pcs_id: str, base_w: float) -> None:
        """The control loop's setpoint for one PCS."""
        self._units[pcs_id].base_w = base_w
        self._push(pcs_id)

    def set_response(self, response_w: float) -> None:
        """The fast path's total response; pushed to every PCS at once."""
        self.response_w = response_w if math.isfinite(response_w) else 0.0
        self.clamped_w = 0.0
        for pcs_id in self._units:
            self.clamped_w += self._push(pcs_id)

    def total_w(self, pcs_id: str) -> float:
        """What is (or will be) written to the PCS now."""
        unit = self._units[pcs_id]
        wanted = unit.base_w + self._share(pcs_id)
        return min(unit.max_w, max(unit.min_w, wanted))

    def _share(self, pcs_id: str) -> float:
        total_rating = sum(u.rated_w for u in self._units.values())
        if total_rating <= 0:
            return self.response_w / len(self._units)
        return self.response_w * self._units[pcs_id].rated_w / total_rating

    def _push(self, pcs_id: str) -> float:
        unit = self._units[pcs_id]
        wanted = unit.base_w + self._share(pcs_id)
        value = min(unit.max_w, max(unit.min_w, wanted))
        self._apply(pcs_id, {"p_set_w": value})
        return abs(wanted - value)
