"""Self-consumption: the battery holds the grid connection at a target (default 0 W).

Prefers a grid value reached by moving the battery only; EV charging is left out of the target unless
``battery_to_ev`` so the battery does not empty itself into a car. Never curtails PV.
"""

from __future__ import annotations

from zoe_ems.config.control import SelfConsumptionConfig
from zoe_ems.control.controllers.base import Context, Controller
from zoe_ems.control.types import BATTERY, GRID, Preference, Proposal


class SelfConsumption(Controller):
    """Battery follows the grid target."""

    name = "self_consumption"

    def __init__(self, config: SelfConsumptionConfig) -> None:
        self._cfg = config
        self.priority = config.priority

    def propose(self, ctx: Context) -> list[Proposal]:
        if not ctx.view.batteries:
            return []
        exclude = () if self._cfg.battery_to_ev else ("ev",)
        pref = Preference(
            asset=GRID,
            value_w=self._cfg.grid_target_kw * 1000.0,
            reason="hold grid target" + ("" if self._cfg.battery_to_ev else ", EV excluded"),
            actuators=(BATTERY,),
            exclude=exclude,
        )
        return [Proposal(controller=self.name, priority=self.priority, preferences=(pref,))]
