"""Command validation pipeline: JSON, schema, signature, clock skew, expiry, replay, value ranges.

Each stage either passes or yields a Rejection with a machine-readable ``code`` and a precise
``reason``; the order is fixed by the protocol. Validation never actuates anything and never
publishes; it records a command id in the replay cache only once the signature is authentic.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from zoe_ems.config.frequency import FFR_ACTIVATION_S
from zoe_ems.frequency.orders import order_problem
from zoe_ems.northbound.frequency_services import order_of
from zoe_ems.northbound.limits import PRICE_LIMIT_EUR_PER_KWH, SiteLimits
from zoe_ems.northbound.messages import (
    COMMAND_ADAPTER,
    Command,
    DrEventCommand,
    FrequencyServiceCommand,
    LimitsCommand,
    ModeCommand,
    PricesCommand,
    ScheduleCommand,
    SetpointCommand,
)
from zoe_ems.northbound.signing import verify
from zoe_ems.storage.replay import ReplayCache

# Reason codes, in pipeline order.
JSON = "json"
SCHEMA = "schema"
SIGNATURE = "signature"
CLOCK_SKEW = "clock_skew"
EXPIRED = "expired"
VALIDITY_TOO_LONG = "validity_too_long"
REPLAY = "replay"
RANGE = "range"
NOT_ALLOWED = "not_allowed"
MAX_COMMAND_BYTES = 1_000_000


@dataclass(frozen=True, kw_only=True)
class Rejection:
    """Why a command was refused."""

    code: str
    reason: str
    command_id: str | None
    security: bool = False
    """True for signature problems: the service also publishes a security event."""


@dataclass(frozen=True, kw_only=True)
class Validated:
    """A command that passed every stage."""

    command: Command
    raw: dict[str, Any]


class CommandValidator:
    """Runs the validation stages against one site's key, limits and replay cache."""

    def __init__(
        self,
        *,
        key: bytes,
        limits: SiteLimits,
        replay: ReplayCache,
        max_clock_skew_s: float = 30.0,
        max_validity_s: float = 7 * 86400.0,
        allow_mode_change: bool = False,
        clock: Callable[[], float],
    ) -> None:
        self._key = key
        self._limits = limits
        self._replay = replay
        self._max_skew_s = max_clock_skew_s
        self._max_validity_s = max_validity_s
        self._allow_mode_change = allow_mode_change
        self._clock = clock

    async def validate(self, payload: bytes) -> Validated | Rejection:
        """Run every stage on a raw MQTT payload."""
        # 1. JSON
        if len(payload) > MAX_COMMAND_BYTES:
            return Rejection(
                code=JSON, reason=f"payload of {len(payload)} bytes exceeds {MAX_COMMAND_BYTES}", command_id=None
            )
        try:
            raw = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            return Rejection(code=JSON, reason=f"unparsable JSON: {exc}", command_id=None)
        if not isinstance(raw, dict):
            return Rejection(
                code=JSON, reason=f"a command must be a JSON object, got {type(raw).__name__}", command_id=None
            )
        raw_id = raw.get("id")
        command_id = raw_id if isinstance(raw_id, str) and 0 < len(raw_id) <= 128 else None
        # 2. schema
        try:
            command = COMMAND_ADAPTER.validate_python(raw)
        except ValidationError as exc:
            return Rejection(code=SCHEMA, reason=_schema_reason(exc), command_id=command_id)
        # 3. signature
        if command.sig is None:
            return Rejection(code=SIGNATURE, reason="missing signature (sig)", command_id=command.id, security=True)
        if not verify(raw, self._key):
            return Rejection(code=SIGNATURE, reason="signature does not match", command_id=command.id, security=True)
        now = self._clock()
        issued = command.issued_at.timestamp()
        valid_until = command.valid_until.timestamp()
        # 4. clock skew
        skew = issued - now
        if abs(skew) > self._max_skew_s:
            side = "ahead of" if skew > 0 else "behind"
            return Rejection(
                code=CLOCK_SKEW,
                reason=f"issued_at is {abs(skew):.1f} s {side} the gateway clock (max {self._max_skew_s:g} s)",
                command_id=command.id,
            )
        # 5. expiry
        if valid_until <= now:
            return Rejection(
                code=EXPIRED, reason=f"valid_until {raw.get('valid_until')} is in the past", command_id=command.id
            )
        if valid_until - issued > self._max_validity_s:
            return Rejection(
                code=VALIDITY_TOO_LONG,
                reason=f"valid_until is {valid_until - issued:.0f} s after issued_at (max {self._max_validity_s:g} s)",
                command_id=command.id,
            )
        # 6. replay
        keep_until = max(valid_until, issued) + self._max_skew_s
        if not await asyncio.to_thread(self._replay.check_and_record, command.id, keep_until):
            return Rejection(code=REPLAY, reason=f"command id {command.id!r} was seen before", command_id=command.id)
        # 7. value ranges
        problem = self._range_problem(command, now)
        if problem is not None:
            code, reason = problem
            return Rejection(code=code, reason=reason, command_id=command.id)
        return Validated(command=command, raw=raw)

    def _range_problem(self, command: Command, now: float) -> tuple[str, str] | None:
        limits = self._limits
        reason: str | None = None
        if isinstance(command, SetpointCommand):
            body = command.body
            if body.target == "battery":
                reason = limits.battery_power_problem("body.p_kw", body.p_kw)
            else:
                reason = limits.grid_power_problem("body.p_kw", body.p_kw)
        elif isinstance(command, LimitsCommand):
            body_l = command.body
            if body_l.end.timestamp() <= now:
                reason = "body.end is in the past"
            elif body_l.import_limit_kw is not None and body_l.import_limit_kw > limits.import_limit_kw:
                reason = (
                    f"body.import_limit_kw = {body_l.import_limit_kw:g} kW exceeds the site import limit "
                    f"{limits.import_limit_kw:g} kW (site.grid.import_limit_kw)"
                )
            elif body_l.export_limit_kw is not None and body_l.export_limit_kw > limits.export_limit_kw:
                reason = (
                    f"body.export_limit_kw = {body_l.export_limit_kw:g} kW exceeds the site export limit "
                    f"{limits.export_limit_kw:g} kW (site.grid.export_limit_kw)"
                )
        elif isinstance(command, DrEventCommand):
            body_d = command.body
            swing = limits.import_limit_kw + limits.export_limit_kw
            if body_d.end.timestamp() <= now:
                reason = "body.end is in the past"
            elif body_d.target_reduction_kw > swing:
                reason = (
                    f"body.target_reduction_kw = {body_d.target_reduction_kw:g} kW exceeds what the connection "
                    f"can swing ({swing:g} kW = import + export limit)"
                )
            elif body_d.baseline_kw is not None:
                reason = limits.grid_power_problem("body.baseline_kw", body_d.baseline_kw)
        elif isinstance(command, ModeCommand):
            if not self._allow_mode_change:
                return (
                    NOT_ALLOWED,
                    "the site file does not allow remote mode changes (northbound.allow_remote_mode_change)",
                )
        elif isinstance(command, ScheduleCommand):
            body_s = command.body
            if body_s.start.timestamp() + body_s.step_s * len(body_s.battery_p_kw) <= now:
                reason = "the schedule ends in the past"
            else:
                for index, p_kw in enumerate(body_s.battery_p_kw):
                    reason = limits.battery_power_problem(f"body.battery_p_kw[{index}]", p_kw)
                    if reason is not None:
                        break
        elif isinstance(command, PricesCommand):
            body_p = command.body
            for name, values in (
                ("buy_eur_per_kwh", body_p.buy_eur_per_kwh),
                ("sell_eur_per_kwh", body_p.sell_eur_per_kwh),
            ):
                for index, price in enumerate(values):
                    if abs(price) > PRICE_LIMIT_EUR_PER_KWH:
                        reason = f"body.{name}[{index}] = {price:g} EUR/kWh is beyond ±{PRICE_LIMIT_EUR_PER_KWH:g}"
                        break
                if reason is not None:
                    break
        elif isinstance(command, FrequencyServiceCommand):
            reason = _frequency_service_problem(command, limits, now)
        return (RANGE, reason) if reason is not None else None


