"""`optimizer:` section: MPC horizon, step, tariff, battery economics and forecasts. Owned by the optimizer layer.

Keys carry their unit in the name; unknown keys are errors. Validation only: nothing here reads price files
or solves anything (zoe_ems.optimizer does, from these typed values).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from zoe_ems.config.base import StrictModel

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_ALL_DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_MAX_PLAN_AGE_H = 36.0
"""A plan is followed at most this long without a successful re-plan unless ``plan_max_age_min`` says otherwise
(beyond the published day-ahead prices a long horizon only holds forecasts)."""


class FixedEnergyPrice(StrictModel):
    """One energy price all the time."""

    type: Literal["fixed"]
    price_eur_per_kwh: float = Field(description="energy price, EUR/kWh")


class TouPeriod(StrictModel):
    """A price valid on some weekdays between two local hours."""

    days: list[Weekday] = Field(
        default_factory=lambda: list(_ALL_DAYS),
        min_length=1,
        description="weekdays the period applies",
    )
    start_hour: float = Field(ge=0, lt=24, description="local start hour (inclusive)")
    end_hour: float = Field(gt=0, le=24, description="local end hour (exclusive); below start_hour wraps midnight")
    price_eur_per_kwh: float


class TouSeason(StrictModel):
    """Periods valid in some months; the first matching period wins, else the season's default."""

    months: list[int] = Field(
        default_factory=lambda: list(range(1, 13)), min_length=1, description="months 1..12 the season covers"
    )
    default_eur_per_kwh: float = Field(description="price outside every period")
    periods: list[TouPeriod] = Field(default_factory=list)

    @field_validator("months")
    @classmethod
    def _valid_months(cls, value: list[int]) -> list[int]:
        bad = [m for m in value if not 1 <= m <= 12]
        if bad:
            raise ValueError(f"months must be 1..12, got {bad}")
        return value


class TimeOfUseEnergyPrice(StrictModel):
    """Time-of-use table in the site's local time (weekday / hour, with seasons)."""

    type: Literal["time_of_use"]
    seasons: list[TouSeason] = Field(min_length=1)

    @model_validator(mode="after")
    def _months_covered(self) -> TimeOfUseEnergyPrice:
        covered = {m for season in self.seasons for m in season.months}
        missing = sorted(set(range(1, 13)) - covered)
        if missing:
            raise ValueError(f"seasons do not cover months {missing}")
        return self


class DynamicEnergyPrice(StrictModel):
    """Spot prices from a CSV file (``utc_start``, ``price_eur_per_kwh``) and/or the northbound `prices` command."""

    type: Literal["dynamic"]
    csv_path: Path | None = Field(default=None, description="CSV with utc_start and price_eur_per_kwh columns")
    fallback_eur_per_kwh: float | None = Field(
        default=None, description="price for hours with no known or forecast price (default: last known price)"
    )


EnergyPriceConfig = Annotated[FixedEnergyPrice | TimeOfUseEnergyPrice | DynamicEnergyPrice, Field(discriminator="type")]


class SellPriceConfig(StrictModel):
    """Price received for export."""

    type: Literal["spot", "spot_minus_fee", "fixed", "zero"] = "spot_minus_fee"
    fee_eur_per_kwh: float = Field(default=0.0, ge=0, description="spot_minus_fee: fee deducted from the spot price")
    price_eur_per_kwh: float = Field(default=0.0, description="fixed: the export price")


class TariffConfig(StrictModel):
    """What energy costs: buy = (energy + grid fee + taxes) x (1 + VAT); sell per ``sell``."""

    energy: EnergyPriceConfig = Field(
        default_factory=lambda: FixedEnergyPrice(type="fixed", price_eur_per_kwh=0.25),
        description="energy (commodity) price source",
    )
    grid_fee_eur_per_kwh: float = Field(default=0.0, ge=0)
    taxes_eur_per_kwh: float = Field(default=0.0, ge=0)
    vat: float = Field(default=0.0, ge=0, le=1, description="VAT fraction applied to the buy price")
    sell: SellPriceConfig = Field(default_factory=SellPriceConfig)
    demand_charge_eur_per_kw: float = Field(
        default=0.0, ge=0, description="charge per kW of the billing period's highest step-average import"
    )
    billing_period: Literal["month", "day"] = Field(default="month", description="period of the demand charge")


