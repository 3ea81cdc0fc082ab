"""From the site file and live state to the optimizer's ModelSpec and MpcInputs.

Owns the mapping of devices (PCS/BMS ratings), control settings (SOC window, backup reserve, frequency
service headroom), grid limits and operating envelopes, billing periods and forecasts onto the model.
Blocking (reads history): call from a worker thread. Never solves, never touches devices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from drivers.points import DeviceKind
from zoe_ems.config.model import SiteConfig
from zoe_ems.control.inputs import EnvelopeInput
from zoe_ems.frequency.responder import reserved_w
from zoe_ems.optimizer.forecast import HistorySource, LoadForecaster, PvForecaster
from zoe_ems.optimizer.peak import ExpectedPeak, Fleet
from zoe_ems.optimizer.problem import BatterySpec, EvRequest, FloatArray, InputError, ModelSpec, MpcInputs
from zoe_ems.optimizer.series import TimeSeries
from zoe_ems.optimizer.tariffs import Tariff


@dataclass(frozen=True, kw_only=True)
class SiteState:
    """What the planner needs to know about now (read from the process image and inputs by the daemon)."""

    soc: Sequence[float]
    """Per battery, in ``batteries_from_config`` order (fraction)."""
    peak_so_far_w: float = 0.0
    envelopes: Sequence[EnvelopeInput] = ()
    evs: Sequence[EvRequest] = ()
    load_forecast_w: TimeSeries | None = None
    """Supplied load forecast (W); overrides the learned one where it has values."""
    pv_forecast_w: TimeSeries | None = None
    """Supplied PV forecast (W, passive sign); overrides the learned one where it has values."""
    measured_utc: float | None = None
    """When ``soc`` was read; inside the plan's first step it becomes the start of the SOC trajectory."""
    elapsed_import_w: float | None = None
    """Average grid import measured from the first step's start until ``measured_utc`` (None: unknown)."""
    frequency_reserve_w: tuple[float, float] | None = None
    """(charge, discharge) power of the frequency services armed now; None = the services enabled in the
    site file (``control.ffr/fcr/dc``). Set when a `frequency_service` command arms or disarms one."""


def batteries_from_config(config: SiteConfig) -> tuple[BatterySpec, ...]:
    """One BatterySpec per PCS (capacity from the PCS or its BMS). Raises InputError naming the device."""
    economics = config.optimizer.battery
    result: list[BatterySpec] = []
    for index, device in enumerate(config.devices):
        if device.kind is not DeviceKind.PCS:
            continue
        capacity_kwh = device.capacity_kwh
        if capacity_kwh is None and device.bms is not None:
            capacity_kwh = config.device(device.bms).capacity_kwh
        if capacity_kwh is None:
            raise InputError(f"devices.{index}.capacity_kwh: pcs {device.id!r} needs capacity_kwh (or a bms with it)")
        if device.rated_power_kw is None:
            raise InputError(
                f"devices.{index}.rated_power_kw: pcs {device.id!r} needs rated_power_kw for the optimizer"
            )
        result.append(
            BatterySpec(
                name=device.id,
                capacity_wh=capacity_kwh * 1000.0,
                max_charge_w=device.rated_power_kw * 1000.0,
                max_discharge_w=device.rated_power_kw * 1000.0,
                charge_efficiency=economics.charge_efficiency,
                discharge_efficiency=economics.discharge_efficiency,
                soc_min=config.control.soc_min,
                soc_max=config.control.soc_max,
                degradation_eur_per_kwh=economics.degradation_eur_per_kwh,
            )
        )
    return tuple(result)


def model_spec_from_config(config: SiteConfig, n_ev: int = 0) -> ModelSpec:
    """The model structure for a site (rebuild the model when this changes)."""
    opt = config.optimizer
    batteries = batteries_from_config(config)
    base = max([b.max_charge_w for b in batteries] + [b.max_discharge_w for b in batteries], default=0.0)
    if base <= 0:
        base = max(config.site.grid.import_limit_w, 1000.0)
    return ModelSpec(n_steps=opt.n_steps, step_s=opt.step_s, batteries=batteries, n_ev=n_ev, power_base_w=base)


