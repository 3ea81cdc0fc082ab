"""The site's physical and contractual limits that northbound commands are checked against.

Derived once from the SiteConfig (grid connection limits, PCS ratings); answers range questions
with a precise message. Never touches devices and never decides the mode or the signature.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.points import DeviceKind
from zoe_ems.config import SiteConfig
from zoe_ems.frequency.orders import ServiceConfigs

PRICE_LIMIT_EUR_PER_KWH = 10.0
"""Prices beyond ±10 EUR/kWh are treated as input errors."""


@dataclass(frozen=True, kw_only=True)
class SiteLimits:
    """Limits in kW as the protocol speaks them."""

    import_limit_kw: float
    export_limit_kw: float
    has_battery: bool
    battery_rating_kw: float | None
    """Sum of PCS ratings; None when some PCS has no rated_power_kw (the control envelope still applies)."""
    frequency_base: ServiceConfigs
    """The site file's frequency-service settings, which a ``frequency_service`` order is laid over."""

    @classmethod
    def from_config(cls, config: SiteConfig) -> SiteLimits:
        pcs = [d for d in config.devices if d.kind is DeviceKind.PCS]
        ratings = [d.rated_power_kw for d in pcs]
        rating = None if not pcs or any(r is None for r in ratings) else sum(r for r in ratings if r is not None)
        return cls(
            import_limit_kw=config.site.grid.import_limit_kw,
            export_limit_kw=config.site.grid.export_limit_kw,
            has_battery=bool(pcs),
            battery_rating_kw=rating,
            frequency_base=ServiceConfigs(ffr=config.control.ffr, fcr=config.control.fcr, dc=config.control.dc),
        )

    def battery_power_problem(self, field: str, p_kw: float) -> str | None:
        """Why ``p_kw`` is not a possible battery power, or None."""
        if not self.has_battery:
            return f"{field}: the site has no battery (no pcs device)"
        rating = self.battery_rating_kw
        if rating is not None and abs(p_kw) > rating + 1e-9:
            return f"{field} = {p_kw:g} kW is outside the battery rating [{-rating:g}, {rating:g}] kW"
        return None

    def grid_power_problem(self, field: str, p_kw: float) -> str | None:
        """Why ``p_kw`` at the connection point breaks the site's grid limits, or None."""
        if p_kw > self.import_limit_kw + 1e-9 or p_kw < -self.export_limit_kw - 1e-9:
            return (
                f"{field} = {p_kw:g} kW is outside the grid limits "
                f"[{-self.export_limit_kw:g}, {self.import_limit_kw:g}] kW (site.grid)"
            )
        return None
