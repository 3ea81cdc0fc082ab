"""Fuzzing the command path of the running daemon through mosquitto: whatever arrives on the cmd topic, the
daemon keeps running, acks every message (never with the ``internal`` code), keeps its control loop, its
telemetry and its Modbus links alive, and never writes the PCS beyond its rating.

One daemon serves every Hypothesis example (state accumulates as in the field). After each fuzzed payload a
sentinel with a known id is sent; commands are handled in order and their acks leave in ``seq`` order on one
topic, so once the sentinel's ack is in, every ack of the fuzzed payload is too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from e2e_helpers import PCS, PCS_RATED_KW, E2e, StartE2e, command, wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nb_fuzz_strategies import payloads, signed_setpoints

SENTINEL_TIMEOUT_S = 10.0


@pytest.fixture
async def fuzzed_site(start_e2e: StartE2e) -> AsyncIterator[E2e]:
    yield await start_e2e(load_kw=10.0)


class Progress:
    """Position in the ack stream and the count of sentinels sent (shared across examples)."""

    acks_seen = 0
    sentinels = 0


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payload=st.one_of(payloads, signed_setpoints()))
async def test_fuzzed_commands_never_crash_the_daemon_and_each_is_acked(fuzzed_site: E2e, payload: bytes) -> None:
    e2e = fuzzed_site
    cycles_before = e2e.daemon.loop.cycles
    await e2e.send(payload)
    Progress.sentinels += 1
    sentinel = f"fuzz-sentinel-{Progress.sentinels}"
    await e2e.send(b'{"id": "%s"}' % sentinel.encode())  # a schema rejection that carries its id
    await e2e.ack(sentinel, "rejected", timeout_s=SENTINEL_TIMEOUT_S)

    acks = e2e.recorder.on("ack")[Progress.acks_seen :]
    Progress.acks_seen = len(e2e.recorder.on("ack"))
    position = next(i for i, a in enumerate(acks) if a.get("id") == sentinel)
    for_payload = acks[:position]
    assert for_payload, f"no ack for {payload!r}"
    assert all(a.get("code") != "internal" for a in acks), acks
    assert not e2e.task.done(), "the daemon stopped"
    await wait_until(lambda: e2e.daemon.loop.cycles > cycles_before, 5.0, "the control loop to keep cycling")
    rated_w = PCS_RATED_KW * 1000.0
    beyond = [p for _, p in e2e.pcs_writes() if abs(p) > rated_w + 1.0]
    assert not beyond, f"PCS writes beyond its {PCS_RATED_KW} kW rating: {beyond}"


async def test_after_fuzzing_the_daemon_still_publishes_telemetry_and_executes_a_valid_command(
    start_e2e: StartE2e,
) -> None:
    """The fuzz test's invariants are per example; this one checks the daemon is fully usable after a burst."""
    e2e = await start_e2e(load_kw=10.0)
    burst: list[bytes] = [b"", b"\xff\xfe", b"[]", b'{"v": 1}', b"{" * 5000, b'{"id": null}', b"null"]
    for payload in burst:
        await e2e.send(payload)
    telemetry_before = len(e2e.recorder.on("telemetry"))
    order = command("setpoint", {"target": "battery", "p_kw": -21.0})
    await e2e.send(order)
    await e2e.ack(order["id"], "accepted")
    await e2e.pcs_reaches(-21_000.0, tol_w=5.0)
    await wait_until(lambda: len(e2e.recorder.on("telemetry")) > telemetry_before, 5.0, "telemetry after the burst")
    rejected: list[dict[str, Any]] = [a for a in e2e.recorder.on("ack") if a.get("id") is None]
    assert len(rejected) == len(burst) and all(a["status"] == "rejected" for a in rejected), rejected
    assert all(a.get("code") != "internal" for a in e2e.recorder.on("ack"))
    assert e2e.daemon.links[PCS].stats.polls > 0 and not e2e.task.done()
