"""Frequency-service settings (`control.ffr`, `control.fcr`, `control.dc`, `control.frequency`).

Owned by the frequency layer. Powers in kW; frequencies in Hz, deviations in mHz.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from zoe_ems.config.base import StrictModel

FFR_ACTIVATION_S: dict[float, float] = {49.7: 1.3, 49.6: 1.0, 49.5: 0.7}
"""Full-activation time per FFR trigger level."""

FFR_SUPPORT_S: tuple[int, ...] = (5, 30)
"""The FFR support durations: 5 s (then a ramp-down at ≤ 20 %/s) or 30 s (then a step down)."""


class FfrConfig(StrictModel):
    """Nordic fast frequency response: a step to full power when frequency crosses the trigger."""

    enabled: bool = False
    trigger_hz: float = Field(default=49.7, description="under-frequency trigger: 49.7, 49.6 or 49.5 Hz")
    power_kw: float = Field(default=0.0, ge=0, description="contracted discharge power")
    support_s: Literal[5, 30] = Field(
        default=30, description="support duration: 5 s (then ramp down at ≤ 20 %/s) or 30 s (then step down)"
    )
    rampdown_pct_per_s: float = Field(default=20.0, gt=0, le=20.0, description="ramp-down rate after a 5 s support")
    rearm_delay_s: float = Field(
        default=60.0, ge=0, le=900, description="earliest re-arm after deactivation (must be ready within 15 min)"
    )
    rearm_hysteresis_hz: float = Field(default=0.05, ge=0, le=0.5, description="re-arm once f > trigger + this")
    over_frequency: bool = Field(default=False, description="also respond to over-frequency by charging (mirror)")
    over_trigger_hz: float = Field(default=50.3, ge=50.0, le=51.0, description="over-frequency trigger (mirror)")

    @model_validator(mode="after")
    def _trigger(self) -> FfrConfig:
        if round(self.trigger_hz, 3) not in FFR_ACTIVATION_S:
            raise ValueError(f"trigger_hz must be one of 49.7, 49.6, 49.5 (got {self.trigger_hz})")
        return self

    @property
    def full_activation_s(self) -> float:
        """Time allowed from the trigger crossing to full power (Fingrid / SvK)."""
        return FFR_ACTIVATION_S[round(self.trigger_hz, 3)]


class FcrConfig(StrictModel):
    """Frequency containment reserve (Continental Europe): symmetric linear droop."""

    enabled: bool = False
    power_kw: float = Field(default=0.0, ge=0, description="contracted symmetric power")
    deadband_mhz: float = Field(default=10.0, ge=0, le=10.0, description="no response within ±deadband")
    full_activation_mhz: float = Field(default=200.0, gt=0, le=500.0, description="full power at this deviation")
    duration_s: float = Field(default=900.0, gt=0, description="energy-limited units hold full power this long")


class DcConfig(StrictModel):
    """GB Dynamic Containment: ±15 mHz deadband, 5 % at ±0.2 Hz, 100 % at ±0.5 Hz; low and high sides."""

    enabled: bool = False
    low_power_kw: float = Field(default=0.0, ge=0, description="DC low (under-frequency, discharge) power")
    high_power_kw: float = Field(default=0.0, ge=0, description="DC high (over-frequency, charge) power")
    deadband_mhz: float = Field(default=15.0, ge=0, le=15.0)
    knee_mhz: float = Field(default=200.0, gt=0, description="deviation of the knee (5 %)")
    knee_fraction: float = Field(default=0.05, ge=0, le=1)
    full_activation_mhz: float = Field(default=500.0, gt=0)
    duration_s: float = Field(default=900.0, gt=0)

    @model_validator(mode="after")
    def _shape(self) -> DcConfig:
        if not self.deadband_mhz < self.knee_mhz < self.full_activation_mhz:
            raise ValueError(
                "need deadband_mhz < knee_mhz < full_activation_mhz "
                f"(got {self.deadband_mhz:g} < {self.knee_mhz:g} < {self.full_activation_mhz:g})"
            )
        return self


class FrequencyMeasurementConfig(StrictModel):
    """The fast frequency path: which device is sampled, how fast, and which samples are rejected."""

    device: str | None = Field(default=None, description="meter id to sample (default: the grid meter)")
    sample_hz: float = Field(default=20.0, ge=10.0, le=50.0, description="sampling rate of the fast path")
    timeout_ms: int = Field(default=40, ge=5, le=1000, description="per-request timeout on the dedicated connection")
    min_hz: float = Field(default=45.0, description="samples below are implausible and rejected")
    max_hz: float = Field(default=55.0, description="samples above are implausible and rejected")
    max_rocof_hz_per_s: float = Field(default=5.0, gt=0, description="jumps faster than this are rejected")
    stale_after_ms: int = Field(default=500, ge=50, description="no accepted sample for this long → services idle")
    soc_recovery_kw: float = Field(default=0.0, ge=0, description="power used to bring SOC back into the window")
    mode: Literal["sum"] = Field(default="sum", description="how simultaneous services combine")
