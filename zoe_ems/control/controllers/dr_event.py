"""Demand response: during an event, grid import at most baseline minus the target reduction.

A grid bound; the battery discharges first, then EVs slow. Never writes devices.
"""

from __future__ import annotations

from zoe_ems.config.control import DrEventConfig
from zoe_ems.control.controllers.base import Context, Controller
from zoe_ems.control.record import format_kw
from zoe_ems.control.types import GRID, Bound, Proposal


class DrEvent(Controller):
    """Import cap during a DR event."""

    name = "dr_event"

    def __init__(self, config: DrEventConfig) -> None:
        self.priority = config.priority

    def propose(self, ctx: Context) -> list[Proposal]:
        event = ctx.inputs.dr_event
        if event is None:
            return []
        cap = event.baseline_w - event.target_reduction_w
        why = f"event {event.event_id}: baseline {format_kw(event.baseline_w)} − {format_kw(event.target_reduction_w)}"
        return [
            Proposal(controller=self.name, priority=self.priority, bounds=(Bound(asset=GRID, max_w=cap, reason=why),))
        ]
