"""A signed VPP setpoint travels mosquitto → daemon → control engine → PCS mixer → Modbus → simulated PCS,
and when its ``valid_until`` passes the site returns to its local strategy (self-consumption)."""

from __future__ import annotations

import time

from e2e_helpers import PCS, StartE2e, command

from zoe_ems.northbound.timefmt import iso_utc

LOAD_KW = 10.0


async def test_setpoint_reaches_the_pcs_and_expiry_returns_the_site_to_self_consumption(start_e2e: StartE2e) -> None:
    e2e = await start_e2e(load_kw=LOAD_KW)
    # Local strategy first: self-consumption discharges the battery to cover the 10 kW load.
    await e2e.pcs_settles(-LOAD_KW * 1000.0, tol_w=300.0)

    issued = time.time()
    order = command("setpoint", {"target": "battery", "p_kw": -20.0}, issued_at=issued, valid_for_s=3.0)
    before = time.monotonic()
    await e2e.send(order)
    accepted = await e2e.ack(order["id"], "accepted")
    assert accepted["reason"].startswith("setpoint battery -20 kW"), accepted
    arrived = await e2e.pcs_reaches(-20_000.0, tol_w=5.0, since=before)
    assert e2e.daemon.inputs.setpoint is not None and e2e.daemon.inputs.setpoint.command_id == order["id"]
    # The PCS model follows the written setpoint (the simulator's physics, not only its register).
    await e2e.steady(lambda: abs(e2e.model_point(PCS, "p_w") + 20_000.0) < 200.0, "the PCS to deliver -20 kW")
    # Exporting 10 kW now: the simulated grid balance shows the setpoint is executed, not only written.
    assert abs(e2e.grid_w() + 10_000.0) < 500.0, e2e.grid_w()

    expired = await e2e.ack(order["id"], "expired", timeout_s=6.0)
    assert expired["ts"] >= iso_utc(issued + 3.0), "expired is acked only once valid_until has passed"
    back = await e2e.pcs_reaches(-LOAD_KW * 1000.0, tol_w=300.0, since=arrived)
    assert back > arrived
    await e2e.pcs_settles(-LOAD_KW * 1000.0, tol_w=300.0)
    assert e2e.daemon.inputs.setpoint is None
    # No write of the old setpoint once the site went back to self-consumption.
    assert all(abs(p + 20_000.0) > 1000.0 for _, p in e2e.pcs_writes(back)), e2e.pcs_writes(back)
    statuses = e2e.recorder.statuses(order["id"])
    assert statuses == ["accepted", "expired"], statuses


async def test_newer_setpoint_supersedes_the_older_one_on_the_pcs(start_e2e: StartE2e) -> None:
    e2e = await start_e2e(load_kw=0.0)
    first = command("setpoint", {"target": "battery", "p_kw": -15.0})
    second = command("setpoint", {"target": "battery", "p_kw": 12.0})
    before = time.monotonic()
    await e2e.send(first)
    await e2e.ack(first["id"], "accepted")
    t_first = await e2e.pcs_reaches(-15_000.0, tol_w=5.0, since=before)
    await e2e.send(second)
    await e2e.ack(first["id"], "superseded")
    await e2e.ack(second["id"], "accepted")
    t_second = await e2e.pcs_reaches(12_000.0, tol_w=5.0, since=t_first)
    assert t_second > t_first