def _frequency_service_problem(command: FrequencyServiceCommand, limits: SiteLimits, now: float) -> str | None:
    body = command.body
    if body.end.timestamp() <= now:
        return "body.end is in the past"
    if body.enabled:
        problem = limits.battery_power_problem("body.power_kw", body.power_kw)
        if problem is not None:
            return problem
    if body.service == "ffr":
        if body.trigger_hz is not None and round(body.trigger_hz, 3) not in FFR_ACTIVATION_S:
            allowed = ", ".join(f"{t:g}" for t in FFR_ACTIVATION_S)
            return (
                f"body.trigger_hz = {body.trigger_hz:g} Hz is not an ffr trigger level (one of {allowed} Hz; "
                "the over-frequency mirror is body.over_trigger_hz)"
            )
        if body.over_trigger_hz is not None and round(100.0 - body.over_trigger_hz, 3) not in FFR_ACTIVATION_S:
            mirrors = ", ".join(f"{100.0 - t:g}" for t in FFR_ACTIVATION_S)
            return (
                f"body.over_trigger_hz = {body.over_trigger_hz:g} Hz is not an ffr over-frequency trigger level "
                f"(one of {mirrors} Hz)"
            )
        if body.deadband_hz is not None or body.full_activation_hz is not None:
            return "body.deadband_hz / body.full_activation_hz do not apply to ffr"
    else:
        if body.trigger_hz is not None or body.over_trigger_hz is not None or body.min_duration_s is not None:
            return f"body.trigger_hz / body.over_trigger_hz / body.min_duration_s do not apply to {body.service}"
        max_deadband = 0.01 if body.service == "fcr" else 0.015
        full_range = (0.1, 0.2) if body.service == "fcr" else (0.2, 0.5)
        if body.deadband_hz is not None and body.deadband_hz > max_deadband:
            return f"body.deadband_hz = {body.deadband_hz:g} Hz exceeds {max_deadband:g} Hz for {body.service}"
        if body.full_activation_hz is not None and not full_range[0] <= body.full_activation_hz <= full_range[1]:
            return (
                f"body.full_activation_hz = {body.full_activation_hz:g} Hz is outside "
                f"[{full_range[0]:g}, {full_range[1]:g}] Hz for {body.service}"
            )
    if not body.enabled:
        return None
    # The exact service the runtime would arm: the site file's settings with the order laid over, fully validated.
    return order_problem(limits.frequency_base, order_of(body))


def _schema_reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        loc = ".".join(str(p) for p in error["loc"]) or "(root)"
        parts.append(f"{loc}: {error['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
