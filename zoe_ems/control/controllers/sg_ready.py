"""SG-Ready heat pumps: block during peaks or high prices, recommend or force on PV surplus or low prices.

Only expresses wishes; the SG guard in the engine enforces the minimum switch interval, the 2 h block limit and
the 3 blocks a day. Never writes relays.
"""

from __future__ import annotations

from zoe_ems.config.control import SgReadyConfig
from zoe_ems.control.controllers.base import Context, Controller
from zoe_ems.control.record import format_kw
from zoe_ems.control.siteview import HeatPump
from zoe_ems.control.types import Proposal, SgRequest


class SgReady(Controller):
    """Heat-pump wishes from peaks, prices and surplus."""

    name = "sg_ready"

    def __init__(self, config: SgReadyConfig, peak_limit_w: float) -> None:
        self._cfg = config
        self.priority = config.priority
        self.block_import_w = config.block_import_kw * 1000.0 if config.block_import_kw is not None else peak_limit_w

    def propose(self, ctx: Context) -> list[Proposal]:
        if not ctx.view.heat_pumps:
            return []
        requests = tuple(self._wish(hp, ctx) for hp in ctx.view.heat_pumps)
        return [Proposal(controller=self.name, priority=self.priority, sg_ready=requests)]

    def _wish(self, hp: HeatPump, ctx: Context) -> SgRequest:
        cfg = self._cfg
        price = ctx.inputs.prices.buy_at(ctx.now_utc) if ctx.inputs.prices is not None else None
        import_before_battery = ctx.view.grid_w - ctx.view.battery_w
        # The pump's own draw is part of the surplus it may use while it is already on.
        surplus = -ctx.view.house_w + (hp.p_w if hp.state in (3, 4) else 0.0)
        if ctx.view.grid_ok and import_before_battery > self.block_import_w:
            return self._req(hp, 1, f"peak: import before battery {format_kw(import_before_battery)}")
        if price is not None and cfg.block_price_eur_per_kwh is not None and price >= cfg.block_price_eur_per_kwh:
            return self._req(hp, 1, f"price {price:g} €/kWh ≥ {cfg.block_price_eur_per_kwh:g}")
        if cfg.force_surplus_kw is not None and surplus >= cfg.force_surplus_kw * 1000.0:
            return self._req(hp, 4, f"PV surplus {format_kw(surplus)}")
        if price is not None and cfg.force_price_eur_per_kwh is not None and price <= cfg.force_price_eur_per_kwh:
            return self._req(hp, 4, f"price {price:g} €/kWh ≤ {cfg.force_price_eur_per_kwh:g}")
        if cfg.recommend_surplus_kw is not None and surplus >= cfg.recommend_surplus_kw * 1000.0:
            return self._req(hp, 3, f"PV surplus {format_kw(surplus)}")
        if (
            price is not None
            and cfg.recommend_price_eur_per_kwh is not None
            and price <= cfg.recommend_price_eur_per_kwh
        ):
            return self._req(hp, 3, f"price {price:g} €/kWh ≤ {cfg.recommend_price_eur_per_kwh:g}")
        return self._req(hp, 2, "no peak, no surplus")

    def _req(self, hp: HeatPump, state: int, why: str) -> SgRequest:
        return SgRequest(device_id=hp.device_id, preferred=state, reason=why)
