"""The frequency responder: validates samples, combines the armed services, manages state of energy.

Pure logic used by the fast path (per accepted sample) and by the slow loop (reserved headroom, SOC
window, recovery power, availability). Time comes from the caller; nothing here performs I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from zoe_ems.config.frequency import DcConfig, FcrConfig, FfrConfig, FrequencyMeasurementConfig
from zoe_ems.frequency.services import DcService, FcrService, FfrService, ServiceOutput


def reserved_w(ffr: FfrConfig, fcr: FcrConfig, dc: DcConfig) -> tuple[float, float]:
    """(charge, discharge) headroom the enabled services need, W."""
    charge = discharge = 0.0
    if ffr.enabled:
        discharge += ffr.power_kw * 1000.0
        charge += ffr.power_kw * 1000.0 if ffr.over_frequency else 0.0
    if fcr.enabled:
        charge += fcr.power_kw * 1000.0
        discharge += fcr.power_kw * 1000.0
    if dc.enabled:
        charge += dc.high_power_kw * 1000.0
        discharge += dc.low_power_kw * 1000.0
    return charge, discharge


class Service(Protocol):
    name: str

    def respond(self, f_hz: float, t_mono: float) -> ServiceOutput:
        """The answer to an accepted sample."""
        ...

    def coast(self, t_mono: float, held: ServiceOutput | None) -> ServiceOutput:
        """The output at ``t_mono`` without a new accepted sample; ``held`` is the answer to the last accepted
        sample while it is fresh, None once samples are stale."""
        ...


@dataclass
class SampleFilter:
    """Rejects implausible samples (outside [min, max]) and jumps faster than the configured rate."""

    config: FrequencyMeasurementConfig
    accepted: int = 0
    rejected_range: int = 0
    rejected_rocof: int = 0
    last_hz: float | None = None
    last_mono: float | None = None

    def accept(self, f_hz: float | None, t_mono: float) -> bool:
        if f_hz is None or not math.isfinite(f_hz) or not self.config.min_hz <= f_hz <= self.config.max_hz:
            self.rejected_range += 1
            return False
        if self.last_hz is not None and self.last_mono is not None:
            dt = t_mono - self.last_mono
            stale = dt > self.config.stale_after_ms / 1000.0
            if not stale and dt > 0 and abs(f_hz - self.last_hz) / dt > self.config.max_rocof_hz_per_s:
                self.rejected_rocof += 1
                return False
        self.last_hz, self.last_mono = f_hz, t_mono
        self.accepted += 1
        return True

    def is_stale(self, now_mono: float) -> bool:
        return self.last_mono is None or now_mono - self.last_mono > self.config.stale_after_ms / 1000.0


@dataclass(frozen=True, kw_only=True)
class Response:
    """Combined response to one sample."""

    p_w: float
    active: bool
    outputs: tuple[ServiceOutput, ...]
    t_mono: float
    """When it was evaluated."""
    sample: bool = True
    """False when evaluated without a new accepted sample (see ``FrequencyResponder.current_p_w``)."""


@dataclass(frozen=True, kw_only=True)
class EnergyWindow:
    """SOC window in which every armed service can be held for its full duration in both directions."""

    soc_floor: float
    soc_ceiling: float
    energy_down_wh: float
    energy_up_wh: float

    @property
    def feasible(self) -> bool:
        return self.soc_floor <= self.soc_ceiling


@dataclass
class FrequencyResponder:
    """All armed services of a site and their combined response."""

    ffr: FfrConfig
    fcr: FcrConfig
    dc: DcConfig
    measurement: FrequencyMeasurementConfig
    services: list[Service] = field(default_factory=list)
    filter: SampleFilter = field(init=False)
    last: Response | None = None

    def __post_init__(self) -> None:
        self.filter = SampleFilter(self.measurement)
        self.rebuild()

    def rebuild(self) -> None:
        """(Re)create the services from the current configs (after a `frequency_service` order changed).

        A service whose config is unchanged is kept as it is, so an FFR activation under way (hold, ramp-down,
        re-arm delay) is not reset by a change to another service; a changed FFR config takes over the running
        activation cycle instead of starting armed.
        """
        previous = {service.name: service for service in self.services}
        services: list[Service] = []
        if self.ffr.enabled and self.ffr.power_kw > 0:
            old_ffr = previous.get(FfrService.name)
            if isinstance(old_ffr, FfrService) and old_ffr.config == self.ffr:
                services.append(old_ffr)
            else:
                ffr = FfrService(self.ffr)
                if isinstance(old_ffr, FfrService):
                    ffr.carry_over(old_ffr)
                services.append(ffr)
        if self.fcr.enabled and self.fcr.power_kw > 0:
            old_fcr = previous.get(FcrService.name)
            same = isinstance(old_fcr, FcrService) and old_fcr.config == self.fcr
            services.append(old_fcr if same and old_fcr is not None else FcrService(self.fcr))
        if self.dc.enabled and (self.dc.low_power_kw > 0 or self.dc.high_power_kw > 0):
            old_dc = previous.get(DcService.name)
            same = isinstance(old_dc, DcService) and old_dc.config == self.dc
            services.append(old_dc if same and old_dc is not None else DcService(self.dc))
        self.services = services

    @property
    def armed(self) -> bool:
        return bool(self.services)

    def on_sample(self, f_hz: float | None, t_mono: float) -> Response | None:
        """Evaluate one sample that was read (``f_hz`` None: the meter reported no value); None when rejected.

        A read that failed is not a sample: do not pass it here (the fast path counts it as a read error).
        """
        if not self.filter.accept(f_hz, t_mono):
            return None
        assert f_hz is not None
        outputs = tuple(service.respond(f_hz, t_mono) for service in self.services)
        self.last = _combined(outputs, t_mono, sample=True)
        return self.last

    def current_p_w(self, now_mono: float) -> float:
        """The response to apply now; advances the FFR timers when no sample was accepted at ``now_mono``.

        - An accepted sample at ``now_mono``: its response.
        - Otherwise, while the last accepted sample is fresh: FCR and DC hold their answer to it.
        - Once samples are stale (none accepted for ``stale_after_ms``): FCR and DC, continuous droop services,
          give nothing (fail safe).
        - In both cases an FFR activation already under way runs its hold and ramp-down on its own clock
          (the contracted support is delivered); without an accepted sample nothing triggers or re-arms.
        """
        last = self.last
        if last is not None and last.sample and last.t_mono == now_mono:
            return last.p_w
        stale = self.filter.is_stale(now_mono)
        held = {o.name: o for o in last.outputs} if last is not None and not stale else {}
        outputs = tuple(service.coast(now_mono, held.get(service.name)) for service in self.services)
        self.last = _combined(outputs, now_mono, sample=False)
        return self.last.p_w

    def reserved_w(self) -> tuple[float, float]:
        """(charge, discharge) power kept out of reach of the slow loop's other controllers."""
        return reserved_w(self.ffr, self.fcr, self.dc)

    def energy_window(self, capacity_wh: float, soc_min: float, soc_max: float) -> EnergyWindow:
        """The SOC window that keeps every armed service deliverable for its whole duration."""
        down_wh = up_wh = 0.0
        if self.ffr.enabled:
            # 5 s support + ramp-down at rampdown %/s, or 30 s at full power.
            hold_s = self.ffr.support_s + (50.0 / self.ffr.rampdown_pct_per_s if self.ffr.support_s == 5 else 0.0)
            down_wh += self.ffr.power_kw * 1000.0 * hold_s / 3600.0
            if self.ffr.over_frequency:
                up_wh += self.ffr.power_kw * 1000.0 * hold_s / 3600.0
        if self.fcr.enabled:
            energy = self.fcr.power_kw * 1000.0 * self.fcr.duration_s / 3600.0
            down_wh += energy
            up_wh += energy
        if self.dc.enabled:
            down_wh += self.dc.low_power_kw * 1000.0 * self.dc.duration_s / 3600.0
            up_wh += self.dc.high_power_kw * 1000.0 * self.dc.duration_s / 3600.0
        if capacity_wh <= 0:
            return EnergyWindow(soc_floor=1.0, soc_ceiling=0.0, energy_down_wh=down_wh, energy_up_wh=up_wh)
        return EnergyWindow(
            soc_floor=soc_min + down_wh / capacity_wh,
            soc_ceiling=soc_max - up_wh / capacity_wh,
            energy_down_wh=down_wh,
            energy_up_wh=up_wh,
        )

    def availability(self, soc: float | None, capacity_wh: float, soc_min: float, soc_max: float) -> tuple[bool, str]:
        """Whether the armed services can be held right now, and why not."""
        if not self.armed:
            return False, "no service armed"
        if soc is None:
            return False, "SOC unknown"
        window = self.energy_window(capacity_wh, soc_min, soc_max)
        if not window.feasible:
            return False, (
                f"battery too small: services need SOC ≥ {window.soc_floor:.3f} and ≤ {window.soc_ceiling:.3f}"
            )
        if soc < window.soc_floor:
            return False, f"SOC {soc:.3f} below the service floor {window.soc_floor:.3f}"
        if soc > window.soc_ceiling:
            return False, f"SOC {soc:.3f} above the service ceiling {window.soc_ceiling:.3f}"
        return True, "available"

    def recovery_power_w(self, soc: float | None, capacity_wh: float, soc_min: float, soc_max: float) -> float:
        """Power that brings SOC back into the service window (0 while a response is active)."""
        if soc is None or not self.armed or (self.last is not None and self.last.active):
            return 0.0
        window = self.energy_window(capacity_wh, soc_min, soc_max)
        limit = self.measurement.soc_recovery_kw * 1000.0
        if not window.feasible or limit <= 0:
            return 0.0
        target_low = min(window.soc_floor + 0.02, window.soc_ceiling)
        target_high = max(window.soc_ceiling - 0.02, window.soc_floor)
        if soc < target_low:
            return limit
        if soc > target_high:
            return -limit
        return 0.0


def _combined(outputs: tuple[ServiceOutput, ...], t_mono: float, *, sample: bool) -> Response:
    return Response(
        p_w=sum(o.p_w for o in outputs),
        active=any(o.active for o in outputs),
        outputs=outputs,
        t_mono=t_mono,
        sample=sample,
    )
