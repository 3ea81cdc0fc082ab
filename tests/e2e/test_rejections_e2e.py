"""Commands that fail validation (forged, unsigned, tampered, skewed, expired, replayed, out of range) are
rejected with the right reason code, and the simulated PCS never receives a write they asked for."""

from __future__ import annotations

import time
from typing import Any

from e2e_helpers import EXPORT_LIMIT_KW, IMPORT_LIMIT_KW, PCS_RATED_KW, StartE2e, command

LOAD_KW = 10.0
BASELINE_W = -LOAD_KW * 1000.0


async def test_invalid_commands_are_rejected_with_their_reason_and_never_reach_the_pcs(start_e2e: StartE2e) -> None:
    e2e = await start_e2e(load_kw=LOAD_KW)
    await e2e.pcs_settles(BASELINE_W, tol_w=300.0)

    # A command accepted and superseded, kept for a replay later (its id is in the replay cache).
    replay_me = command("setpoint", {"target": "battery", "p_kw": -24.0}, valid_for_s=60.0)
    await e2e.send(replay_me)
    await e2e.ack(replay_me["id"], "accepted")
    await e2e.pcs_reaches(-24_000.0, tol_w=5.0)
    short = command("setpoint", {"target": "battery", "p_kw": -26.0}, valid_for_s=1.5)
    await e2e.send(short)
    await e2e.ack(replay_me["id"], "superseded")
    await e2e.ack(short["id"], "expired", timeout_s=6.0)
    await e2e.pcs_settles(BASELINE_W, tol_w=300.0)

    tampered = command("setpoint", {"target": "battery", "p_kw": -5.0})
    tampered["body"]["p_kw"] = -31.0
    now = time.time()
    cases: list[tuple[dict[str, Any], str]] = [
        (command("setpoint", {"target": "battery", "p_kw": -21.0}, key=b"not-the-site-key-0123456789"), "signature"),
        (command("setpoint", {"target": "battery", "p_kw": -22.0}, key=None), "signature"),
        (tampered, "signature"),
        (command("setpoint", {"target": "battery", "p_kw": -33.0}, issued_at=now - 120, valid_for_s=600), "clock_skew"),
        (command("setpoint", {"target": "battery", "p_kw": -34.0}, issued_at=now + 45), "clock_skew"),
        (command("setpoint", {"target": "battery", "p_kw": -35.0}, issued_at=now - 20, valid_for_s=10), "expired"),
        (replay_me, "replay"),
        (command("setpoint", {"target": "battery", "p_kw": -(PCS_RATED_KW + 30)}), "range"),
        (command("setpoint", {"target": "battery", "p_kw": PCS_RATED_KW + 1}), "range"),
        (command("setpoint", {"target": "grid", "p_kw": -(EXPORT_LIMIT_KW + 20)}), "range"),
        (command("setpoint", {"target": "grid", "p_kw": IMPORT_LIMIT_KW + 50}), "range"),
    ]
    since = time.monotonic()
    for message, code in cases:
        await e2e.send(message)
        ack = await e2e.ack(message["id"], "rejected")
        assert ack["code"] == code, (message["body"], ack)
        assert ack["reason"], ack
    await e2e.send(b"{not json")
    malformed = await e2e.ack(None, "rejected")
    assert malformed["code"] == "json", malformed
    await e2e.quiet_period(cycles=5, polls=3)

    assert e2e.daemon.inputs.setpoint is None
    writes = e2e.pcs_writes(since)
    # Self-consumption (-10 kW) or a fail-safe zero are fine; every rejected command asked for ≤ -21 kW or a
    # grid target that would drive the battery to its ±50 kW rating.
    off = [(t, p) for t, p in writes if not BASELINE_W - 5000.0 < p < 1000.0]
    assert not off, f"rejected commands reached the PCS: {off}"
    assert e2e.recorder.statuses(replay_me["id"]) == ["accepted", "superseded", "rejected"]
    signed_badly = {m["id"] for m, code in cases if code == "signature"}

    def security_events_for() -> set[str]:
        events = e2e.recorder.on("events")
        return {e["details"].get("command_id") for e in events if e.get("event") == "security.bad_signature"}

    await e2e.steady(lambda: signed_badly <= security_events_for(), "a security event per signature failure")