def grid_limits(
    config: SiteConfig, envelopes: Sequence[EnvelopeInput], start_utc: float, step_s: float, n: int
) -> tuple[FloatArray, FloatArray]:
    """Import and export limits per step: static site limits tightened by envelopes overlapping each step."""
    starts = start_utc + step_s * np.arange(n)
    imports = np.full(n, config.site.grid.import_limit_w)
    exports = np.full(n, config.site.grid.export_limit_w)
    for envelope in envelopes:
        overlap = (starts < envelope.end_utc) & (starts + step_s > envelope.start_utc)
        if envelope.import_limit_w is not None:
            imports[overlap] = np.minimum(imports[overlap], envelope.import_limit_w)
        if envelope.export_limit_w is not None:
            exports[overlap] = np.minimum(exports[overlap], envelope.export_limit_w)
    return imports, exports


def billing_masks(config: SiteConfig, start_utc: float, step_s: float, n: int) -> tuple[FloatArray, FloatArray]:
    """(current period, next period) masks per step for the demand charge, in the site's local time."""
    zone = ZoneInfo(config.site.timezone)
    now = datetime.fromtimestamp(start_utc, tz=zone)
    if config.optimizer.tariff.billing_period == "day":
        boundary = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        boundary = (first + timedelta(days=32)).replace(day=1)
    end = boundary.timestamp()
    starts = start_utc + step_s * np.arange(n)
    current = (starts < end).astype(float)
    return current, 1.0 - current


