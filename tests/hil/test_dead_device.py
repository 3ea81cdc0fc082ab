"""A device that stops answering must not slow down the other unit ids on its bus: they keep their poll
rate, the dead one goes OFFLINE with a ``comm`` alarm, comes back when it answers again, and each
transition is logged once, not once per poll."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from hil_helpers import StartHil, free_port, tcp, wait_until
from structlog.testing import capture_logs

HEALTHY_POLL_S = 0.2
FAULT_S = 3.0


async def test_dead_unit_id_leaves_its_bus_neighbours_at_their_poll_rate_and_recovers(start_hil: StartHil) -> None:
    port = free_port()
    devices: list[dict[str, object]] = [
        {
            "id": "grid_meter",
            "kind": "meter",
            "role": "grid",
            "driver": "zoe_meter",
            "transport": tcp(port, 1, timeout_ms=200, retries=1),
            "poll_ms": int(HEALTHY_POLL_S * 1000),
        },
        {
            "id": "pv_meter",
            "kind": "meter",
            "role": "pv",
            "driver": "zoe_meter",
            "transport": tcp(port, 2, timeout_ms=200, retries=1),
            "poll_ms": 200,
        },
        {
            "id": "bms",
            "kind": "bms",
            "driver": "zoe_bms",
            "transport": tcp(port, 3, timeout_ms=200, retries=1),
            "poll_ms": 250,
        },
    ]
    hil = await start_hil(devices)
    healthy = hil.daemon.links["grid_meter"].stats
    await wait_until(lambda: hil.all_fresh(["grid_meter", "pv_meter", "bms"]), 15.0, "all devices online")

    with capture_logs() as logs:
        hil.site.set_fault("pv_meter", no_response=True)
        polls_before, started = healthy.polls, time.monotonic()
        await wait_until(lambda: not hil.online("pv_meter"), 5.0, "the silent device to go OFFLINE")
        await wait_until(lambda: time.monotonic() - started >= FAULT_S, FAULT_S + 1.0, "the fault window to pass")
        polls_during, elapsed = healthy.polls - polls_before, time.monotonic() - started
        state = hil.daemon.image.snapshot().devices["pv_meter"]
        assert not state.online
        assert any(alarm.startswith("comm:") for alarm in state.alarms), state.alarms
        assert hil.all_fresh(["grid_meter", "bms"]), "neighbours stay online with FRESH values"
        assert hil.value("pv_meter", "p_w") is None, "the silent device's values are no longer FRESH"

        hil.site.clear_faults("pv_meter")
        await wait_until(lambda: hil.all_fresh(["pv_meter"]), 15.0, "the device to come back")

    nominal = elapsed / HEALTHY_POLL_S
    intervals = list(healthy.intervals_s)[-polls_during:]
    assert polls_during >= 0.8 * nominal, (
        f"healthy neighbour polled {polls_during} times in {elapsed:.2f} s (nominal {nominal:.1f}); "
        f"longest interval {max(intervals):.3f} s"
    )
    states = hil.daemon.image.snapshot().devices["pv_meter"]
    assert not any(alarm.startswith("comm:") for alarm in states.alarms), "the comm alarm clears on recovery"

    def events(name: str) -> list[MutableMapping[str, Any]]:
        return [e for e in logs if e.get("event") == name and e.get("device") == "pv_meter"]

    assert len(events("device failing")) == 1, [e["event"] for e in logs]
    assert len(events("device recovered")) == 1, [e["event"] for e in logs]
    assert len(events("modbus device failing")) == 1
    assert len(events("modbus device recovered")) == 1
    assert not [e for e in logs if e.get("device") in ("grid_meter", "bms")], "neighbours log nothing"
