"""Command handling after validation: operating modes, approvals, applying commands to ControlInputs,
supersession and time-to-live expiry with their acks.

Turns commands into controller inputs only; never writes devices and never touches MQTT (it
speaks through an Emitter). ``handle`` never raises: every failure becomes an ack.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zoe_ems.config.northbound import ApprovalConfig
from zoe_ems.control.inputs import ControlInputs, EnvelopeInput, PriceInput, SchedulePlan, SetpointInput
from zoe_ems.northbound.approvals import ApprovalStore, PendingCommand
from zoe_ems.northbound.dr import DrManager
from zoe_ems.northbound.emitter import Emitter
from zoe_ems.northbound.frequency_services import FrequencyServiceEntry, FrequencyServiceRegistry, order_of
from zoe_ems.northbound.messages import (
    COMMAND_ADAPTER,
    Command,
    DrEventCommand,
    FrequencyServiceCommand,
    LimitsCommand,
    Mode,
    ModeCommand,
    PricesCommand,
    ScheduleCommand,
    SetpointCommand,
)
from zoe_ems.northbound.timefmt import iso_utc
from zoe_ems.northbound.validation import CommandValidator, Rejection

log = logging.getLogger(__name__)

MANUAL_MODE = "manual_mode"
OPERATOR_REJECTED = "operator_rejected"
APPROVAL_TIMEOUT = "approval_timeout"
INTERNAL = "internal"
LOGGED_SHOWN = 20
"""How many of the most recent manual-mode commands `zoe-ems status` lists."""


@dataclass(frozen=True, kw_only=True)
class PriceSeries:
    """Prices from a ``prices`` command, handed to the optimizer."""

    start_utc: float
    step_s: float
    buy_eur_per_kwh: tuple[float, ...]
    sell_eur_per_kwh: tuple[float, ...]
    command_id: str


@dataclass(frozen=True, kw_only=True)
class ActiveCommand:
    """A command whose effect is in force until ``end_utc``."""

    command_id: str
    command_type: str
    key: str
    end_utc: float
    end_status: str
    """Ack sent when ``end_utc`` passes: ``expired`` (cut by valid_until) or ``completed``."""
    summary: str


class CommandProcessor:
    """Validates, gates by mode and applies commands; expires them and acts on operator decisions."""

    def __init__(
        self,
        *,
        validator: CommandValidator,
        inputs: ControlInputs,
        approvals: ApprovalStore,
        emitter: Emitter,
        dr: DrManager,
        registry: FrequencyServiceRegistry,
        approval: ApprovalConfig,
        mode: Mode,
        clock: Callable[[], float],
        prices_callback: Callable[[PriceSeries], None] | None = None,
        on_mode_change: Callable[[Mode], None] | None = None,
    ) -> None:
        self._validator = validator
        self._inputs = inputs
        self._approvals = approvals
        self._emitter = emitter
        self._dr = dr
        self._registry = registry
        self._approval = approval
        self._clock = clock
        self._prices_callback = prices_callback
        self._on_mode_change = on_mode_change
        self.mode: Mode = mode
        self.active: dict[str, ActiveCommand] = {}
        self.last_prices: PriceSeries | None = None
        self.pending_count = 0
        self.pending: tuple[PendingCommand, ...] = ()
        """Commands waiting for an operator (semi_auto), oldest first; refreshed every tick."""
        self.logged: tuple[PendingCommand, ...] = ()
        """The most recent commands logged, not executed, in manual mode, newest first."""

    async def handle(self, payload: bytes) -> None:
        """Process one raw command payload; every outcome is acked. Never raises."""
        try:
            await self._handle(payload)
        except Exception as exc:
            log.exception("command handling failed")
            self._emitter.ack(None, "rejected", code=INTERNAL, reason=f"internal error: {type(exc).__name__}")

    async def tick(self) -> None:
        """Expire commands whose time is up; act on operator decisions and approval timeouts."""
        now = self._clock()
        for key, active in list(self.active.items()):
            if active.end_utc <= now:
                del self.active[key]
                self._withdraw(active, now, active.end_status)
                self._emitter.ack(active.command_id, active.end_status, reason=f"{active.summary} ended")
        decisions = await asyncio.to_thread(self._approvals.take_decisions)
        for decided in decisions:
            self._on_decision(decided, now)
        for timed_out in await asyncio.to_thread(self._approvals.time_out, now):
            self._emitter.ack(
                timed_out.command_id,
                "rejected",
                code=APPROVAL_TIMEOUT,
                reason=f"no operator decision before {iso_utc(timed_out.expires_utc)}",
            )
        await self._refresh_held()

    def active_command_id(self) -> str | None:
        """The command steering the site now (setpoint first, then DR event, then the latest)."""
        for key in ("setpoint", "dr_event", "schedule", "limits"):
            if key in self.active:
                return self.active[key].command_id
        return next(iter(self.active.values())).command_id if self.active else None

    # ---- internals --------------------------------------------------------------------------------------

    async def _handle(self, payload: bytes) -> None:
        result = await self._validator.validate(payload)
        if isinstance(result, Rejection):
            self._emitter.ack(result.command_id, "rejected", code=result.code, reason=result.reason)
            if result.security:
                self._emitter.event(
                    "security.bad_signature",
                    "security",
                    f"command rejected: {result.reason}",
                    {"command_id": result.command_id, "code": result.code},
                )
            return
        command = result.command
        now = self._clock()
        if isinstance(command, ModeCommand):
            self._apply(command, now)
            return
        if self.mode == "manual" and not isinstance(command, PricesCommand):
            await asyncio.to_thread(
                self._approvals.add,
                command_id=command.id,
                command_type=command.type,
                summary=_summary(command),
                raw=result.raw,
                expires_utc=command.valid_until.timestamp(),
                state="logged",
            )
            await self._refresh_held()
            self._emitter.ack(
                command.id,
                "rejected",
                code=MANUAL_MODE,
                reason="the site is in manual mode: command logged, not executed",
            )
            return
        if self.mode == "semi_auto" and self._needs_approval(command):
            expires = min(now + self._approval.timeout_s, command.valid_until.timestamp())
            await asyncio.to_thread(
                self._approvals.add,
                command_id=command.id,
                command_type=command.type,
                summary=_summary(command),
                raw=result.raw,
                expires_utc=expires,
            )
            await self._refresh_held()
            self._emitter.ack(
                command.id,
                "pending_approval",
                reason=f"waiting for `zoe-ems approve {command.id}` until {iso_utc(expires)}",
            )
            self._emitter.event(
                "approval.pending",
                "info",
                f"{_summary(command)} waits for operator approval",
                {"command_id": command.id, "expires": iso_utc(expires)},
            )
            return
        self._apply(command, now)

    async def _refresh_held(self) -> None:
        pending, logged = await asyncio.to_thread(self._approvals.held, logged_limit=LOGGED_SHOWN)
        self.pending, self.logged = tuple(pending), tuple(logged)
        self.pending_count = len(pending)

    def _on_decision(self, decided: PendingCommand, now: float) -> None:
        if decided.state == "rejected":
            self._emitter.ack(
                decided.command_id,
                "rejected",
                code=OPERATOR_REJECTED,
                reason=f"rejected by operator ({decided.decided_by})",
            )
            return
        command = COMMAND_ADAPTER.validate_python(decided.raw)
        if command.valid_until.timestamp() <= now:
            self._emitter.ack(command.id, "expired", reason="approved after valid_until")
        elif self.mode == "manual":
            self._emitter.ack(
                command.id, "rejected", code=MANUAL_MODE, reason="approved, but the site is now in manual mode"
            )
        else:
            self._apply(command, now)

    def _needs_approval(self, command: Command) -> bool:
        size_kw, assets = _footprint(command)
        return size_kw > self._approval.threshold_kw or bool(assets & set(self._approval.assets))

    def _apply(self, command: Command, now: float) -> None:
        valid_until = command.valid_until.timestamp()
        key: str
        end: float
        natural_end: float
        if isinstance(command, SetpointCommand):
            key, end, natural_end = "setpoint", valid_until, valid_until
            self._supersede(key, command.id, now)
            self._inputs.setpoint = SetpointInput(
                target=command.body.target,
                p_w=command.body.p_kw * 1000.0,
                valid_until_utc=valid_until,
                command_id=command.id,
                valid_from_utc=now,
            )
        elif isinstance(command, LimitsCommand):
            body = command.body
            key, natural_end = "limits", body.end.timestamp()
            end = min(natural_end, valid_until)
            self._supersede(key, command.id, now)
            self._inputs.envelopes.append(
                EnvelopeInput(
                    import_limit_w=None if body.import_limit_kw is None else body.import_limit_kw * 1000.0,
                    export_limit_w=None if body.export_limit_kw is None else body.export_limit_kw * 1000.0,
                    start_utc=body.start.timestamp(),
                    end_utc=end,
                    command_id=command.id,
                )
            )
        elif isinstance(command, DrEventCommand):
            key, natural_end = "dr_event", command.body.end.timestamp()
            end = min(natural_end, valid_until)
            self._supersede(key, command.id, now)
            self._dr.schedule(command.id, command.body, end)
        elif isinstance(command, ScheduleCommand):
            body_s = command.body
            start = body_s.start.timestamp()
            values = [p * 1000.0 for i, p in enumerate(body_s.battery_p_kw) if start + i * body_s.step_s < valid_until]
            key, natural_end = "schedule", start + body_s.step_s * len(body_s.battery_p_kw)
            end = min(natural_end, valid_until)
            self._supersede(key, command.id, now)
            self._inputs.with_plan(
                SchedulePlan(start_utc=start, step_s=body_s.step_s, battery_p_w=tuple(values), source=command.id)
            )
        elif isinstance(command, FrequencyServiceCommand):
            body_f = command.body
            key, natural_end = f"frequency_service:{body_f.service}", body_f.end.timestamp()
            end = min(natural_end, valid_until)
            self._supersede(key, command.id, now)
            self._registry.set(
                FrequencyServiceEntry(
                    order=order_of(body_f),
                    enabled=body_f.enabled,
                    start_utc=body_f.start.timestamp(),
                    end_utc=end,
                    command_id=command.id,
                )
            )
        elif isinstance(command, PricesCommand):
            body_p = command.body
            prices = PriceSeries(
                start_utc=body_p.start.timestamp(),
                step_s=body_p.step_s,
                buy_eur_per_kwh=tuple(body_p.buy_eur_per_kwh),
                sell_eur_per_kwh=tuple(body_p.sell_eur_per_kwh),
                command_id=command.id,
            )
            self.last_prices = prices
            self._inputs.prices = PriceInput(
                start_utc=prices.start_utc,
                step_s=prices.step_s,
                buy_eur_per_kwh=prices.buy_eur_per_kwh,
                sell_eur_per_kwh=prices.sell_eur_per_kwh,
                source=command.id,
            )
            if self._prices_callback is not None:
                self._prices_callback(prices)
            self._emitter.ack(command.id, "accepted", reason=f"{len(prices.buy_eur_per_kwh)} price intervals")
            return
        else:
            self._set_mode(command.body.mode, command.id, now)
            self._emitter.ack(command.id, "accepted", reason=f"mode is now {command.body.mode}")
            return
        # A setpoint lives until valid_until (then it has expired); windowed commands complete at their end.
        status = (
            "completed"
            if natural_end < valid_until or (natural_end == valid_until and key != "setpoint")
            else "expired"
        )
        self.active[key] = ActiveCommand(
            command_id=command.id,
            command_type=command.type,
            key=key,
            end_utc=end,
            end_status=status,
            summary=_summary(command),
        )
        self._emitter.ack(command.id, "accepted", reason=f"{_summary(command)} until {iso_utc(end)}")

    def _set_mode(self, mode: Mode, command_id: str, now: float) -> None:
        previous = self.mode
        self.mode = mode
        if mode == "manual":
            for active in list(self.active.values()):
                del self.active[active.key]
                self._withdraw(active, now, "superseded")
                self._emitter.ack(active.command_id, "superseded", reason=f"mode changed to manual by {command_id}")
        if self._on_mode_change is not None:
            self._on_mode_change(mode)
        self._emitter.event(
            "mode.changed",
            "info",
            f"operating mode {previous} -> {mode}",
            {"from": previous, "to": mode, "command_id": command_id},
        )

    def _supersede(self, key: str, new_id: str, now: float) -> None:
        old = self.active.pop(key, None)
        if old is None:
            return
        self._withdraw(old, now, "superseded")
        self._emitter.ack(old.command_id, "superseded", reason=f"superseded by {new_id}")

    def _withdraw(self, active: ActiveCommand, now: float, reason: str) -> None:
        """Remove the effect of ``active`` from the control inputs."""
        cid = active.command_id
        if active.key == "setpoint":
            if self._inputs.setpoint is not None and self._inputs.setpoint.command_id == cid:
                self._inputs.setpoint = None
        elif active.key == "limits":
            self._inputs.envelopes = [e for e in self._inputs.envelopes if e.command_id != cid]
        elif active.key == "dr_event":
            self._dr.stop(cid, now, reason)
        elif active.key == "schedule":
            if self._inputs.plan is not None and self._inputs.plan.source == cid:
                self._inputs.plan = None
        elif active.key.startswith("frequency_service:"):
            self._registry.remove(active.key.split(":", 1)[1], cid)

    def status(self) -> dict[str, Any]:
        """For `zoe-ems status`."""
        return {
            "mode": self.mode,
            "active_commands": [
                {"id": a.command_id, "type": a.command_type, "summary": a.summary, "until": iso_utc(a.end_utc)}
                for a in self.active.values()
            ],
            "pending_approvals": self.pending_count,
            "pending_commands": [_held_entry(p, "pending_approval") for p in self.pending],
            "logged_commands": [_held_entry(p, "logged") for p in self.logged],
        }


def _held_entry(held: PendingCommand, state: str) -> dict[str, Any]:
    """A command held for an operator or logged in manual mode, as `zoe-ems status --json` shows it.

    ``expires``: the approval deadline of a pending command; the ``valid_until`` of a logged one.
    """
    return {
        "id": held.command_id,
        "type": held.command_type,
        "state": state,
        "summary": held.summary,
        "received": iso_utc(held.received_utc),
        "expires": iso_utc(held.expires_utc),
    }


def _footprint(command: Command) -> tuple[float, set[str]]:
    """(kW moved, assets touched) of a command, for the semi_auto policy."""
    if isinstance(command, SetpointCommand):
        return abs(command.body.p_kw), {command.body.target}
    if isinstance(command, LimitsCommand):
        return 0.0, {"grid"}
    if isinstance(command, DrEventCommand):
        return command.body.target_reduction_kw, {"grid"}
    if isinstance(command, ScheduleCommand):
        return max(abs(p) for p in command.body.battery_p_kw), {"battery"}
    if isinstance(command, FrequencyServiceCommand):
        return (command.body.power_kw if command.body.enabled else 0.0), {"battery"}
    return 0.0, set()


def _summary(command: Command) -> str:
    if isinstance(command, SetpointCommand):
        return f"setpoint {command.body.target} {command.body.p_kw:g} kW"
    if isinstance(command, LimitsCommand):
        return f"limits import {command.body.import_limit_kw} kW export {command.body.export_limit_kw} kW"
    if isinstance(command, DrEventCommand):
        return f"dr_event {command.body.event_id} -{command.body.target_reduction_kw:g} kW"
    if isinstance(command, ScheduleCommand):
        return f"schedule of {len(command.body.battery_p_kw)} x {command.body.step_s:g} s"
    if isinstance(command, FrequencyServiceCommand):
        state = "on" if command.body.enabled else "off"
        return f"frequency_service {command.body.service} {state} {command.body.power_kw:g} kW"
    if isinstance(command, PricesCommand):
        return f"prices of {len(command.body.buy_eur_per_kwh)} intervals"
    return f"mode {command.body.mode}"
