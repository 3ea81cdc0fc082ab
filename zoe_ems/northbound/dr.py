"""Demand-response events: baseline at the start, steering input for the control loop, response
packets and the end-of-event report (energy delivered, achievement rate).

Writes ``ControlInputs.dr_event`` only; never writes devices. Energy is integrated from the grid
power samples the service passes in while the event runs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from zoe_ems.control.inputs import ControlInputs, DrEventInput
from zoe_ems.northbound.baseline import Baseline, GridHistory, high_x_of_y, prior_15min
from zoe_ems.northbound.emitter import Emitter
from zoe_ems.northbound.messages import DrEventBody
from zoe_ems.northbound.telemetry import TelemetryData, kw
from zoe_ems.northbound.timefmt import iso_utc

log = logging.getLogger(__name__)


@dataclass
class DrEventState:
    """One scheduled or running DR event."""

    command_id: str
    body: DrEventBody
    start_utc: float
    end_utc: float
    baseline: Baseline | None = None
    energy_reduction_wh: float = 0.0
    reduction_sum_w: float = 0.0
    samples: int = 0
    last_sample: tuple[float, float] | None = None
    actions: list[str] = field(default_factory=list)

    @property
    def started(self) -> bool:
        return self.baseline is not None

    @property
    def target_reduction_w(self) -> float:
        return self.body.target_reduction_kw * 1000.0


class DrManager:
    """At most one DR event at a time; a newer one replaces the older."""

    def __init__(self, *, inputs: ControlInputs, history: GridHistory | None, timezone: str, emitter: Emitter) -> None:
        self._inputs = inputs
        self._history = history
        self._timezone = timezone
        self._emitter = emitter
        self.current: DrEventState | None = None

    def schedule(self, command_id: str, body: DrEventBody, end_utc: float) -> None:
        """Plan the event; it starts (baseline computed, control input set) at ``body.start``."""
        self.current = DrEventState(command_id=command_id, body=body, start_utc=body.start.timestamp(), end_utc=end_utc)

    def stop(self, command_id: str, now_utc: float, reason: str) -> None:
        """End the event of ``command_id`` (end time, supersession or expiry); reports if it ran."""
        state = self.current
        if state is None or state.command_id != command_id:
            return
        self.current = None
        if self._inputs.dr_event is not None and self._inputs.dr_event.command_id == command_id:
            self._inputs.dr_event = None
        if state.started:
            self._emitter.response("dr_event_report", self._report(state, now_utc, reason))

    def active(self) -> DrEventState | None:
        """The running event (started, not ended)."""
        return self.current if self.current is not None and self.current.started else None

    async def tick(self, now_utc: float, data: TelemetryData | None) -> None:
        """Start a due event; integrate the reduction of a running one."""
        state = self.current
        if state is None or now_utc < state.start_utc:
            return
        if not state.started:
            await self._start(state, now_utc, data)
        if data is not None and data.grid_w is not None and state.baseline is not None:
            reduction_w = state.baseline.value_w - data.grid_w
            if state.last_sample is not None:
                t_prev, r_prev = state.last_sample
                state.energy_reduction_wh += (r_prev + reduction_w) / 2.0 * (now_utc - t_prev) / 3600.0
            state.last_sample = (now_utc, reduction_w)
            state.reduction_sum_w += reduction_w
            state.samples += 1
            state.actions = list(data.actions)

    def response_values(self, data: TelemetryData | None) -> dict[str, Any] | None:
        """The ``data`` object of a response packet for the running event."""
        state = self.active()
        if state is None or state.baseline is None:
            return None
        grid_w = data.grid_w if data is not None else None
        actual = None if grid_w is None else state.baseline.value_w - grid_w
        return {
            "kind": "dr_event",
            "command_id": state.command_id,
            "event_id": state.body.event_id,
            "baseline_kw": kw(state.baseline.value_w),
            "current_kw": kw(grid_w),
            "target_kw": kw(state.baseline.value_w - state.target_reduction_w),
            "target_reduction_kw": kw(state.target_reduction_w),
            "actual_reduction_kw": kw(actual),
            "achievement_rate": None if actual is None else round(actual / state.target_reduction_w, 4),
            "actions": list(data.actions) if data is not None else [],
        }

    async def _start(self, state: DrEventState, now_utc: float, data: TelemetryData | None) -> None:
        baseline = await asyncio.to_thread(self._compute_baseline, state)
        if baseline is None:
            current = data.grid_w if data is not None and data.grid_w is not None else 0.0
            baseline = Baseline(value_w=current, method="fallback_current")
            self._emitter.event(
                "dr.baseline_fallback",
                "warning",
                f"no history for baseline {state.body.baseline!r}; using the grid power at the start",
                {"event_id": state.body.event_id, "command_id": state.command_id, "baseline_kw": kw(current)},
            )
        state.baseline = baseline
        self._inputs.dr_event = DrEventInput(
            event_id=state.body.event_id,
            start_utc=state.start_utc,
            end_utc=state.end_utc,
            target_reduction_w=state.target_reduction_w,
            baseline_w=baseline.value_w,
            command_id=state.command_id,
        )
        self._emitter.event(
            "dr.started",
            "info",
            f"DR event {state.body.event_id} started",
            {
                "event_id": state.body.event_id,
                "command_id": state.command_id,
                "baseline_kw": kw(baseline.value_w),
                "baseline_method": baseline.method,
                "days_used": list(baseline.days_used),
                "adjustment_kw": kw(baseline.adjustment_w),
            },
        )

    def _compute_baseline(self, state: DrEventState) -> Baseline | None:
        body = state.body
        if body.baseline == "fixed" and body.baseline_kw is not None:
            return Baseline(value_w=body.baseline_kw * 1000.0, method="fixed")
        if self._history is None:
            return None
        try:
            if body.baseline == "prior_15min":
                return prior_15min(self._history, state.start_utc)
            return high_x_of_y(
                self._history,
                state.start_utc,
                state.end_utc,
                x=body.x,
                y=body.y,
                timezone=self._timezone,
                same_day_adjustment=body.same_day_adjustment,
            )
        except Exception:
            log.exception("DR baseline computation failed for event %s", body.event_id)
            return None

    def _report(self, state: DrEventState, now_utc: float, reason: str) -> dict[str, Any]:
        assert state.baseline is not None
        end = min(now_utc, state.end_utc)
        duration_h = max(0.0, end - state.start_utc) / 3600.0
        average = state.reduction_sum_w / state.samples if state.samples else 0.0
        target_energy_wh = state.target_reduction_w * duration_h
        return {
            "event_id": state.body.event_id,
            "command_id": state.command_id,
            "start": iso_utc(state.start_utc),
            "end": iso_utc(end),
            "baseline_kw": kw(state.baseline.value_w) or 0.0,
            "baseline_method": state.baseline.method,
            "target_reduction_kw": kw(state.target_reduction_w) or 0.0,
            "average_reduction_kw": kw(average) or 0.0,
            "energy_delivered_kwh": round(state.energy_reduction_wh / 1000.0, 4),
            "target_energy_kwh": round(target_energy_wh / 1000.0, 4),
            "achievement_rate": round(state.energy_reduction_wh / target_energy_wh, 4) if target_energy_wh else 0.0,
            "samples": state.samples,
            "end_reason": reason,
        }
