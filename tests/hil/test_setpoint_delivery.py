"""The link never drops a setpoint silently: a non-finite setpoint is refused with one log line and a
``SETPOINT_INVALID`` alarm (nothing written), and every setpoint's fate is visible per device link
(``DeviceLink.delivery``): written and confirmed, or failed; an unchanged value is confirmed by read-back."""

from __future__ import annotations

import math
import time

from hil_helpers import FixedEngine, StartHil, accepted_writes, free_ports, tcp, wait_until
from structlog.testing import capture_logs

from zoe_ems.site.poller import SETPOINT_INVALID


def devices(meter_port: int, pv_port: int) -> list[dict[str, object]]:
    return [
        {
            "id": "grid_meter",
            "kind": "meter",
            "role": "grid",
            "driver": "zoe_meter",
            "transport": tcp(meter_port, 1),
            "poll_ms": 250,
        },
        {
            "id": "pv",
            "kind": "pv_inverter",
            "driver": "zoe_pv",
            "rated_power_kw": 50,
            "transport": tcp(pv_port, 1),
            "poll_ms": 100,
            "setpoint_refresh_s": 3600.0,  # no periodic re-write: confirmations come from read-back
        },
    ]


async def test_non_finite_setpoint_is_refused_loudly_and_every_delivery_is_visible(start_hil: StartHil) -> None:
    engine = FixedEngine({"pv": {"p_limit_w": math.inf}})
    with capture_logs() as logs:
        hil = await start_hil(devices(*free_ports(2)), engine=engine)
        link = hil.daemon.links["pv"]

        def alarms() -> tuple[str, ...]:
            return hil.daemon.image.snapshot().devices["pv"].alarms

        await wait_until(lambda: any(a.startswith(SETPOINT_INVALID) for a in alarms()), 10.0, "SETPOINT_INVALID")
        steps = engine.steps
        await wait_until(lambda: engine.steps >= steps + 10, 10.0, "ten more control cycles")
        assert accepted_writes(hil, "pv", "p_limit_w") == [], "nothing written for a non-finite setpoint"
        delivery = link.delivery("p_limit_w")
        assert delivery is not None and not delivery.ok and delivery.value == math.inf
        assert any("p_limit_w=inf" in a for a in alarms()), alarms()
        refused = [e for e in logs if e.get("event") == "non-finite setpoint refused, nothing written"]
        assert len(refused) == 1, "logged once per episode, not per cycle"
        assert refused[0]["log_level"] == "error"

        asked = time.monotonic()
        engine.setpoints = {"pv": {"p_limit_w": 10_000.0}}
        await wait_until(lambda: link.delivered_since("p_limit_w", asked) is True, 5.0, "the finite setpoint delivered")
        assert hil.model_value("pv", "p_limit_w") == 10_000.0
        assert not any(a.startswith(SETPOINT_INVALID) for a in alarms()), "the alarm clears with a finite value"
        assert [e for e in logs if e.get("event") == "setpoint valid again"]

    # Unchanged value: no new write, yet fresh delivery evidence from the read-back of every poll.
    writes = len(hil.site.write_log("pv"))
    unchanged = time.monotonic()
    await wait_until(lambda: link.delivered_since("p_limit_w", unchanged) is True, 5.0, "read-back confirmation")
    assert len(hil.site.write_log("pv")) == writes
    delivery = link.delivery("p_limit_w")
    assert delivery is not None and delivery.value == 10_000.0 and delivery.ok

    # A write the device refuses is a failed delivery, not a silent one.
    hil.site.set_fault("pv", exception_code=4)
    refused_at = time.monotonic()
    engine.setpoints = {"pv": {"p_limit_w": 12_000.0}}
    await wait_until(lambda: link.delivered_since("p_limit_w", refused_at) is False, 5.0, "a failed delivery")
    hil.site.clear_faults("pv")
    await wait_until(
        lambda: (d := link.delivery("p_limit_w")) is not None and d.ok and d.value == 12_000.0,
        10.0,
        "delivery once the device accepts writes again",
    )
    assert hil.model_value("pv", "p_limit_w") == 12_000.0
