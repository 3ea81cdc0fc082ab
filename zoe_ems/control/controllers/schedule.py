"""Schedule follower: the battery power of the plan's current interval, corrected towards the planned SOC.

The SOC target is interpolated inside the interval (in the plan's first interval from the time its initial SOC
was measured, ``soc_from_utc``); a deviation is corrected over ``soc_correction_horizon_s``.
Without a valid plan it proposes nothing (lower priorities, normally self-consumption, take over).
Never writes devices.
"""

from __future__ import annotations

from zoe_ems.config.control import ScheduleConfig
from zoe_ems.control.controllers.base import Context, Controller
from zoe_ems.control.inputs import SchedulePlan
from zoe_ems.control.types import BATTERY, Preference, Proposal


class ScheduleFollower(Controller):
    """Follow the per-interval plan."""

    name = "schedule"

    def __init__(self, config: ScheduleConfig) -> None:
        self._cfg = config
        self.priority = config.priority

    def propose(self, ctx: Context) -> list[Proposal]:
        plan = ctx.inputs.plan
        if plan is None:
            return []
        planned = plan.at(ctx.now_utc)
        if planned is None:
            return []
        value = planned
        why = f"plan {plan.source} {planned / 1000.0:.1f} kW"
        correction = self._soc_correction(plan, ctx)
        if correction is not None:
            value += correction
            why += f", SOC correction {correction / 1000.0:+.1f} kW"
        return [
            Proposal(
                controller=self.name,
                priority=self.priority,
                preferences=(Preference(asset=BATTERY, value_w=value, reason=why),),
            )
        ]

    def _soc_correction(self, plan: SchedulePlan, ctx: Context) -> float | None:
        soc = ctx.view.fleet_soc
        capacity = ctx.view.fleet_capacity_wh
        if not self._cfg.soc_tracking or not plan.soc or soc is None or capacity <= 0:
            return None
        index = int((ctx.now_utc - plan.start_utc) // plan.step_s)
        if index >= len(plan.soc):
            return None
        end_soc = plan.soc[index]
        interval_start = plan.start_utc + index * plan.step_s
        interval_end = interval_start + plan.step_s
        origin = plan.soc_from_utc
        if origin is not None and interval_start <= origin < interval_end:
            # The trajectory starts where the plan's SOC was measured, not at the interval start.
            interval_start = origin
            start_soc = (
                plan.soc_initial
                if plan.soc_initial is not None
                else end_soc - plan.battery_p_w[index] * (interval_end - origin) / 3600.0 / capacity
            )
        elif index > 0:
            start_soc = plan.soc[index - 1]
        else:
            start_soc = end_soc - plan.battery_p_w[0] * plan.step_s / 3600.0 / capacity
        fraction = min(max((ctx.now_utc - interval_start) / (interval_end - interval_start), 0.0), 1.0)
        target = start_soc + (end_soc - start_soc) * fraction
        return (target - soc) * capacity * 3600.0 / self._cfg.soc_correction_horizon_s
