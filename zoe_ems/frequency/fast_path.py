"""The fast frequency path: samples grid frequency on its own connection and reacts per sample.

Runs at ``sample_hz`` on a dedicated Modbus connection with a short timeout, separate from the normal
pollers, so a slow device or a long optimizer solve never delays it. Each accepted sample is evaluated
at once and a changed response is handed to ``on_response`` (the daemon's PCS mixer, which applies the
safety envelope and wakes the PCS link so the write goes out ahead of queued reads).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from drivers.driver import DeviceDriver
from drivers.errors import DeviceError
from drivers.profile import PollClass
from zoe_ems.frequency.responder import FrequencyResponder, Response
from zoe_ems.frequency.response_log import ResponseLogger, ResponseSample

log = structlog.get_logger(__name__)

_FAST = frozenset({PollClass.FAST})


class FastPath:
    """One task: read frequency, respond, log."""

    def __init__(
        self,
        responder: FrequencyResponder,
        meter: DeviceDriver,
        sample_hz: float,
        on_response: Callable[[float], None],
        measured_pcs_w: Callable[[], float | None] = lambda: None,
        setpoint_w: Callable[[], float | None] = lambda: None,
        logger: ResponseLogger | None = None,
        change_threshold_w: float = 100.0,
    ) -> None:
        self.responder = responder
        self.meter = meter
        self.period_s = 1.0 / sample_hz
        self._on_response = on_response
        self._measured = measured_pcs_w
        self._setpoint = setpoint_w
        self._logger = logger
        self._threshold = change_threshold_w
        self._applied_w = 0.0
        self.samples = 0
        self.read_errors = 0
        self.writes = 0
        self.last_f_hz: float | None = None

    async def run(self) -> None:
        """Sample until cancelled; whatever ends the task, the response it applied is withdrawn."""
        try:
            await self.meter.connect()
            next_t = time.monotonic()
            while True:
                await self.sample_once()
                now = time.monotonic()
                next_t += self.period_s
                if next_t < now:
                    next_t = now
                await asyncio.sleep(next_t - now)
        finally:
            if self._applied_w != 0.0:
                self._applied_w = 0.0
                self._on_response(0.0)

    async def flush_loop(self, interval_s: float = 1.0) -> None:
        """Write the evidence log in its own task: storage never delays a sample."""
        if self._logger is None:
            return
        while True:
            await asyncio.sleep(interval_s)
            await self._logger.flush()

    async def sample_once(self) -> Response | None:
        """Read one sample and react to it; returns the response (None if rejected or unreadable).

        A failed read counts once, as a read error (``read_errors``), and never reaches the sample filter, whose
        ``rejected_range`` counts only values that were read and are missing or out of range.
        """
        t = time.monotonic()
        f_hz: float | None
        response: Response | None = None
        try:
            values = await self.meter.read(_FAST)
        except DeviceError as exc:
            self.read_errors += 1
            if self.read_errors == 1 or self.read_errors % 100 == 0:
                log.warning("frequency read failed", error=str(exc), errors=self.read_errors)
            f_hz = None
        else:
            raw = values.get("f_hz")
            f_hz = float(raw) if isinstance(raw, int | float) else None
            response = self.responder.on_sample(f_hz, t)
        self.samples += 1
        self.last_f_hz = f_hz
        target = self.responder.current_p_w(t)
        if abs(target - self._applied_w) >= self._threshold or (target == 0.0 and self._applied_w != 0.0):
            self._applied_w = target
            self.writes += 1
            self._on_response(target)
        if self._logger is not None:
            applied = self.responder.last
            self._logger.add(
                ResponseSample(
                    ts=time.time(),
                    f_hz=f_hz,
                    response_w=target,
                    setpoint_w=self._setpoint(),
                    pcs_p_w=self._measured(),
                    active=bool(applied and applied.active),
                    services=";".join(f"{o.name}:{o.state or round(o.p_w)}" for o in applied.outputs)
                    if applied
                    else "",
                )
            )
        return response
