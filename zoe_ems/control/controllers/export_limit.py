"""Export limit / zero export: grid export never above a limit.

A grid bound only: the arbiter charges the battery first, then curtails PV inverters through their limit. With a
margin, the bound sits ``margin_kw`` inside the limit while at least that much PV is available (so the margin can
always be met by curtailment and never forces the battery to charge from the grid). Never writes devices.
"""

from __future__ import annotations

from zoe_ems.config.control import ExportLimitConfig
from zoe_ems.control.controllers.base import Context, Controller
from zoe_ems.control.types import GRID, Bound, Proposal


class ExportLimit(Controller):
    """Export limit bound."""

    name = "export_limit"

    def __init__(self, config: ExportLimitConfig, site_export_limit_w: float) -> None:
        self.priority = config.priority
        self.limit_w = config.export_limit_kw * 1000.0 if config.export_limit_kw is not None else site_export_limit_w
        self.margin_w = config.margin_kw * 1000.0

    def propose(self, ctx: Context) -> list[Proposal]:
        available_pv_w = sum(max(0.0, pv.available_w) for pv in ctx.view.pvs)
        min_w = -self.limit_w + min(self.margin_w, available_pv_w)
        return [Proposal(controller=self.name, priority=self.priority, bounds=(Bound(asset=GRID, min_w=min_w),))]
