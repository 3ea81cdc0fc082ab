"""An FFR order with ``over_trigger_hz`` arms the over-frequency mirror end to end (mosquitto → daemon → fast path
→ Modbus → simulated PCS): above the ordered 50.4 Hz the battery charges the contracted power, below it nothing
happens; an order at a level that is no mirror of an FFR trigger is refused naming the field and arms nothing."""

from __future__ import annotations

import time

from e2e_helpers import PCS, StartE2e, command

from zoe_ems.northbound.timefmt import iso_utc


def window(length_s: float) -> dict[str, str]:
    now = time.time()
    return {"start": iso_utc(now - 1.0), "end": iso_utc(now - 1.0 + length_s)}


async def test_ffr_order_with_an_over_trigger_makes_the_battery_charge_above_it(start_e2e: StartE2e) -> None:
    e2e = await start_e2e(load_kw=0.0)
    daemon = e2e.daemon
    await e2e.pcs_settles(0.0, tol_w=100.0)

    body = {"service": "ffr", "enabled": True, "power_kw": 20.0, "trigger_hz": 49.7, **window(600)}
    bad = command("frequency_service", {**body, "over_trigger_hz": 50.2})
    await e2e.send(bad)
    refused = await e2e.ack(bad["id"], "rejected")
    assert refused["code"] == "range", refused
    assert refused["reason"].startswith("body.over_trigger_hz = 50.2 Hz is not an ffr over-frequency"), refused
    await e2e.quiet_period(cycles=3, polls=2)
    assert daemon.frequency_registry.entries == {}

    order = command("frequency_service", {**body, "over_trigger_hz": 50.4})
    await e2e.send(order)
    await e2e.ack(order["id"], "accepted")

    def armed() -> bool:
        frequency = daemon.status()["frequency"]
        return frequency is not None and frequency["samples"] > 5

    await e2e.steady(armed, "FFR armed and the fast path sampling the grid meter")
    e2e.site.frequency.set(50.35)  # above 50.3 (the site default mirror) but below the ordered 50.4 Hz
    since = time.monotonic()
    await e2e.quiet_period(cycles=5, polls=3)
    assert all(abs(p) < 1000.0 for _, p in e2e.pcs_writes(since)), "50.35 Hz does not trigger a 50.4 Hz mirror"

    e2e.site.frequency.set(50.45)
    await e2e.pcs_reaches(20_000.0, tol_w=500.0, since=since)
    await e2e.steady(lambda: abs(e2e.model_point(PCS, "p_w") - 20_000.0) < 1000.0, "the PCS to charge 20 kW")
