"""Fixed / manual setpoint: a VPP or operator setpoint (InputsView.setpoint) or, failing that, the site file's.

Battery targets pin the fleet; grid targets move the battery to hold the grid value. Expiry is decided by
ControlInputs; this controller never extends a setpoint's life. Never writes devices.
"""

from __future__ import annotations

from zoe_ems.config.control import ManualConfig
from zoe_ems.control.controllers.base import Context, Controller
from zoe_ems.control.types import BATTERY, GRID, Preference, Proposal


class ManualSetpoint(Controller):
    """Follow a fixed or commanded setpoint."""

    name = "manual"

    def __init__(self, config: ManualConfig) -> None:
        self._cfg = config
        self.priority = config.priority

    def propose(self, ctx: Context) -> list[Proposal]:
        setpoint = ctx.inputs.setpoint
        if setpoint is not None:
            asset = BATTERY if setpoint.target == "battery" else GRID
            pref = Preference(asset=asset, value_w=setpoint.p_w, reason=f"command {setpoint.command_id}")
        elif self._cfg.battery_kw is not None:
            pref = Preference(asset=BATTERY, value_w=self._cfg.battery_kw * 1000.0, reason="site file")
        elif self._cfg.grid_kw is not None:
            pref = Preference(asset=GRID, value_w=self._cfg.grid_kw * 1000.0, reason="site file")
        else:
            return []
        return [Proposal(controller=self.name, priority=self.priority, preferences=(pref,))]
