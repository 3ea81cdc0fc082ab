"""Receding-horizon planner service: re-plans every step and on triggers, solving in a worker thread.

Publishes SchedulePlan objects through ``on_plan``. On failure it keeps the last valid plan while it lasts
(trimmed to ``max_plan_age_s``), raises an alarm through ``on_alarm`` and never publishes an empty plan;
after that the control loop's own fallback (self-consumption) takes over. Never blocks the event loop,
never crashes the daemon on solver errors, never touches devices.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from zoe_ems.control.inputs import SchedulePlan
from zoe_ems.optimizer.model import MpcModel, OsqpSettings
from zoe_ems.optimizer.problem import ModelSpec, MpcInputs, MpcSolution, PlanSkipped
from zoe_ems.waits import wait_event

log = logging.getLogger(__name__)

ALARM_CODE = "optimizer_failed"
SKIP_RETRY_S = 10.0
"""After a skipped attempt (e.g. SOC not read yet at start-up) the planner tries again this soon, not only at the
next step boundary."""


class InputsSource(Protocol):
    """Where the planner gets the model structure and per-solve inputs (e.g. ``SiteInputsBuilder``)."""

    def spec(self) -> ModelSpec: ...

    def build(self, spec: ModelSpec, start_utc: float) -> MpcInputs: ...


@dataclass(frozen=True, kw_only=True)
class PlanRecord:
    """The latest successful plan with what it was computed from (for `zoe-ems plan` and history)."""

    created_utc: float
    reason: str
    inputs: MpcInputs
    solution: MpcSolution
    plan: SchedulePlan
    capacity_wh: tuple[float, ...]


class PlannerService:
    """Asynchronous receding-horizon planner (one solve at a time, in its own worker thread)."""

    def __init__(
        self,
        *,
        source: InputsSource,
        on_plan: Callable[[SchedulePlan], None],
        on_alarm: Callable[[str, str, bool], None] | None = None,
        clock: Callable[[], float] = time.time,
        settings: OsqpSettings | None = None,
        max_plan_age_s: float | None = None,
        soc_deviation: float = 0.05,
        skip_retry_s: float = SKIP_RETRY_S,
    ) -> None:
        self._source = source
        self._on_plan = on_plan
        self._on_alarm = on_alarm
        self._clock = clock
        self._settings = settings or OsqpSettings()
        self._max_plan_age_s = max_plan_age_s
        self._soc_deviation = soc_deviation
        self._skip_retry_s = skip_retry_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zoe-optimizer")
        self._models: dict[ModelSpec, MpcModel] = {}
        self._wake = asyncio.Event()
        self._reasons: list[str] = []
        self.latest: PlanRecord | None = None
        self.failures = 0
        self.alarm_active = False
        self.last_error = ""
        self.skip_reason = ""
        """Why the latest attempt did not solve (``PlanSkipped``, e.g. battery SOC unknown); "" after a solve."""
        self.skips = 0
        """Attempts skipped in a row."""

    def request_replan(self, reason: str) -> None:
        """Ask for a re-plan soon (new prices, forecasts, DOE, ...). Safe to call from the event loop."""
        self._reasons.append(reason)
        self._wake.set()

    def notify_soc(self, fleet_soc: float) -> None:
        """Measured fleet SOC; re-plans when it deviates from the plan by more than the threshold."""
        record = self.latest
        if record is None or not record.plan.soc:
            return
        planned = planned_soc_at(record.plan, self._clock())
        if planned is not None and abs(fleet_soc - planned) > self._soc_deviation:
            self.request_replan("soc_deviation")

    async def replan_now(self, reason: str = "manual") -> PlanRecord | None:
        """Solve once now and publish; returns the new record, or None on failure (alarm raised)."""
        return await self._plan_once(reason)

    async def run(self) -> None:
        """Plan at every step boundary and on requests until cancelled."""
        try:
            reason = "start"
            while True:
                await self._plan_once(reason)
                reason = await self._wait_trigger()
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Release the worker thread (for use without ``run``)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- private --------------------------------------------------------------------------------

    async def _wait_trigger(self) -> str:
        spec_step = self._step_s()
        now = self._clock()
        next_boundary = (np.floor(now / spec_step) + 1.0) * spec_step
        timeout = max(0.0, next_boundary - now) + 0.001
        retry = bool(self.skip_reason) and timeout > self._skip_retry_s
        if retry:
            timeout = self._skip_retry_s
        if not await wait_event(self._wake, timeout):
            return "retry after skip" if retry else "step"
        self._wake.clear()
        reasons, self._reasons = self._reasons, []
        return ",".join(dict.fromkeys(reasons)) or "request"

    def _step_s(self) -> float:
        if self.latest is not None:
            return self.latest.plan.step_s
        return 900.0 if not self._models else next(iter(self._models)).step_s

    async def _plan_once(self, reason: str) -> PlanRecord | None:
        loop = asyncio.get_running_loop()
        try:
            record = await loop.run_in_executor(self._executor, self._solve_blocking, reason)
        except asyncio.CancelledError:
            raise
        except PlanSkipped as exc:
            self._skip(str(exc))
            return None
        except Exception as exc:  # any failure keeps the last plan; the daemon must not crash
            self._fail(exc)
            return None
        self.latest = record
        self.failures = 0
        self.last_error = ""
        if self.skip_reason:
            log.info("optimizer: planning again after %d skipped attempt(s)", self.skips)
        self.skip_reason = ""
        self.skips = 0
        self._on_plan(record.plan)
        if self.alarm_active:
            self.alarm_active = False
            if self._on_alarm is not None:
                self._on_alarm(ALARM_CODE, "optimizer recovered", False)
        return record

    def _solve_blocking(self, reason: str) -> PlanRecord:
        spec = self._source.spec()
        model = self._models.get(spec)
        if model is None:
            model = MpcModel(spec, self._settings)
            if len(self._models) >= 4:
                self._models.pop(next(iter(self._models)))
            self._models[spec] = model
        now = self._clock()
        start = float(np.floor(now / spec.step_s) * spec.step_s)
        inputs = self._source.build(spec, start)
        if inputs.now_utc is None:
            # The SOC was measured now, not at the step start: the first step covers [now, its end).
            inputs.now_utc = min(max(now, start), start + spec.step_s * (1.0 - 1e-9))
        solution = model.solve(inputs)
        capacity = tuple(b.capacity_wh for b in spec.batteries)
        plan = solution_to_plan(solution, capacity)
        if not plan.battery_p_w:
            raise RuntimeError("solver returned an empty plan")
        return PlanRecord(
            created_utc=now, reason=reason, inputs=inputs, solution=solution, plan=plan, capacity_wh=capacity
        )

    def _skip(self, reason: str) -> None:
        """Inputs not trustworthy (no solve, no alarm: the cause, e.g. a silent BMS, raises its own)."""
        if self.skips == 0 or not self.skip_reason.startswith(reason):
            log.warning("optimizer: planning skipped: %s", reason)
        self.skips += 1
        self.skip_reason = f"{reason}{self._keep_last_plan()}"

    def _fail(self, exc: Exception) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("optimizer: planning failed (%d in a row): %s", self.failures, self.last_error)
        kept = self._keep_last_plan()
        if self._on_alarm is not None:
            self._on_alarm(ALARM_CODE, f"optimizer failed: {self.last_error}{kept}", True)
        self.alarm_active = True

    def _keep_last_plan(self) -> str:
        """Trim the last plan to its max age (re-publishing it when trimmed); returns what is followed now."""
        now = self._clock()
        record = self.latest
        if record is not None and self._max_plan_age_s is not None:
            limit = record.created_utc + self._max_plan_age_s
            if record.plan.end_utc > limit:
                keep = int(np.ceil((limit - record.plan.start_utc) / record.plan.step_s))
                if keep >= 1 and limit > now:
                    trimmed = _trim(record.plan, keep)
                    self.latest = replace(record, plan=trimmed)
                    self._on_plan(trimmed)
        if self.latest is not None and self.latest.plan.end_utc > now:
            return f"; following the last plan until {self.latest.plan.end_utc:.0f}"
        return "; no valid plan left, control falls back to self-consumption"


def solution_to_plan(solution: MpcSolution, capacity_wh: tuple[float, ...]) -> SchedulePlan:
    """The fleet plan (battery power, fleet SOC, grid power) of a solution."""
    soc = _fleet_soc_matrix(solution.soc, capacity_wh)
    initial = (
        _fleet_soc(solution.initial_soc, capacity_wh)
        if solution.initial_soc is not None and solution.initial_soc.size
        else None
    )
    return SchedulePlan(
        start_utc=solution.start_utc,
        step_s=solution.step_s,
        battery_p_w=tuple(float(v) for v in solution.fleet_p_w),
        source="optimizer",
        soc=tuple(float(v) for v in soc),
        grid_p_w=tuple(float(v) for v in solution.grid_p_w),
        soc_from_utc=solution.state_utc,
        soc_initial=initial,
    )


def planned_soc_at(plan: SchedulePlan, now_utc: float) -> float | None:
    """The plan's fleet SOC at ``now_utc``, interpolated inside the interval; None outside the SOC trajectory."""
    if not plan.soc:
        return None
    index = int((now_utc - plan.start_utc) // plan.step_s)
    if not 0 <= index < len(plan.soc):
        return None
    begin = plan.start_utc + index * plan.step_s
    end = begin + plan.step_s
    if plan.soc_from_utc is not None and begin <= plan.soc_from_utc < end and plan.soc_initial is not None:
        begin, start_soc = plan.soc_from_utc, plan.soc_initial
    elif index > 0:
        start_soc = plan.soc[index - 1]
    elif plan.soc_initial is not None:
        start_soc = plan.soc_initial
    else:
        return plan.soc[0]
    fraction = min(max((now_utc - begin) / (end - begin), 0.0), 1.0)
    return start_soc + (plan.soc[index] - start_soc) * fraction


def _fleet_soc(soc: np.ndarray, capacity_wh: tuple[float, ...]) -> float:
    capacity = np.asarray(capacity_wh, dtype=float)
    return float(np.dot(np.asarray(soc, dtype=float), capacity) / capacity.sum()) if capacity.sum() > 0 else 0.0


def _fleet_soc_matrix(soc: np.ndarray, capacity_wh: tuple[float, ...]) -> np.ndarray:
    capacity = np.asarray(capacity_wh, dtype=float)
    if soc.size == 0 or capacity.sum() <= 0:
        return np.zeros(soc.shape[1] if soc.ndim == 2 else 0)
    result: np.ndarray = (capacity[:, None] * soc).sum(axis=0) / capacity.sum()
    return result


def _trim(plan: SchedulePlan, keep: int) -> SchedulePlan:
    return replace(
        plan,
        battery_p_w=plan.battery_p_w[:keep],
        soc=plan.soc[:keep],
        grid_p_w=plan.grid_p_w[:keep],
    )
