"""Store-and-forward: nothing is lost across broker outages, SIGKILL of the daemon, or quota pressure."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from nb_helpers import (
    KEY,
    MOSQUITTO,
    Broker,
    Recorder,
    free_port,
    make_service,
    running,
    site_config,
    subscriber,
    wait_until,
)

from zoe_ems.northbound.publisher import DELETE_BATCH
from zoe_ems.northbound.signing import verify

TELEMETRY = "zoe/plant-7/telemetry"
ROOT = Path(__file__).resolve().parents[2]


def seqs(recorders: list[Recorder], suffix: str) -> set[int]:
    return {int(m["seq"]) for r in recorders for m in r.on(suffix)}


async def _outage(broker: Broker, key_file: Path, tmp_path: Path, outage_packets: int) -> None:
    service, _ = make_service(site_config(port=broker.port, key_file=key_file), tmp_path)
    before = Recorder()
    after = Recorder()
    async with running(service):
        async with subscriber(broker.port, TELEMETRY, client_id="vpp-recorder") as (rec, _client):
            before = rec
            await wait_until(lambda: len(rec.on("telemetry")) >= 2, 10, "telemetry before the outage")
        broker.stop()
        last_before = service.outbox.last_seq(TELEMETRY)
        await wait_until(
            lambda: service.outbox.last_seq(TELEMETRY) >= last_before + outage_packets,
            outage_packets + 10,
            "telemetry buffered during the outage",
        )
        broker.start()
        async with subscriber(broker.port, TELEMETRY, client_id="vpp-recorder") as (rec, _client):
            after = rec
            target = service.outbox.last_seq(TELEMETRY) + 1
            await wait_until(lambda: max(seqs([after], "telemetry"), default=0) >= target, 20, "backlog and live")
    received = seqs([before, after], "telemetry")
    assert received >= set(range(min(received), target + 1)), "a seq is missing"
    replayed = [m for m in after.on("telemetry") if last_before < m["seq"] <= last_before + outage_packets - 2]
    assert replayed and all(m["historical"] is True for m in replayed)
    assert all(verify(m, KEY) for m in after.on("telemetry"))
    live = [m for m in after.on("telemetry") if m["seq"] == target]
    assert live and live[0]["historical"] is False


async def test_broker_outage_of_several_seconds_loses_no_telemetry_seq(
    broker: Broker, key_file: Path, tmp_path: Path
) -> None:
    await _outage(broker, key_file, tmp_path, outage_packets=5)


@pytest.mark.slow
async def test_broker_outage_of_60_s_loses_no_telemetry_seq(broker: Broker, key_file: Path, tmp_path: Path) -> None:
    await _outage(broker, key_file, tmp_path, outage_packets=60)


async def test_sigkill_mid_stream_and_restart_leaves_no_seq_gap(broker: Broker, key_file: Path, tmp_path: Path) -> None:
    config = site_config(port=broker.port, key_file=key_file)
    config_file = tmp_path / "site.json"
    config_file.write_text(config.model_dump_json())
    db = tmp_path / "zoe.db"
    script = Path(__file__).with_name("service_process.py")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, str(script), str(config_file), str(db)], env=env)

    async with subscriber(broker.port, "zoe/plant-7/#", client_id="vpp-recorder") as (rec, _client):
        first = spawn()
        try:
            await wait_until(lambda: len(rec.on("events")) >= 30, 20, "events before the kill")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            await wait_until(lambda: any(m.get("state") == "offline" for m in rec.on("status")), 10, "will")
            # The broker publishes the will after everything the killed process had sent: the rest is the restart's.
            boundary = len(rec.messages)
            killed_at = max(seqs([rec], "events"))
            second = spawn()
            try:
                await wait_until(lambda: max(seqs([rec], "events")) >= killed_at + 30, 20, "events after restart")
                await wait_until(lambda: len(rec.on("telemetry")) >= 2, 10, "telemetry")
            finally:
                second.send_signal(signal.SIGTERM)
                assert second.wait(timeout=20) == 0
        finally:
            if first.poll() is None:
                first.kill()
        await wait_until(lambda: rec.on("status")[-1].get("state") == "offline", 10, "offline after SIGTERM")
    for suffix in ("events", "telemetry"):
        received = seqs([rec], suffix)
        assert received == set(range(min(received), max(received) + 1)), f"gap in {suffix}"
        before = [int(m["seq"]) for t, m in rec.messages[:boundary] if t.endswith("/" + suffix)]
        after = [int(m["seq"]) for t, m in rec.messages[boundary:] if t.endswith("/" + suffix)]
        assert len(before) == len(set(before)) and len(after) == len(set(after)), f"{suffix}: duplicate in one run"
        # Sent again after the restart: only rows the killed process had published but not yet deleted (no
        # PUBACK yet, or PUBACK not yet committed as a delete), i.e. the tail of its stream, at most one
        # in-flight window plus one delete batch.
        duplicates = sorted(set(before) & set(after))
        window = config.northbound.outbox.max_in_flight + DELETE_BATCH if config.northbound else 0
        assert len(duplicates) <= window, f"{suffix}: {len(duplicates)} duplicates"
        assert all(seq in sorted(before)[-window:] for seq in duplicates), f"{suffix}: duplicates {duplicates}"
    assert min(seqs([rec], "events")) == 1


async def test_quota_drops_oldest_telemetry_never_acks_and_says_so_in_an_event(key_file: Path, tmp_path: Path) -> None:
    if MOSQUITTO is None:
        pytest.skip("mosquitto binary not found (apt-get install mosquitto)")
    port = free_port()  # no broker yet: everything stays in the outbox
    config = site_config(port=port, key_file=key_file, outbox={"quota_mb": 0.02}, telemetry_interval_s=3600)
    service, _ = make_service(config, tmp_path)
    runner = asyncio.create_task(service.run())
    late_broker = Broker(directory=tmp_path, port=port)
    try:
        await wait_until(lambda: service.outbox.last_seq(TELEMETRY) == 1, 5, "the first telemetry packet")
        for index in range(200):
            if index % 50 == 0:
                service.ack(f"c-{index}", "accepted", reason="x" * 20)
            message = {"v": 1, "site_id": "plant-7", "ts": "t", "data": {"i": index}}
            service.outbox.append(TELEMETRY, "telemetry", message)
        await service.outbox.flush()
        await wait_until(lambda: service.outbox.stats_nowait().dropped_total > 0, 5, "a drop")
        await service.outbox.flush()
        stats = service.outbox.stats_nowait()
        assert stats.bytes <= 20_000
        rows = await service.outbox.fetch(0, 10_000)
        assert [r.kind for r in rows].count("ack") == 4
        kept = [json.loads(r.payload)["data"]["i"] for r in rows if r.kind == "telemetry"]
        assert kept == list(range(kept[0], 200)), "the oldest telemetry goes first"
        events = [json.loads(r.payload) for r in rows if r.kind == "event"]
        assert events and all(e["event"] == "outbox.dropped" for e in events)
        # Dropped: the service's own first packet (seq 1) and test packets 0 .. kept[0]-1 (seq 2 ..).
        assert sum(e["details"]["messages"] for e in events) == stats.dropped_total == kept[0] + 1
        assert events[0]["details"]["by_topic"][TELEMETRY]["first_seq"] == 1
        late_broker.start()  # the broker appears: the event reaches the aggregator
        async with subscriber(port, "zoe/plant-7/events") as (rec, _client):
            await wait_until(lambda: any(e["event"] == "outbox.dropped" for e in rec.on("events")), 15, "event")
    finally:
        await service.stop()
        await asyncio.wait_for(runner, 10)
        late_broker.stop()
