"""The controller interface and the per-cycle context every controller reads.

A controller looks at the context and returns proposals (bounds, preferences, SG-Ready requests) with its
priority. It may keep small state (hysteresis timers) but takes time only from the context. It never writes
setpoints, never clamps to device limits (the envelope does) and never performs I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from zoe_ems.control.envelope import Limit
from zoe_ems.control.inputs import InputsView
from zoe_ems.control.siteview import SiteView
from zoe_ems.control.types import Proposal


@dataclass(frozen=True, slots=True)
class Context:
    """What controllers see in one cycle."""

    view: SiteView
    inputs: InputsView
    now_mono: float
    fleet: Limit
    """Envelope range of the battery fleet (W)."""
    grid: Limit
    """Envelope range of the grid connection (W, negative = export)."""
    tz: ZoneInfo
    """Site time zone (for departure times and local days)."""

    @property
    def now_utc(self) -> float:
        return self.inputs.now_utc


class Controller(ABC):
    """One control strategy."""

    name: str = "controller"
    priority: int = 0

    @abstractmethod
    def propose(self, ctx: Context) -> list[Proposal]:
        """This cycle's proposals (an empty list when the controller has nothing to say)."""