class BatteryEconomicsConfig(StrictModel):
    """How the optimizer values the battery (ratings come from the devices)."""

    charge_efficiency: float = Field(default=0.95, gt=0, le=1)
    discharge_efficiency: float = Field(default=0.95, gt=0, le=1)
    degradation_eur_per_kwh: float = Field(default=0.02, ge=0, description="wear cost per kWh of AC throughput")
    terminal_value_eur_per_kwh: float | None = Field(
        default=None, description="value of a stored kWh at the horizon end (null: eta_d x mean buy price)"
    )
    ffr_reserve_minutes: float = Field(
        default=15.0, ge=0, le=240, description="minutes of armed frequency-service power kept as energy (SOC floor)"
    )


class ForecastConfig(StrictModel):
    """Load and PV forecasts."""

    history_days: int = Field(default=28, ge=1, le=365, description="history used for the weekly load profile")
    recency_half_life_days: float = Field(default=7.0, gt=0, le=365, description="weight halves every this many days")
    load_profile_kw: list[float] | None = Field(
        default=None, description="fallback load: 24 hourly values (local time) used when history is too short"
    )
    pv_peak_kw: float | None = Field(default=None, gt=0, description="PV array peak power (clear-sky scaling)")

    @field_validator("load_profile_kw")
    @classmethod
    def _hourly(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and len(value) != 24:
            raise ValueError(f"load_profile_kw needs 24 hourly values, got {len(value)}")
        return value


class ExpectedPeakConfig(StrictModel):
    """Demand charge: the plan does not shave below the peak the billing period is expected to reach anyway."""

    lookback_days: int = Field(
        default=28, ge=0, le=365, description="days of history for the expected monthly peak (0: no expectation)"
    )
    fraction: float = Field(
        default=0.95,
        ge=0,
        le=2,
        description="expected peak = fraction x the highest daily import the batteries could have held in the "
        "lookback (0: off)",
    )


class OptimizerConfig(StrictModel):
    """Model-predictive planner."""

    enabled: bool = False
    horizon_h: float = Field(
        default=96.0,
        gt=0,
        le=168,
        description="planning horizon; unpublished prices are forecast (same hour a day earlier)",
    )
    step_min: int = Field(default=15, ge=5, le=60)
    tariff: TariffConfig = Field(default_factory=TariffConfig)
    battery: BatteryEconomicsConfig = Field(default_factory=BatteryEconomicsConfig)
    forecast: ForecastConfig = Field(default_factory=ForecastConfig)
    expected_peak: ExpectedPeakConfig = Field(default_factory=ExpectedPeakConfig)
    replan_soc_deviation: float = Field(
        default=0.05, gt=0, le=1, description="re-plan early when measured SOC is this far from the plan"
    )
    plan_max_age_min: float | None = Field(
        default=None,
        gt=0,
        description="stop following a plan this old when re-planning fails (default: the horizon, at most 36 h)",
    )

    @model_validator(mode="after")
    def _horizon_fits(self) -> OptimizerConfig:
        steps = self.horizon_h * 60.0 / self.step_min
        if steps < 2 or abs(steps - round(steps)) > 1e-9:
            raise ValueError(
                f"horizon_h ({self.horizon_h}) must be a whole number (>= 2) of step_min ({self.step_min}) steps"
            )
        return self

    @property
    def n_steps(self) -> int:
        return round(self.horizon_h * 60.0 / self.step_min)

    @property
    def step_s(self) -> float:
        return self.step_min * 60.0

    @property
    def plan_max_age_s(self) -> float:
        """How long a plan is followed when re-planning fails or is skipped."""
        if self.plan_max_age_min is not None:
            return self.plan_max_age_min * 60.0
        return min(self.horizon_h, DEFAULT_MAX_PLAN_AGE_H) * 3600.0
