"""`site:` section: identity, time zone, location and static grid-connection limits."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from zoe_ems.config.base import StrictModel


class GridConfig(StrictModel):
    """Static limits of the grid connection point (contractual or physical)."""

    import_limit_kw: float = Field(ge=0, description="maximum import at the connection point, kW")
    export_limit_kw: float = Field(ge=0, description="maximum export at the connection point, kW (0 = zero export)")
    fuse_a: float | None = Field(default=None, gt=0, description="per-phase current limit at the connection, A")
    nominal_voltage_v: float = Field(default=230.0, gt=0, description="phase-to-neutral voltage, V")

    @property
    def import_limit_w(self) -> float:
        return self.import_limit_kw * 1000.0

    @property
    def export_limit_w(self) -> float:
        return self.export_limit_kw * 1000.0


class SiteSection(StrictModel):
    """Who and where the site is."""

    id: str = Field(pattern=r"^[a-z0-9-]+$", min_length=1, max_length=64, description="site id used in MQTT topics")
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Brussels")
    latitude: float | None = Field(default=None, ge=-90, le=90, description="for the clear-sky PV model")
    longitude: float | None = Field(default=None, ge=-180, le=180)
    grid: GridConfig

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value
