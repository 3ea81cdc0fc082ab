"""Response shapes of the frequency services: Nordic FFR, Continental FCR and GB Dynamic Containment.

Each service turns an accepted frequency sample (Hz, at monotonic time t) into a battery power
(W, passive convention: negative = discharge supports under-frequency), and says what it delivers when no
usable sample arrived (``coast``). Pure and deterministic: state (FFR activation timers) lives in the
service object, time comes from the caller. Never reads a meter or writes a device.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from zoe_ems.config.frequency import DcConfig, FcrConfig, FfrConfig

NOMINAL_HZ = 50.0


class FfrState(StrEnum):
    """Where an FFR service is in its activation cycle."""

    ARMED = "armed"
    ACTIVE = "active"
    RAMP_DOWN = "ramp_down"
    RECOVERING = "recovering"


@dataclass(frozen=True, kw_only=True)
class ServiceOutput:
    """One service's response to a sample."""

    name: str
    p_w: float
    """Battery power, passive convention."""
    active: bool
    """True while the service is delivering a non-zero response (or holding an activation)."""
    reserve_charge_w: float
    """Charge power this service keeps reserved (over-frequency response)."""
    reserve_discharge_w: float
    """Discharge power this service keeps reserved (under-frequency response)."""
    state: str = ""


class FcrService:
    """Symmetric linear droop: full power at ±full_activation, nothing inside the deadband."""

    name = "fcr"

    def __init__(self, config: FcrConfig) -> None:
        self.config = config
        self.power_w = config.power_kw * 1000.0

    def respond(self, f_hz: float, t_mono: float) -> ServiceOutput:
        deviation = _deviation_hz(f_hz)
        deadband = self.config.deadband_mhz / 1000.0
        full = self.config.full_activation_mhz / 1000.0
        fraction = 0.0 if abs(deviation) <= deadband else max(-1.0, min(1.0, deviation / full))
        p_w = self.power_w * fraction
        return ServiceOutput(
            name=self.name,
            p_w=p_w,
            active=fraction != 0.0,
            reserve_charge_w=self.power_w,
            reserve_discharge_w=self.power_w,
        )

    def coast(self, t_mono: float, held: ServiceOutput | None) -> ServiceOutput:
        """No new accepted sample: keep the answer to the last one while it is fresh, else nothing (fail safe)."""
        return held if held is not None else self.respond(NOMINAL_HZ, t_mono)


def dc_fraction(deviation_hz: float, config: DcConfig) -> float:
    """Dynamic Containment response fraction (0..1) for the magnitude of a deviation."""
    magnitude = abs(deviation_hz)
    deadband = config.deadband_mhz / 1000.0
    knee = config.knee_mhz / 1000.0
    full = config.full_activation_mhz / 1000.0
    if magnitude <= deadband:
        return 0.0
    if magnitude <= knee:
        return config.knee_fraction * (magnitude - deadband) / (knee - deadband)
    if magnitude <= full:
        return config.knee_fraction + (1.0 - config.knee_fraction) * (magnitude - knee) / (full - knee)
    return 1.0


class DcService:
    """GB Dynamic Containment: low side discharges on under-frequency, high side charges on over-frequency."""

    name = "dc"

    def __init__(self, config: DcConfig) -> None:
        self.config = config
        self.low_w = config.low_power_kw * 1000.0
        self.high_w = config.high_power_kw * 1000.0

    def respond(self, f_hz: float, t_mono: float) -> ServiceOutput:
        deviation = _deviation_hz(f_hz)
        fraction = dc_fraction(deviation, self.config)
        p_w = -self.low_w * fraction if deviation < 0 else self.high_w * fraction
        return ServiceOutput(
            name=self.name,
            p_w=p_w,
            active=fraction > 0.0,
            reserve_charge_w=self.high_w,
            reserve_discharge_w=self.low_w,
        )

    def coast(self, t_mono: float, held: ServiceOutput | None) -> ServiceOutput:
        """No new accepted sample: keep the answer to the last one while it is fresh, else nothing (fail safe)."""
        return held if held is not None else self.respond(NOMINAL_HZ, t_mono)


