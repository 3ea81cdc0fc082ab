"""Supervisor: crashed tasks restart with back-off and the crash is recorded."""

from __future__ import annotations

import asyncio

from zoe_ems.runtime.supervisor import Supervisor


async def test_a_crashing_task_is_restarted_and_the_error_recorded() -> None:
    supervisor = Supervisor(backoff_initial_s=0.01, backoff_max_s=0.05)
    attempts = 0
    done = asyncio.Event()

    async def flaky() -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise RuntimeError(f"boom {attempts}")
        done.set()
        await asyncio.Event().wait()

    supervisor.start("flaky", flaky)
    await asyncio.wait_for(done.wait(), timeout=5.0)
    assert supervisor.stats["flaky"].restarts == 2
    assert supervisor.stats["flaky"].last_error == "RuntimeError: boom 2"
    assert supervisor.stats["flaky"].running
    await supervisor.stop()
    assert not supervisor.stats["flaky"].running


async def test_one_crashing_task_does_not_stop_the_others() -> None:
    supervisor = Supervisor(backoff_initial_s=0.01)
    ticks = 0
    enough = asyncio.Event()

    async def crasher() -> None:
        raise ValueError("always")

    async def worker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            if ticks >= 20:
                enough.set()
            await asyncio.sleep(0.001)

    supervisor.start("crasher", crasher)
    supervisor.start("worker", worker)
    await asyncio.wait_for(enough.wait(), timeout=5.0)
    assert supervisor.stats["crasher"].restarts >= 1
    await supervisor.stop()
