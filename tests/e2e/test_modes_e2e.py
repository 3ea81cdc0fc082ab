"""Operating envelope and operating modes end to end: a `limits` command holds grid import below the new
limit with the battery; in `manual` mode a setpoint is logged, never executed; in `semi_auto` a large
setpoint waits for `zoe-ems approve ID` (the real CLI in a subprocess) and only then reaches the PCS."""

from __future__ import annotations

import asyncio
import json
import sys
import time

from e2e_helpers import StartE2e, command

from zoe_ems.northbound.approvals import list_commands
from zoe_ems.northbound.timefmt import iso_utc


async def zoe_ems(*args: str, timeout_s: float = 30.0) -> tuple[int, str, str]:
    """Run `python -m zoe_ems ARGS` without blocking the event loop the daemon runs in."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zoe_ems", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def window(length_s: float) -> dict[str, str]:
    now = time.time()
    return {"start": iso_utc(now - 1.0), "end": iso_utc(now + length_s)}


async def test_limits_command_holds_grid_import_below_the_new_limit_with_the_battery(start_e2e: StartE2e) -> None:
    e2e = await start_e2e(load_kw=40.0, control={"self_consumption": {"enabled": False}})
    await e2e.pcs_settles(0.0, tol_w=1.0)
    assert abs(e2e.grid_w() - 40_000.0) < 500.0, "without a local strategy the site imports its whole load"

    limits = command("limits", {"import_limit_kw": 25.0, **window(60.0)})
    await e2e.send(limits)
    await e2e.ack(limits["id"], "accepted")
    await e2e.steady(lambda: e2e.grid_w() <= 25_000.0 + 300.0, "grid import at or below the 25 kW envelope")
    assert -20_000.0 < (e2e.last_pcs_setpoint_w() or 0.0) < -14_000.0, "the battery covers what exceeds the limit"

    e2e.site.load.step(10_000.0)
    await e2e.pcs_settles(-25_000.0, tol_w=800.0)
    await e2e.steady(lambda: e2e.grid_w() <= 25_000.0 + 300.0, "import back under the envelope after a load step")
    for _ in range(5):  # held, not touched: every following PCS poll still sees import under the limit
        await e2e.quiet_period(cycles=1, polls=1)
        assert e2e.grid_w() <= 25_000.0 + 500.0, e2e.grid_w()
    assert any(e.command_id == limits["id"] for e in e2e.daemon.inputs.envelopes)


async def test_manual_mode_logs_a_setpoint_and_never_executes_it(start_e2e: StartE2e) -> None:
    e2e = await start_e2e(load_kw=10.0, northbound={"allow_remote_mode_change": True})
    await e2e.pcs_settles(-10_000.0, tol_w=300.0)

    to_manual = command("mode", {"mode": "manual"})
    await e2e.send(to_manual)
    await e2e.ack(to_manual["id"], "accepted")
    since = time.monotonic()
    order = command("setpoint", {"target": "battery", "p_kw": -40.0})
    await e2e.send(order)
    refused = await e2e.ack(order["id"], "rejected")
    assert refused["code"] == "manual_mode", refused
    await e2e.quiet_period(cycles=5, polls=3)

    assert e2e.daemon.inputs.setpoint is None
    # Self-consumption (-10 kW) or a fail-safe zero are fine; -40 kW is not.
    off = [(t, p) for t, p in e2e.pcs_writes(since) if not -15_000.0 < p < 1000.0]
    assert not off, f"a setpoint was executed in manual mode: {off}"
    logged = list_commands(e2e.config.storage.path, states=("logged",))
    assert [c.command_id for c in logged] == [order["id"]]
    # `zoe-ems status` (the real CLI over the daemon's status socket) lists the logged command.
    code, out, err = await zoe_ems("status", "--json", "--config", str(e2e.path))
    assert code == 0, err
    northbound = json.loads(out)["northbound"]
    assert northbound["mode"] == "manual"
    assert northbound["logged_commands"] == [
        {
            "id": order["id"],
            "type": "setpoint",
            "state": "logged",
            "summary": "setpoint battery -40 kW",
            "received": northbound["logged_commands"][0]["received"],
            "expires": order["valid_until"],
        }
    ]
    received = northbound["logged_commands"][0]["received"]
    assert order["issued_at"] <= received <= iso_utc(time.time()), received
    assert northbound["pending_commands"] == [] and northbound["active_commands"] == []
    code, text, err = await zoe_ems("status", "--config", str(e2e.path))
    assert code == 0, err
    line = next(line for line in text.splitlines() if order["id"] in line)
    assert "setpoint battery -40 kW" in line and f"valid until {order['valid_until']}" in line, text
    assert f"received {received}" in line, text
    assert "logged in manual mode, not executed" in text, text


async def test_semi_auto_large_setpoint_waits_for_cli_approval_then_reaches_the_pcs(start_e2e: StartE2e) -> None:
    e2e = await start_e2e(load_kw=0.0, northbound={"mode": "semi_auto", "approval": {"threshold_kw": 10.0}})
    small = command("setpoint", {"target": "battery", "p_kw": -5.0})
    await e2e.send(small)
    await e2e.ack(small["id"], "accepted")
    t_small = await e2e.pcs_reaches(-5_000.0, tol_w=5.0)

    large = command("setpoint", {"target": "battery", "p_kw": -30.0})
    await e2e.send(large)
    waiting = await e2e.ack(large["id"], "pending_approval")
    await e2e.quiet_period(cycles=5, polls=3)
    assert all(p > -20_000.0 for _, p in e2e.pcs_writes(t_small)), "the -30 kW setpoint waits for approval"
    # `zoe-ems status` shows it waiting, with its approval deadline (approval.timeout_s 300 s < valid_until).
    code, out, err = await zoe_ems("status", "--json", "--config", str(e2e.path))
    assert code == 0, err
    northbound = json.loads(out)["northbound"]
    [held] = northbound["pending_commands"]
    assert (held["id"], held["type"], held["state"]) == (large["id"], "setpoint", "pending_approval")
    assert held["summary"] == "setpoint battery -30 kW"
    assert held["expires"] == large["valid_until"], "the 60 s validity ends before the 300 s approval window"
    assert held["expires"] in waiting["reason"] and held["received"] <= waiting["ts"]
    assert northbound["pending_approvals"] == 1 and northbound["logged_commands"] == []
    assert [a["id"] for a in northbound["active_commands"]] == [small["id"]]
    code, text, err = await zoe_ems("status", "--config", str(e2e.path))
    assert code == 0, err
    assert "waiting for approval" in text, text
    line = next(line for line in text.splitlines() if large["id"] in line)
    assert "setpoint battery -30 kW" in line and f"approve before {held['expires']}" in line, text

    decided = time.monotonic()  # before the CLI: the daemon may act before the CLI process has exited
    code, out, err = await zoe_ems("approve", large["id"], "--config", str(e2e.path))
    assert code == 0, (out, err)
    assert "approved" in out
    await e2e.ack(large["id"], "accepted")
    await e2e.ack(small["id"], "superseded")
    code, out, err = await zoe_ems("status", "--json", "--config", str(e2e.path))
    assert code == 0, err
    northbound = json.loads(out)["northbound"]
    assert northbound["pending_commands"] == [], "an approved command no longer waits"
    assert [a["id"] for a in northbound["active_commands"]] == [large["id"]]
    reached = await e2e.pcs_reaches(-30_000.0, tol_w=5.0, since=decided)

    rejected = command("setpoint", {"target": "battery", "p_kw": 45.0})
    await e2e.send(rejected)
    await e2e.ack(rejected["id"], "pending_approval")
    code, out, err = await zoe_ems("reject", rejected["id"], "--config", str(e2e.path))
    assert code == 0, (out, err)
    refused = await e2e.ack(rejected["id"], "rejected")
    assert refused["code"] == "operator_rejected", refused
    await e2e.quiet_period(cycles=5, polls=3)
    # Only the rejected command asked for charging (the control loop may trim -30 kW during transients).
    charging = [p for _, p in e2e.pcs_writes(reached) if p > 0.0]
    assert not charging, f"the operator-rejected setpoint reached the PCS: {charging}"
