"""EV charging modes: off, now, min_pv, pv_surplus and target energy by departure.

Respects the minimum current (a charger below it pauses) and the phase count, and starts/stops surplus charging
only after the surplus has lasted ``enable_delay_s`` / been missing for ``disable_delay_s`` (power margins on
both sides). Surplus is the PV excess over the house load before battery and EVs, shared over the chargers that
want it. Never writes devices; the engine turns power into current.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from zoe_ems.config.control import EvChargerConfig, EvChargingConfig, EvMode
from zoe_ems.control.controllers.base import Context, Controller
from zoe_ems.control.record import format_kw
from zoe_ems.control.siteview import EvUnit
from zoe_ems.control.types import Bound, Preference, Proposal, ev_asset

TARGET_MARGIN = 1.1
"""Charge 10 % faster than strictly needed to reach a target energy by departure."""


@dataclass(slots=True)
class _Hysteresis:
    running: bool = False
    since: float | None = None


class EvCharging(Controller):
    """One proposal covering every charger."""

    name = "ev_charging"

    def __init__(self, config: EvChargingConfig) -> None:
        self._cfg = config
        self.priority = config.priority
        self._state: dict[str, _Hysteresis] = {}

    def charger_config(self, device_id: str) -> EvChargerConfig:
        return self._cfg.chargers.get(device_id) or EvChargerConfig(mode=self._cfg.default_mode)

    def propose(self, ctx: Context) -> list[Proposal]:
        evs = ctx.view.evs
        if not evs:
            return []
        wanting = [
            ev
            for ev in evs
            if ev.connected and self.charger_config(ev.device_id).mode in ("min_pv", "pv_surplus", "target")
        ]
        surplus_total = max(0.0, -ctx.view.house_w)
        share = surplus_total / len(wanting) if wanting else 0.0
        bounds: list[Bound] = []
        prefs: list[Preference] = []
        for ev in evs:
            bound, pref = self._one(ev, self.charger_config(ev.device_id), share, ctx)
            if bound is not None:
                bounds.append(bound)
            prefs.append(pref)
        return [Proposal(controller=self.name, priority=self.priority, bounds=tuple(bounds), preferences=tuple(prefs))]

    def _one(self, ev: EvUnit, cfg: EvChargerConfig, surplus: float, ctx: Context) -> tuple[Bound | None, Preference]:
        asset = ev_asset(ev.device_id)
        hyst = self._state.setdefault(ev.device_id, _Hysteresis())
        mode: EvMode = cfg.mode
        if not ev.connected:
            hyst.running, hyst.since = False, None
            return None, Preference(asset=asset, value_w=0.0, reason="no car")
        if mode == "off":
            hyst.running, hyst.since = False, None
            return Bound(asset=asset, max_w=0.0, reason="mode off"), Preference(
                asset=asset, value_w=0.0, reason="mode off"
            )
        if mode == "now":
            return None, Preference(asset=asset, value_w=ev.max_w, reason="mode now")
        if mode == "min_pv":
            value = max(ev.min_w, surplus)
            return (
                Bound(asset=asset, min_w=ev.min_w, reason="mode min_pv: minimum current"),
                Preference(asset=asset, value_w=value, reason=f"mode min_pv, surplus {format_kw(surplus)}"),
            )
        if mode == "target":
            required = self._required_w(ev, cfg, ctx)
            if required is not None and required >= ev.min_w:
                value = max(required, surplus if self._surplus_running(hyst, ev, surplus, ctx) else 0.0)
                return (
                    Bound(asset=asset, min_w=ev.min_w, reason=f"target by {cfg.departure}"),
                    Preference(
                        asset=asset,
                        value_w=value,
                        reason=f"target {cfg.target_energy_kwh:g} kWh by {cfg.departure}: needs {format_kw(required)}",
                    ),
                )
        if self._surplus_running(hyst, ev, surplus, ctx):
            return (
                Bound(asset=asset, min_w=ev.min_w, reason="PV surplus charging"),
                Preference(asset=asset, value_w=max(ev.min_w, surplus), reason=f"PV surplus {format_kw(surplus)}"),
            )
        return None, Preference(asset=asset, value_w=0.0, reason=f"waiting for PV surplus ({format_kw(surplus)})")

    def _surplus_running(self, hyst: _Hysteresis, ev: EvUnit, surplus: float, ctx: Context) -> bool:
        now = ctx.now_mono
        if not hyst.running:
            if surplus >= ev.min_w + self._cfg.enable_margin_kw * 1000.0:
                if hyst.since is None:
                    hyst.since = now
                if now - hyst.since >= self._cfg.enable_delay_s:
                    hyst.running, hyst.since = True, None
            else:
                hyst.since = None
        elif surplus < ev.min_w - self._cfg.disable_margin_kw * 1000.0:
            if hyst.since is None:
                hyst.since = now
            if now - hyst.since >= self._cfg.disable_delay_s:
                hyst.running, hyst.since = False, None
        else:
            hyst.since = None
        return hyst.running

    def _required_w(self, ev: EvUnit, cfg: EvChargerConfig, ctx: Context) -> float | None:
        """Average power needed to deliver the target energy by the next departure; None when done."""
        if cfg.target_energy_kwh is None or cfg.departure is None:
            return None
        delivered = ev.session_wh or 0.0
        needed_wh = cfg.target_energy_kwh * 1000.0 - delivered
        if needed_wh <= 0:
            return None
        now = datetime.fromtimestamp(ctx.now_utc, ctx.tz)
        hour, minute = (int(x) for x in cfg.departure.split(":"))
        departure = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if departure <= now:
            departure += timedelta(days=1)
        hours_left = (departure - now).total_seconds() / 3600.0
        if hours_left <= 0:
            return ev.max_w
        return min(ev.max_w, needed_wh / hours_left * TARGET_MARGIN)