class FfrService:
    """Nordic FFR: step to full power below the trigger, hold, ramp or step down, then re-arm.

    Support 5 s → ramp down at ≤ rampdown %/s; support 30 s → step down. After deactivation the
    service re-arms once frequency is back above trigger + hysteresis and ``rearm_delay_s`` has passed.
    The over-frequency mirror (charging) uses the same cycle with the over-frequency trigger.
    """

    name = "ffr"

    def __init__(self, config: FfrConfig) -> None:
        self.config = config
        self.power_w = config.power_kw * 1000.0
        self.state = FfrState.ARMED
        self.direction = 0
        """-1 under-frequency (discharge), +1 over-frequency (charge), 0 idle."""
        self._since = 0.0
        self.activations = 0
        self.last_activation_mono: float | None = None

    def _triggered(self, f_hz: float) -> int:
        if f_hz <= self.config.trigger_hz:
            return -1
        if self.config.over_frequency and f_hz >= self.config.over_trigger_hz:
            return 1
        return 0

    def _recovered(self, f_hz: float) -> bool:
        hysteresis = self.config.rearm_hysteresis_hz
        under_ok = f_hz > self.config.trigger_hz + hysteresis
        over_ok = not self.config.over_frequency or f_hz < self.config.over_trigger_hz - hysteresis
        return under_ok and over_ok

    def respond(self, f_hz: float, t_mono: float) -> ServiceOutput:
        if self.state is FfrState.ARMED:
            direction = self._triggered(f_hz)
            if direction != 0:
                self.state, self.direction, self._since = FfrState.ACTIVE, direction, t_mono
                self.activations += 1
                self.last_activation_mono = t_mono
        level = self._advance(t_mono)
        if (
            self.state is FfrState.RECOVERING
            and t_mono - self._since >= self.config.rearm_delay_s
            and self._recovered(f_hz)
        ):
            self.state, self.direction = FfrState.ARMED, 0
        return self._output(level)

    def coast(self, t_mono: float, held: ServiceOutput | None) -> ServiceOutput:
        """No usable sample (rejected, failed or stale): an activation under way runs its hold and ramp-down on
        its own clock; nothing triggers and nothing re-arms without an accepted sample."""
        return self._output(self._advance(t_mono))

    def carry_over(self, previous: FfrService) -> None:
        """Continue ``previous``'s activation cycle (timers, re-arm state) under this service's parameters."""
        self.state, self.direction, self._since = previous.state, previous.direction, previous._since
        self.activations, self.last_activation_mono = previous.activations, previous.last_activation_mono

    def _advance(self, t_mono: float) -> float:
        """Move the timed states on to ``t_mono``; the response level (0..1) there."""
        level = 0.0
        if self.state is FfrState.ACTIVE:
            end = self._since + self.config.support_s
            if t_mono < end:
                level = 1.0
            elif self.config.support_s == 5:
                self.state, self._since = FfrState.RAMP_DOWN, end
            else:
                self.state, self._since = FfrState.RECOVERING, end
        if self.state is FfrState.RAMP_DOWN:
            level = 1.0 - (t_mono - self._since) * self.config.rampdown_pct_per_s / 100.0
            if level <= 0.0:
                level = 0.0
                self.state = FfrState.RECOVERING
                self._since += 100.0 / self.config.rampdown_pct_per_s
        return min(level, 1.0)

    def _output(self, level: float) -> ServiceOutput:
        return ServiceOutput(
            name=self.name,
            p_w=self.direction * self.power_w * level,
            active=self.state in (FfrState.ACTIVE, FfrState.RAMP_DOWN),
            reserve_charge_w=self.power_w if self.config.over_frequency else 0.0,
            reserve_discharge_w=self.power_w,
            state=self.state.value,
        )


def _deviation_hz(f_hz: float) -> float:
    """f − 50 Hz, rounded to 1 nHz so that binary noise (50.015 − 50 = 0.015000000000000568) never moves a
    sample across a deadband edge."""
    return round(f_hz - NOMINAL_HZ, 9)