@dataclass
class SiteInputsBuilder:
    """Builds MpcInputs for a solve starting at ``start_utc`` from config, tariff, forecasts and state."""

    config: SiteConfig
    tariff: Tariff
    state: Callable[[], SiteState]
    history: HistorySource | None = None
    load_forecaster: LoadForecaster | None = None
    pv_forecaster: PvForecaster | None = None
    expected_peak: ExpectedPeak | None = None
    """Floor of the planned monthly peak from history; None on sites without a monthly demand charge."""
    last_forecasts: dict[str, TimeSeries] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fc = self.config.optimizer.forecast
        if self.load_forecaster is None:
            profile = tuple(v * 1000.0 for v in fc.load_profile_kw) if fc.load_profile_kw else None
            offset = datetime.now(ZoneInfo(self.config.site.timezone)).utcoffset()
            self.load_forecaster = LoadForecaster(
                history_days=fc.history_days,
                recency_half_life_days=fc.recency_half_life_days,
                fallback_profile_w=profile,
                utc_offset_s=offset.total_seconds() if offset else 0.0,
            )
        site = self.config.site
        if self.pv_forecaster is None and site.latitude is not None and site.longitude is not None:
            peak = fc.pv_peak_kw * 1000.0 if fc.pv_peak_kw else None
            self.pv_forecaster = PvForecaster(latitude=site.latitude, longitude=site.longitude, peak_w=peak)
        tariff = self.config.optimizer.tariff
        expected = self.config.optimizer.expected_peak
        if (
            self.expected_peak is None
            and tariff.demand_charge_eur_per_kw > 0
            and tariff.billing_period == "month"
            and expected.lookback_days > 0
            and expected.fraction > 0
        ):
            self.expected_peak = ExpectedPeak(
                lookback_days=expected.lookback_days, fraction=expected.fraction, timezone=site.timezone
            )

    def spec(self) -> ModelSpec:
        """Model structure for the current state (the EV count can change)."""
        return model_spec_from_config(self.config, n_ev=len(self.state().evs))

    def build(self, spec: ModelSpec, start_utc: float) -> MpcInputs:
        """Inputs for a solve over ``spec`` starting at ``start_utc``."""
        state = self.state()
        n, step = spec.n_steps, spec.step_s
        assert self.load_forecaster is not None
        load = self.load_forecaster.forecast(self.history, start_utc, step, n)
        if state.load_forecast_w is not None:
            supplied = state.load_forecast_w.sample(start_utc, step, n)
            load = np.where(np.isnan(supplied), load, supplied)
        pv = (
            self.pv_forecaster.forecast(self.history, start_utc, step, n)
            if self.pv_forecaster is not None
            else np.zeros(n)
        )
        if state.pv_forecast_w is not None:
            supplied = state.pv_forecast_w.sample(start_utc, step, n)
            pv = np.where(np.isnan(supplied), pv, supplied)
        self.last_forecasts = {"load_w": TimeSeries(start_utc, step, load), "pv_w": TimeSeries(start_utc, step, pv)}
        buy, sell = self.tariff.prices(start_utc, step, n)
        imports, exports = grid_limits(self.config, state.envelopes, start_utc, step, n)
        current, following = billing_masks(self.config, start_utc, step, n)
        floor, ceiling, charge_max, discharge_max = self._reserves(spec, state)
        demand = self.config.optimizer.tariff.demand_charge_eur_per_kw
        measured = state.measured_utc
        if measured is not None and not start_utc <= measured < start_utc + step:
            measured = None
        terminal = self.config.optimizer.battery.terminal_value_eur_per_kwh
        expected_peak = (
            self.expected_peak.floor_w(self.history, start_utc, step, Fleet.of(spec.batteries))
            if self.expected_peak is not None and spec.batteries
            else 0.0
        )
        return MpcInputs(
            start_utc=start_utc,
            load_w=load,
            pv_w=np.minimum(pv, 0.0),
            buy_eur_per_kwh=buy,
            sell_eur_per_kwh=sell,
            soc=np.asarray(state.soc, dtype=float),
            import_limit_w=imports,
            export_limit_w=exports,
            soc_floor=floor,
            soc_ceiling=ceiling,
            charge_max_w=charge_max,
            discharge_max_w=discharge_max,
            demand_charge_eur_per_kw=demand,
            peak_so_far_w=state.peak_so_far_w,
            expected_peak_w=expected_peak,
            demand_mask=current,
            next_period_demand_charge_eur_per_kw=demand,
            next_period_mask=following,
            evs=tuple(state.evs),
            terminal_value_eur_per_kwh=None if terminal is None else np.full(len(spec.batteries), terminal),
            now_utc=measured,
            elapsed_import_w=state.elapsed_import_w if measured is not None else None,
        )

    def _reserves(self, spec: ModelSpec, state: SiteState) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """(SOC floor, SOC ceiling, charge max, discharge max), battery x step.

        Power: the static reserve plus the armed frequency services' power is kept out of the plan's reach,
        shared between batteries by rating. Energy: ``ffr_reserve_minutes`` of that power is kept above the
        floor (discharge services, backup reserve included) and below the ceiling (charge services).
        """
        control = self.config.control
        n = spec.n_steps
        batteries = spec.batteries
        capacity = np.array([b.capacity_wh for b in batteries])
        rating_d = np.array([b.max_discharge_w for b in batteries])
        rating_c = np.array([b.max_charge_w for b in batteries])
        if state.frequency_reserve_w is not None:
            service_charge_w, service_discharge_w = state.frequency_reserve_w
        else:
            service_charge_w, service_discharge_w = reserved_w(control.ffr, control.fcr, control.dc)
        up_w = control.reserve.up_kw * 1000.0 + service_discharge_w
        down_w = control.reserve.down_kw * 1000.0 + service_charge_w
        floor = np.array([b.soc_min for b in batteries], dtype=float)
        ceiling = np.array([b.soc_max for b in batteries], dtype=float)
        if control.backup_reserve.enabled:
            floor = np.maximum(floor, control.backup_reserve.reserve_soc)
        minutes = self.config.optimizer.battery.ffr_reserve_minutes
        if capacity.sum() > 0:
            floor = floor + up_w * minutes / 60.0 / capacity.sum()
            ceiling = ceiling - down_w * minutes / 60.0 / capacity.sum()
        share_d = rating_d / rating_d.sum() if rating_d.sum() > 0 else np.zeros(len(batteries))
        share_c = rating_c / rating_c.sum() if rating_c.sum() > 0 else np.zeros(len(batteries))
        discharge_max = np.maximum(rating_d - up_w * share_d, 0.0)
        charge_max = np.maximum(rating_c - down_w * share_c, 0.0)
        floor = np.minimum(floor, 1.0)
        ceiling = np.maximum(ceiling, floor)
        return (
            np.repeat(floor[:, None], n, axis=1),
            np.repeat(ceiling[:, None], n, axis=1),
            np.repeat(charge_max[:, None], n, axis=1),
            np.repeat(discharge_max[:, None], n, axis=1),
        )
