"""An accepted command runs a control cycle at once (ControlLoop.wake) instead of waiting for the cycle
timer: with a 2 s cycle, the setpoint reaches the PCS through a woken cycle, before the timer's next tick."""

from __future__ import annotations

import time

from e2e_helpers import StartE2e, command


async def test_accepted_setpoint_is_executed_by_a_woken_cycle_before_the_next_timer_cycle(start_e2e: StartE2e) -> None:
    e2e = await start_e2e(load_kw=0.0, control={"cycle_ms": 2000})
    loop = e2e.daemon.loop
    await e2e.steady(lambda: loop.cycles >= 2, "two timer cycles")
    # Right after a timer cycle, the next one is ~2 s away: whatever moves the PCS now is a woken cycle.
    timer_cycles = loop.cycles - loop.woken_cycles
    await e2e.steady(lambda: loop.cycles - loop.woken_cycles > timer_cycles, "the next timer cycle")
    timer_cycles = loop.cycles - loop.woken_cycles
    woken = loop.woken_cycles
    since = time.monotonic()
    order = command("setpoint", {"target": "battery", "p_kw": -18.0})
    await e2e.send(order)
    await e2e.ack(order["id"], "accepted")
    await e2e.pcs_reaches(-18_000.0, tol_w=5.0, since=since, timeout_s=5.0)
    assert loop.woken_cycles > woken, "the accepted command woke the control loop"
    assert loop.cycles - loop.woken_cycles == timer_cycles, "the setpoint did not wait for the timer's next cycle"
    rejected = command("setpoint", {"target": "battery", "p_kw": -18.5}, key=b"wrong-key-0123456789abcdef")
    woken = loop.woken_cycles
    await e2e.send(rejected)
    await e2e.ack(rejected["id"], "rejected")
    assert loop.woken_cycles == woken, "a rejected command changes nothing and wakes nothing"
