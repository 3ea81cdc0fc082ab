"""Audit of issue 2 §7 and issue 3 §1: a supervised task that crashes is restarted with a back-off that
doubles up to its cap and every crash is logged with the task name and the traceback; a control cycle
that overruns its period is counted and logged once, and the loop keeps running.

No sleep for synchronization: waits are events with deadlines; the slow engine burns CPU to stand for a
long computation.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from structlog.testing import capture_logs

from zoe_ems.control.inputs import ControlInputs, InputsView
from zoe_ems.runtime.control_loop import ControlLoop
from zoe_ems.runtime.supervisor import Supervisor
from zoe_ems.site.image import ProcessImage
from zoe_ems.site.points import Snapshot


async def test_restart_back_off_doubles_up_to_its_cap_and_each_crash_is_logged_with_context() -> None:
    supervisor = Supervisor(backoff_initial_s=0.01, backoff_max_s=0.04)
    started: list[float] = []
    enough = asyncio.Event()

    async def always_crashes() -> None:
        started.append(time.monotonic())
        if len(started) >= 6:
            enough.set()
        raise ConnectionError(f"device gone #{len(started)}")

    with capture_logs() as logs:
        supervisor.start("poller", always_crashes)
        await asyncio.wait_for(enough.wait(), timeout=10.0)
        await supervisor.stop()

    crashes = [entry for entry in logs if entry["event"] == "task crashed, restarting"]
    assert len(crashes) >= 5
    assert [c["restart_in_s"] for c in crashes[:5]] == [0.01, 0.02, 0.04, 0.04, 0.04], "doubles, then capped"
    assert all(c["task"] == "poller" and c.get("exc_info") for c in crashes), "task name and traceback logged"
    assert all(c["log_level"] == "error" for c in crashes)
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert all(gap >= delay * 0.99 for gap, delay in zip(gaps, [0.01, 0.02, 0.04, 0.04, 0.04], strict=False)), gaps
    stats = supervisor.stats["poller"]
    assert stats.restarts >= 5 and stats.last_error is not None and stats.last_error.startswith("ConnectionError")


@dataclass
class _Decision:
    setpoints: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"setpoints": self.setpoints}


@dataclass
class _SlowThenFastEngine:
    """The first ``slow_cycles`` steps compute for longer than the cycle period; then it is quick."""

    busy_s: float
    slow_cycles: int
    steps: int = 0

    def step(self, snapshot: Snapshot, inputs: InputsView, now_mono: float) -> _Decision:
        self.steps += 1
        if self.steps <= self.slow_cycles:
            end = time.monotonic() + self.busy_s
            while time.monotonic() < end:  # a long computation, not a wait
                pass
        return _Decision()


async def test_control_cycle_overruns_are_counted_logged_once_and_never_fatal() -> None:
    engine = _SlowThenFastEngine(busy_s=0.15, slow_cycles=3)
    loop = ControlLoop(engine, ProcessImage(), ControlInputs(), lambda _d, _s: None, cycle_s=0.1)
    with capture_logs() as logs:
        task = asyncio.create_task(loop.run())
        deadline = time.monotonic() + 10.0
        while loop.cycles < 8:
            assert not task.done(), f"the loop died: {task.exception() if task.done() else None}"
            assert time.monotonic() < deadline, f"only {loop.cycles} cycles"
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert 3 <= loop.overruns < loop.cycles, "each slow cycle is an overrun; the quick ones after it are not all late"
    assert loop.stats()["overruns"] == loop.overruns
    warnings = [e for e in logs if e["event"] == "control cycle overrun"]
    assert len(warnings) == 1, "logged once (then every 100th), not once per cycle"
    assert warnings[0]["log_level"] == "warning" and warnings[0]["late_s"] > 0
