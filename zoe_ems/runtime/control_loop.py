"""The control-loop task: snapshot → engine.step → setpoints to device links, every cycle.

Besides its timer, a cycle runs as soon as possible after ``wake()`` (a command changed the inputs), so a
VPP setpoint does not wait up to a whole period; the timer grid is not shifted by such extra cycles.
Overruns are counted and logged, never fatal; every cycle feeds the systemd watchdog, so a hung loop
gets the process restarted. The engine decides; this task only moves data and keeps time.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import structlog

from zoe_ems.control.inputs import ControlInputs, InputsView
from zoe_ems.site.image import ProcessImage
from zoe_ems.site.points import Snapshot
from zoe_ems.waits import wait_event

log = structlog.get_logger(__name__)


class DecisionLike(Protocol):
    """What the loop needs from an engine's decision."""

    @property
    def setpoints(self) -> Mapping[str, Mapping[str, float]]: ...

    def to_dict(self) -> dict[str, Any]: ...


class EngineLike(Protocol):
    """A control engine: pure function of snapshot and inputs (plus its own small state)."""

    def step(self, snapshot: Snapshot, inputs: InputsView, now_mono: float) -> Any: ...


class ControlLoop:
    """Runs the engine every ``cycle_s`` and hands setpoints to ``apply``."""

    def __init__(
        self,
        engine: EngineLike,
        image: ProcessImage,
        inputs: ControlInputs,
        apply: Callable[[str, Mapping[str, float]], None],
        cycle_s: float,
        on_cycle: Callable[[Any], None] | None = None,
    ) -> None:
        self.engine = engine
        self.image = image
        self.inputs = inputs
        self._apply = apply
        self.cycle_s = cycle_s
        self._on_cycle = on_cycle
        self.cycles = 0
        self.woken_cycles = 0
        """Cycles run on ``wake()`` rather than on the timer."""
        self.overruns = 0
        self._wake = asyncio.Event()
        self.compute_s: deque[float] = deque(maxlen=1000)
        self.last_decision: Any = None

    def run_once(self) -> Any:
        """One cycle: returns the engine's decision."""
        start = time.monotonic()
        snapshot = self.image.snapshot()
        decision = self.engine.step(snapshot, self.inputs.view(snapshot.ts_utc), start)
        for device_id, setpoints in decision.setpoints.items():
            self._apply(device_id, setpoints)
        self.last_decision = decision
        self.cycles += 1
        self.compute_s.append(time.monotonic() - start)
        if self._on_cycle is not None:
            self._on_cycle(decision)
        return decision

    def wake(self) -> None:
        """Run a cycle as soon as the event loop allows (an input changed); wakes collapse into one cycle."""
        self._wake.set()

    async def run(self) -> None:
        next_start = time.monotonic()
        while True:
            if time.monotonic() >= next_start:
                self._wake.clear()
                self.run_once()
                next_start += self.cycle_s
                now = time.monotonic()
                if now > next_start:
                    self.overruns += 1
                    if self.overruns == 1 or self.overruns % 100 == 0:
                        log.warning("control cycle overrun", overruns=self.overruns, late_s=round(now - next_start, 4))
                    next_start = now
            elif self._wake.is_set():
                self._wake.clear()
                self.woken_cycles += 1
                self.run_once()
            delay = next_start - time.monotonic()
            if delay <= 0:
                await asyncio.sleep(0)
                continue
            await wait_event(self._wake, delay)

    def stats(self) -> dict[str, object]:
        ordered = sorted(self.compute_s)

        def pick_ms(q: float) -> float | None:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3) if ordered else None

        return {
            "cycles": self.cycles,
            "woken_cycles": self.woken_cycles,
            "overruns": self.overruns,
            "cycle_s": self.cycle_s,
            "compute_p50_ms": pick_ms(0.5),
            "compute_p99_ms": pick_ms(0.99),
        }
