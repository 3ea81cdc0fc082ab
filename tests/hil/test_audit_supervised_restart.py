"""Audit of issue 2 §7 at daemon level: when a supervised task of the running daemon (here the control loop,
through an engine that raises) crashes, the crash is recorded, the task restarts with back-off, the device
pollers keep polling meanwhile, and the process does not die; `status` reports the restarts.

Never sleeps for synchronization (``wait_until`` polls with a deadline).
"""

from __future__ import annotations

from dataclasses import dataclass

from hil_helpers import FixedDecision, FixedEngine, StartHil, free_ports, tcp, wait_until

from zoe_ems.control.inputs import InputsView
from zoe_ems.site.points import Snapshot


@dataclass
class CrashingTwiceEngine(FixedEngine):
    """Raises on its first two steps (a bug), then works."""

    def step(self, snapshot: Snapshot, inputs: InputsView, now_mono: float) -> FixedDecision:
        self.steps += 1
        if self.steps <= 2:
            raise ZeroDivisionError(f"engine bug #{self.steps}")
        return super().step(snapshot, inputs, now_mono)


async def test_a_crashing_control_task_restarts_with_back_off_and_the_daemon_lives_on(start_hil: StartHil) -> None:
    (port,) = free_ports(1)
    devices: list[dict[str, object]] = [
        {"id": "grid_meter", "kind": "meter", "role": "grid", "driver": "zoe_meter", "transport": tcp(port, 1)},
    ]
    engine = CrashingTwiceEngine()
    hil = await start_hil(devices, engine=engine, control={"cycle_ms": 100})
    stats = hil.daemon.supervisor.stats

    await wait_until(lambda: stats["control"].restarts >= 1, 10.0, "the first crash")
    polls_at_first_crash = hil.daemon.links["grid_meter"].stats.polls
    await wait_until(lambda: hil.daemon.loop.cycles >= 5, 15.0, "control cycles after two restarts")

    assert not hil.task.done(), "the daemon keeps running"
    assert stats["control"].restarts == 2
    assert stats["control"].last_error == "ZeroDivisionError: engine bug #2"
    assert stats["control"].running
    assert hil.daemon.links["grid_meter"].stats.polls > polls_at_first_crash, "pollers go on meanwhile"
    status = hil.daemon.status()
    assert status["tasks"]["control"]["restarts"] == 2
    assert all(stats[name].restarts == 0 for name in stats if name != "control"), "only the crashed task restarts"
