"""External load limit (§14a EnWG dimming, ripple-control contact): caps controllable loads.

The cap is shared over EV chargers and heat pumps, never below ``min_device_kw`` per device (§14a: 4.2 kW);
heat pumps may not be recommended or forced on while the limit is active. Never writes devices.
"""

from __future__ import annotations

from zoe_ems.config.control import LoadLimitConfig
from zoe_ems.control.controllers.base import Context, Controller
from zoe_ems.control.record import format_kw
from zoe_ems.control.types import Bound, Proposal, SgRequest, ev_asset


class LoadLimit(Controller):
    """Cap EV and heat-pump consumption."""

    name = "load_limit"

    def __init__(self, config: LoadLimitConfig) -> None:
        self._cfg = config
        self.priority = config.priority

    def propose(self, ctx: Context) -> list[Proposal]:
        limit = ctx.inputs.load_limit
        if limit is None:
            return []
        devices = len(ctx.view.evs) + len(ctx.view.heat_pumps)
        if devices == 0:
            return []
        share = max(self._cfg.min_device_kw * 1000.0, limit.max_controllable_load_w / devices)
        why = f"{limit.source}: controllable loads ≤ {format_kw(limit.max_controllable_load_w)}"
        bounds = tuple(Bound(asset=ev_asset(ev.device_id), max_w=share, reason=why) for ev in ctx.view.evs)
        sg = tuple(
            SgRequest(device_id=hp.device_id, allowed=frozenset({1, 2}), reason=why) for hp in ctx.view.heat_pumps
        )
        return [Proposal(controller=self.name, priority=self.priority, bounds=bounds, sg_ready=sg)]
