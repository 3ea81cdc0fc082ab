"""`control:` section: control loop timing, SOC window, safety envelope, fail-safe and one model per controller.

Owned by the control layer. Every key carries its unit in its name (_kw, _kwh, _s, _ms; SOC as a
fraction 0..1); unknown keys are errors. Defaults are the safe behaviour documented in docs/control.md.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from zoe_ems.config.base import StrictModel
from zoe_ems.config.frequency import DcConfig, FcrConfig, FfrConfig, FrequencyMeasurementConfig

EvMode = Literal["off", "now", "min_pv", "pv_surplus", "target"]


class ReserveConfig(StrictModel):
    """Battery headroom kept free for frequency services (the fast path uses it; the slow loop never does)."""

    up_kw: float = Field(
        default=0.0, ge=0, description="discharge headroom always kept free (added to ffr.power_kw when FFR is on)"
    )
    down_kw: float = Field(default=0.0, ge=0, description="charge headroom always kept free")


class FailsafeConfig(StrictModel):
    """What the engine does when an input it relies on is missing."""

    grid_meter_loss_battery: Literal["zero", "hold"] = Field(
        default="zero",
        description="grid meter stale or in error: battery power goes to zero, or holds its last setpoint",
    )
    grid_meter_loss_ev: Literal["pause", "minimum"] = Field(
        default="pause", description="grid meter stale or in error: EV chargers pause, or charge at minimum current"
    )


class SelfConsumptionConfig(StrictModel):
    """Battery holds the grid connection at a target (default 0 W: no import, no export)."""

    enabled: bool = Field(default=True, description="run the self-consumption controller")
    priority: int = Field(default=40, ge=0, le=1000, description="arbitration priority (higher wins)")
    grid_target_kw: float = Field(default=0.0, description="grid power to hold (positive = import)")
    battery_to_ev: bool = Field(
        default=False, description="let the battery discharge to cover EV charging (otherwise EV power is ignored)"
    )


class PeakShavingConfig(StrictModel):
    """Import at the connection point never above a limit; the battery discharges to hold it."""

    enabled: bool = Field(default=True, description="run the peak-shaving controller")
    priority: int = Field(default=100, ge=0, le=1000, description="arbitration priority of the import bound")
    import_limit_kw: float | None = Field(
        default=None, ge=0, description="import limit to hold (default: site.grid.import_limit_kw)"
    )
    recharge_soc: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="keep the battery at least this full for the next peak: no discharge below it except to shave, "
        "recharge within the remaining import headroom (default: off)",
    )
    recharge_kw: float | None = Field(
        default=None, gt=0, description="recharge power (default: as fast as the battery and the headroom allow)"
    )
    recharge_hysteresis_soc: float = Field(
        default=0.02, ge=0, le=0.5, description="recharging starts below recharge_soc minus this"
    )
    recharge_priority: int = Field(default=45, ge=0, le=1000, description="arbitration priority of the recharge")


class ExportLimitConfig(StrictModel):
    """Export at the connection point never above a limit: battery charges first, then PV is curtailed."""

    enabled: bool = Field(default=True, description="run the export-limit controller")
    priority: int = Field(default=100, ge=0, le=1000, description="arbitration priority (higher wins)")
    export_limit_kw: float | None = Field(
        default=None, ge=0, description="export limit to hold, 0 = zero export (default: site.grid.export_limit_kw)"
    )
    margin_kw: float = Field(
        default=0.0,
        ge=0,
        description="hold export this far inside the limit while PV is available (up to the available PV power, "
        "so it never forces grid charging at night); absorbs PV ramps between control cycles",
    )
    pv_probe_fraction: float = Field(
        default=0.05,
        gt=0,
        le=0.5,
        description="a curtailed PV inverter's limit is raised by this fraction of its rating per cycle to find "
        "its available power",
    )


class BackupReserveConfig(StrictModel):
    """Keep a reserve in the battery for outages: never discharge below it, recharge when under it."""

    enabled: bool = Field(default=False, description="run the backup-reserve controller and envelope limit")
    priority: int = Field(default=70, ge=0, le=1000, description="arbitration priority of the recharge")
    reserve_soc: float = Field(default=0.2, ge=0, le=1, description="SOC kept for backup (fraction)")
    hysteresis_soc: float = Field(default=0.02, ge=0, le=0.5, description="recharge until reserve_soc plus this")
    charge_from_grid: bool = Field(default=False, description="recharge from the grid, not only from PV surplus")
    grid_charge_kw: float | None = Field(
        default=None, gt=0, description="recharge power from the grid (default: the battery's limit)"
    )


class ManualConfig(StrictModel):
    """A fixed setpoint from the site file; a VPP/operator setpoint (InputsView.setpoint) takes precedence."""

    enabled: bool = Field(default=True, description="follow fixed and VPP/operator setpoints")
    priority: int = Field(default=80, ge=0, le=1000, description="arbitration priority (higher wins)")
    battery_kw: float | None = Field(default=None, description="fixed battery power (positive = charge)")
    grid_kw: float | None = Field(default=None, description="fixed grid power held by the battery (positive = import)")

    @model_validator(mode="after")
    def _one_target(self) -> ManualConfig:
        if self.battery_kw is not None and self.grid_kw is not None:
            raise ValueError("set battery_kw or grid_kw, not both")
        return self


class ScheduleConfig(StrictModel):
    """Follows the per-interval battery plan (optimizer or `schedule` command), tracking its SOC trajectory."""

    enabled: bool = Field(default=True, description="follow a plan when one is active")
    priority: int = Field(default=60, ge=0, le=1000, description="arbitration priority (higher wins)")
    soc_tracking: bool = Field(default=True, description="correct the power when the SOC drifts from the plan")
    soc_correction_horizon_s: float = Field(
        default=900.0, gt=0, description="a SOC deviation is corrected over this time"
    )


class DrEventConfig(StrictModel):
    """Demand response: during an event, import at most baseline minus the target reduction."""

    enabled: bool = Field(default=True, description="honour DR events")
    priority: int = Field(default=90, ge=0, le=1000, description="arbitration priority (higher wins)")


class EvChargerConfig(StrictModel):
    """Charging settings of one EV charger."""

    mode: EvMode = Field(default="now", description="off | now | min_pv | pv_surplus | target")
    target_energy_kwh: float | None = Field(default=None, gt=0, description="mode target: energy to deliver")
    departure: str | None = Field(default=None, description="mode target: daily departure time HH:MM (site time)")

    @field_validator("departure")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        if value is not None:
            match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value)
            if match is None:
                raise ValueError(f"departure must be HH:MM (24 h), got {value!r}")
        return value

    @model_validator(mode="after")
    def _target_needs(self) -> EvChargerConfig:
        if self.mode == "target" and (self.target_energy_kwh is None or self.departure is None):
            raise ValueError("mode target needs target_energy_kwh and departure")
        return self


class EvChargingConfig(StrictModel):
    """EV charging modes with the minimum current and enable/disable hysteresis."""

    enabled: bool = Field(default=True, description="control EV chargers")
    priority: int = Field(default=50, ge=0, le=1000, description="arbitration priority (higher wins)")
    default_mode: EvMode = Field(default="now", description="mode of chargers not listed under chargers")
    enable_delay_s: float = Field(default=60.0, ge=0, description="surplus must last this long before charging starts")
    disable_delay_s: float = Field(
        default=180.0, ge=0, description="missing surplus must last this long before charging pauses"
    )
    enable_margin_kw: float = Field(default=0.0, ge=0, description="start when surplus ≥ minimum power + this")
    disable_margin_kw: float = Field(default=0.5, ge=0, description="pause when surplus < minimum power − this")
    chargers: dict[str, EvChargerConfig] = Field(default_factory=dict, description="per charger id: its settings")


class SgReadyConfig(StrictModel):
    """SG-Ready heat pumps: block during peaks or high prices, recommend or force on surplus or low prices."""

    enabled: bool = Field(default=True, description="control SG-Ready relays")
    priority: int = Field(default=30, ge=0, le=1000, description="arbitration priority (higher wins)")
    min_switch_interval_s: float = Field(default=300.0, ge=0, description="minimum time between two state changes")
    max_block_s: float = Field(default=7200.0, gt=0, le=7200.0, description="longest block (grid rules: 2 h)")
    max_blocks_per_day: int = Field(default=3, ge=0, le=3, description="blocks per local day (grid rules: 3)")
    block_import_kw: float | None = Field(
        default=None,
        ge=0,
        description="block while import before the battery exceeds this (default: the peak-shaving limit)",
    )
    block_price_eur_per_kwh: float | None = Field(default=None, description="block while buy price ≥ this")
    recommend_surplus_kw: float | None = Field(
        default=2.0, ge=0, description="recommend on while PV surplus ≥ this (null: never)"
    )
    force_surplus_kw: float | None = Field(default=None, ge=0, description="force on while PV surplus ≥ this")
    recommend_price_eur_per_kwh: float | None = Field(default=None, description="recommend on while buy price ≤ this")
    force_price_eur_per_kwh: float | None = Field(default=None, description="force on while buy price ≤ this")


class LoadLimitContactConfig(StrictModel):
    """A contact (control box, ripple-control receiver) read through a ``digital_io`` device."""

    device: str = Field(description="id of the digital_io device wired to the contact")
    point: str = Field(default="di1", pattern=r"^di[1-4]$", description="its input (di1..di4)")
    active_when: Literal["closed", "open"] = Field(
        default="closed", description='contact state that means "limit controllable loads"'
    )
    limit_kw: float = Field(
        default=0.0,
        ge=0,
        description="total for all controllable loads while active; 0 = each device at min_device_kw (§14a)",
    )
    on_stale: Literal["limit", "ignore"] = Field(
        default="limit",
        description="when the contact cannot be read: limit (fail safe, with an alarm) or ignore (alarm only)",
    )


class LoadLimitConfig(StrictModel):
    """External cap on controllable loads (§14a EnWG dimming, ripple-control contact)."""

    enabled: bool = Field(default=True, description="honour external load limits")
    priority: int = Field(default=95, ge=0, le=1000, description="arbitration priority (higher wins)")
    min_device_kw: float = Field(default=4.2, ge=0, description="never cap a device below this (§14a: 4.2 kW)")
    contact: LoadLimitContactConfig | None = Field(
        default=None, description="a contact that activates the limit (read every control cycle)"
    )


class ControlConfig(StrictModel):
    """The real-time control loop."""

    cycle_ms: int = Field(default=500, ge=100, le=2000, description="control cycle period")
    soc_min: float = Field(default=0.05, ge=0, le=1, description="lowest SOC the EMS discharges to (fraction)")
    soc_max: float = Field(default=0.95, ge=0, le=1, description="highest SOC the EMS charges to (fraction)")
    ffr: FfrConfig = Field(default_factory=FfrConfig, description="Nordic fast frequency response")
    fcr: FcrConfig = Field(default_factory=FcrConfig, description="frequency containment reserve (droop)")
    dc: DcConfig = Field(default_factory=DcConfig, description="GB Dynamic Containment")
    frequency: FrequencyMeasurementConfig = Field(
        default_factory=FrequencyMeasurementConfig, description="fast frequency path: sampling and plausibility"
    )
    ramp_kw_per_s: float | None = Field(
        default=None, gt=0, description="largest change of each PCS setpoint per second (null: no ramp limit)"
    )
    reserve: ReserveConfig = Field(default_factory=ReserveConfig, description="headroom for frequency services")
    failsafe: FailsafeConfig = Field(default_factory=FailsafeConfig, description="behaviour on lost inputs")
    self_consumption: SelfConsumptionConfig = Field(
        default_factory=SelfConsumptionConfig, description="self-consumption controller"
    )
    peak_shaving: PeakShavingConfig = Field(default_factory=PeakShavingConfig, description="peak-shaving controller")
    export_limit: ExportLimitConfig = Field(
        default_factory=ExportLimitConfig, description="export-limit / zero-export controller"
    )
    backup_reserve: BackupReserveConfig = Field(
        default_factory=BackupReserveConfig, description="backup-reserve controller"
    )
    manual: ManualConfig = Field(default_factory=ManualConfig, description="fixed / VPP setpoint controller")
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig, description="schedule (plan) follower")
    dr_event: DrEventConfig = Field(default_factory=DrEventConfig, description="demand-response events")
    ev_charging: EvChargingConfig = Field(default_factory=EvChargingConfig, description="EV charging controller")
    sg_ready: SgReadyConfig = Field(default_factory=SgReadyConfig, description="SG-Ready heat-pump controller")
    load_limit: LoadLimitConfig = Field(default_factory=LoadLimitConfig, description="external load limit (§14a)")

    @model_validator(mode="after")
    def _soc_window(self) -> ControlConfig:
        if self.soc_min >= self.soc_max:
            raise ValueError(f"soc_min ({self.soc_min}) must be below soc_max ({self.soc_max})")
        if self.backup_reserve.enabled and not self.soc_min <= self.backup_reserve.reserve_soc <= self.soc_max:
            raise ValueError(
                f"backup_reserve.reserve_soc ({self.backup_reserve.reserve_soc}) must lie in the SOC window "
                f"[{self.soc_min}, {self.soc_max}]"
            )
        return self
