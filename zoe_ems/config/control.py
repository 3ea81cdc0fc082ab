"""`control:` section: control loop timing, SOC window and controller settings.

Owned by the control layer; extended there as controllers are added.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from zoe_ems.config.base import StrictModel


class FfrConfig(StrictModel):
    """Nordic fast frequency response (under-frequency step)."""

    enabled: bool = False
    trigger_hz: float = Field(default=49.7, ge=49.0, le=50.0)
    power_kw: float = Field(default=0.0, ge=0)


class ControlConfig(StrictModel):
    """The real-time control loop."""

    cycle_ms: int = Field(default=500, ge=100, le=2000, description="control cycle period")
    soc_min: float = Field(default=0.05, ge=0, le=1, description="lowest SOC the EMS discharges to (fraction)")
    soc_max: float = Field(default=0.95, ge=0, le=1, description="highest SOC the EMS charges to (fraction)")
    ffr: FfrConfig = Field(default_factory=FfrConfig)

    @model_validator(mode="after")
    def _soc_window(self) -> ControlConfig:
        if self.soc_min >= self.soc_max:
            raise ValueError(f"soc_min ({self.soc_min}) must be below soc_max ({self.soc_max})")
        return self
