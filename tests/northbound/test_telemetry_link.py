"""End-to-end: telemetry, status and signatures through a real mosquitto broker."""

from __future__ import annotations

from pathlib import Path

from nb_helpers import KEY, Broker, make_service, running, site_config, subscriber, wait_until

from zoe_ems.northbound.messages import StatusMessage, TelemetryMessage
from zoe_ems.northbound.signing import verify


async def test_telemetry_arrives_signed_with_consecutive_seq_and_contract_fields(
    broker: Broker, key_file: Path, tmp_path: Path
) -> None:
    service, _ = make_service(site_config(port=broker.port, key_file=key_file), tmp_path)
    async with subscriber(broker.port) as (rec, _client), running(service):
        await wait_until(lambda: len(rec.on("telemetry")) >= 3, 10, "three telemetry packets")
    packets = rec.on("telemetry")
    seqs = [p["seq"] for p in packets]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    for packet in packets:
        assert verify(packet, KEY)
        TelemetryMessage.model_validate(packet)
    first = packets[0]
    assert first["site_id"] == "plant-7"
    assert first["historical"] is False
    assert first["data"]["grid_kw"] == 152.0
    assert first["data"]["battery_kw"] == -80.0
    assert first["data"]["mode"] == "auto"
    assert first["ts"].endswith("Z")


async def test_status_is_online_while_running_and_offline_retained_after_stop(
    broker: Broker, key_file: Path, tmp_path: Path
) -> None:
    service, _ = make_service(site_config(port=broker.port, key_file=key_file), tmp_path)
    async with subscriber(broker.port, "zoe/plant-7/status") as (rec, _client):
        async with running(service):
            await wait_until(lambda: any(m["state"] == "online" for m in rec.on("status")), 10, "online status")
        await wait_until(lambda: rec.on("status")[-1]["state"] == "offline", 10, "offline status")
    # A late subscriber sees the retained offline status.
    async with subscriber(broker.port, "zoe/plant-7/status") as (late, _client):
        await wait_until(lambda: bool(late.on("status")), 5, "retained status")
    status = late.on("status")[-1]
    StatusMessage.model_validate(status)
    assert status["state"] == "offline"
    assert verify(status, KEY)
