"""Peak shaving: grid import never above a limit; optional recharge for the next peak within the headroom.

The limit is a grid bound, so the arbiter discharges the battery (then slows EVs) to hold it. With
``recharge_soc`` set, a second, lower-priority proposal forbids discharging below that SOC and prefers to
recharge, which the import bound caps to the remaining headroom. Never writes devices.
"""

from __future__ import annotations

from zoe_ems.config.control import PeakShavingConfig
from zoe_ems.control.controllers.base import Context, Controller
from zoe_ems.control.types import BATTERY, GRID, Bound, Preference, Proposal


class PeakShaving(Controller):
    """Import limit plus optional recharge."""

    name = "peak_shaving"

    def __init__(self, config: PeakShavingConfig, site_import_limit_w: float) -> None:
        self._cfg = config
        self.priority = config.priority
        self.limit_w = config.import_limit_kw * 1000.0 if config.import_limit_kw is not None else site_import_limit_w
        self._recharging = False

    def propose(self, ctx: Context) -> list[Proposal]:
        out = [Proposal(controller=self.name, priority=self.priority, bounds=(Bound(asset=GRID, max_w=self.limit_w),))]
        target = self._cfg.recharge_soc
        soc = ctx.view.fleet_soc
        if target is None or soc is None or not ctx.view.batteries:
            return out
        if soc < target - self._cfg.recharge_hysteresis_soc:
            self._recharging = True
        elif soc >= target:
            self._recharging = False
        bounds = (
            (Bound(asset=BATTERY, min_w=0.0, reason=f"keep SOC ≥ {target:.2f} for the next peak"),)
            if soc < target
            else ()
        )
        prefs: tuple[Preference, ...] = ()
        if self._recharging:
            power = self._cfg.recharge_kw * 1000.0 if self._cfg.recharge_kw is not None else ctx.fleet.max_w
            prefs = (Preference(asset=BATTERY, value_w=power, reason=f"recharge to SOC {target:.2f} within headroom"),)
        if bounds or prefs:
            out.append(
                Proposal(controller=self.name, priority=self._cfg.recharge_priority, bounds=bounds, preferences=prefs)
            )
        return out
