"""Backup reserve: recharge the battery when its SOC falls under the reserve (the envelope forbids discharge).

Recharges from PV surplus, or from the grid when ``charge_from_grid``; stops at reserve + hysteresis.
Never writes devices.
"""

from __future__ import annotations

from zoe_ems.config.control import BackupReserveConfig
from zoe_ems.control.controllers.base import Context, Controller
from zoe_ems.control.types import BATTERY, Bound, Preference, Proposal


class BackupReserve(Controller):
    """Recharge below the reserve."""

    name = "backup_reserve"

    def __init__(self, config: BackupReserveConfig) -> None:
        self._cfg = config
        self.priority = config.priority
        self.recharging = False

    def propose(self, ctx: Context) -> list[Proposal]:
        soc = ctx.view.fleet_soc
        if soc is None or not ctx.view.batteries:
            return []
        reserve = self._cfg.reserve_soc
        if soc < reserve:
            self.recharging = True
        elif soc >= reserve + self._cfg.hysteresis_soc:
            self.recharging = False
        if not self.recharging:
            return []
        if self._cfg.charge_from_grid:
            power = self._cfg.grid_charge_kw * 1000.0 if self._cfg.grid_charge_kw is not None else ctx.fleet.max_w
            why = f"SOC {soc:.2f} < reserve {reserve:.2f}: recharge from grid"
        else:
            power = max(0.0, -ctx.view.house_w)
            why = f"SOC {soc:.2f} < reserve {reserve:.2f}: recharge from PV surplus"
        return [
            Proposal(
                controller=self.name,
                priority=self.priority,
                bounds=(Bound(asset=BATTERY, min_w=0.0, reason="recharging the backup reserve"),),
                preferences=(Preference(asset=BATTERY, value_w=power, reason=why),),
            )
        ]
