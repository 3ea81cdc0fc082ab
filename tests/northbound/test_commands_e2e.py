"""End-to-end: signed commands through a real mosquitto broker into ControlInputs, with their acks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiomqtt
from nb_helpers import Broker, Recorder, command, encode, make_service, running, site_config, subscriber, wait_until

from zoe_ems.northbound.approvals import decide, list_commands
from zoe_ems.northbound.commands import PriceSeries
from zoe_ems.northbound.messages import Ack, DrReportMessage, EventMessage, ResponseMessage
from zoe_ems.northbound.timefmt import iso_utc

CMD = "zoe/plant-7/cmd"


async def send(client: aiomqtt.Client, message: dict[str, Any] | bytes) -> None:
    await client.publish(CMD, message if isinstance(message, bytes) else encode(message), qos=1)


async def ack_of(rec: Recorder, command_id: str | None, status: str, timeout_s: float = 5.0) -> dict[str, Any]:
    await wait_until(lambda: status in rec.statuses(command_id), timeout_s, f"ack {status} for {command_id}")  # type: ignore[arg-type]
    ack = next(a for a in rec.acks(command_id) if a["status"] == status)  # type: ignore[arg-type]
    Ack.model_validate(ack)
    return ack


def window(start_in_s: float, length_s: float) -> dict[str, str]:
    now = time.time()
    return {"start": iso_utc(now + start_in_s), "end": iso_utc(now + start_in_s + length_s)}


async def test_every_command_type_is_accepted_and_lands_in_the_control_inputs(
    broker: Broker, key_file: Path, tmp_path: Path
) -> None:
    prices: list[PriceSeries] = []
    config = site_config(port=broker.port, key_file=key_file, allow_remote_mode_change=True)
    service, inputs = make_service(config, tmp_path, prices_callback=prices.append)
    commands = [
        command("setpoint", {"target": "battery", "p_kw": -50.0}),
        command("limits", {"import_limit_kw": 300.0, "export_limit_kw": 20.0, **window(-1, 600)}),
        command(
            "dr_event",
            {
                "event_id": "ev-1",
                "target_reduction_kw": 40.0,
                "baseline": "fixed",
                "baseline_kw": 200.0,
                **window(0, 60),
            },
        ),
        command(
            "schedule", {"start": iso_utc(time.time()), "step_s": 900, "battery_p_kw": [10.0, -20.0]}, valid_for_s=3600
        ),
        command(
            "prices",
            {
                "start": iso_utc(time.time()),
                "step_s": 900,
                "buy_eur_per_kwh": [0.3, 0.25],
                "sell_eur_per_kwh": [0.1, 0.05],
            },
        ),
        command(
            "frequency_service",
            {"service": "ffr", "enabled": True, "power_kw": 80.0, "trigger_hz": 49.7, **window(0, 600)},
        ),
        command("mode", {"mode": "semi_auto"}),
    ]
    async with subscriber(broker.port) as (rec, client), running(service):
        for message in commands:
            await send(client, message)
            await ack_of(rec, message["id"], "accepted")
        await wait_until(lambda: inputs.dr_event is not None, 5, "DR event started")

    setpoint, limits, dr_event, schedule, _, ffr, _ = (m["id"] for m in commands)
    assert inputs.setpoint is not None and inputs.setpoint.p_w == -50_000.0 and inputs.setpoint.command_id == setpoint
    assert [(e.import_limit_w, e.export_limit_w, e.command_id) for e in inputs.envelopes] == [
        (300_000.0, 20_000.0, limits)
    ]
    assert inputs.dr_event is not None and inputs.dr_event.baseline_w == 200_000.0
    assert inputs.dr_event.target_reduction_w == 40_000.0 and inputs.dr_event.command_id == dr_event
    assert (
        inputs.plan is not None and inputs.plan.battery_p_w == (10_000.0, -20_000.0) and inputs.plan.source == schedule
    )
    assert len(prices) == 1 and prices[0].buy_eur_per_kwh == (0.3, 0.25)
    assert inputs.prices is not None and inputs.prices.sell_eur_per_kwh == (0.1, 0.05)
    entry = service.frequency_services.entries["ffr"]
    assert entry.order.power_kw == 80.0 and entry.order.trigger_hz == 49.7 and entry.command_id == ffr
    assert service.mode == "semi_auto"
    assert any(e["event"] == "mode.changed" for e in rec.on("events"))


async def test_bad_commands_are_rejected_with_the_right_reason_and_nothing_actuates(
    broker: Broker, key_file: Path, tmp_path: Path
) -> None:
    prices: list[PriceSeries] = []
    service, inputs = make_service(
        site_config(port=broker.port, key_file=key_file), tmp_path, prices_callback=prices.append
    )
    forged = command("setpoint", {"target": "battery", "p_kw": -50.0}, key=b"not-the-site-key-0123456789")
    unsigned = command("setpoint", {"target": "battery", "p_kw": -50.0}, key=None)
    tampered = command("setpoint", {"target": "battery", "p_kw": -5.0})
    tampered["body"]["p_kw"] = -90.0
    cases: list[tuple[dict[str, Any], str]] = [
        (forged, "signature"),
        (unsigned, "signature"),
        (tampered, "signature"),
        (
            command("setpoint", {"target": "battery", "p_kw": -50.0}, issued_at=time.time() - 120, valid_for_s=600),
            "clock_skew",
        ),
        (command("setpoint", {"target": "battery", "p_kw": -50.0}, issued_at=time.time() + 45), "clock_skew"),
        (
            command("setpoint", {"target": "battery", "p_kw": -50.0}, issued_at=time.time() - 20, valid_for_s=10),
            "expired",
        ),
        (command("setpoint", {"target": "moon", "p_kw": -50.0}), "schema"),
        (command("setpoint", {"target": "battery", "p_kw": -150.0}), "range"),
        (command("setpoint", {"target": "grid", "p_kw": 500.0}), "range"),
        (command("setpoint", {"target": "grid", "p_kw": -60.0}), "range"),
        (command("limits", {"import_limit_kw": 500.0, **window(0, 60)}), "range"),
        (command("dr_event", {"event_id": "e", "target_reduction_kw": 900.0, **window(0, 60)}), "range"),
        (command("schedule", {"start": iso_utc(time.time()), "step_s": 60, "battery_p_kw": [10.0, 120.0]}), "range"),
        (
            command(
                "frequency_service",
                {"service": "fcr", "enabled": True, "power_kw": 50, "deadband_hz": 0.2, **window(0, 60)},
            ),
            "range",
        ),
        (command("mode", {"mode": "manual"}), "not_allowed"),
    ]
    ffr_cases = [
        command(
            "frequency_service",
            {"service": "ffr", "enabled": True, "power_kw": 50, "trigger_hz": trigger_hz, **window(0, 60)},
        )
        for trigger_hz in (49.8, 49.65, 50.3, 49.0)
    ]
    cases += [(message, "range") for message in ffr_cases]
    replayed = command(
        "prices", {"start": iso_utc(time.time()), "step_s": 900, "buy_eur_per_kwh": [0.3], "sell_eur_per_kwh": [0.1]}
    )
    async with subscriber(broker.port) as (rec, client), running(service):
        for message, code in cases:
            await send(client, message)
            ack = await ack_of(rec, message["id"], "rejected")
            assert ack["code"] == code, (message, ack)
            if message in ffr_cases:
                trigger = message["body"]["trigger_hz"]
                assert ack["reason"].startswith(f"body.trigger_hz = {trigger:g} Hz is not an ffr trigger level"), ack
        await send(client, b"{not json")
        malformed = await ack_of(rec, None, "rejected")
        assert malformed["code"] == "json" and malformed["id"] is None
        await send(client, replayed)
        await ack_of(rec, replayed["id"], "accepted")
        await send(client, replayed)
        replay_ack = await ack_of(rec, replayed["id"], "rejected")
        assert replay_ack["code"] == "replay"
        await wait_until(lambda: len([e for e in rec.on("events") if e["event"] == "security.bad_signature"]) >= 3, 5)

    assert inputs.setpoint is None and inputs.envelopes == [] and inputs.plan is None and inputs.dr_event is None
    assert service.frequency_services.entries == {}
    assert len(prices) == 1
    security = [e for e in rec.on("events") if e["event"] == "security.bad_signature"]
    assert {e["details"]["command_id"] for e in security} == {forged["id"], unsigned["id"], tampered["id"]}
    assert all(e["severity"] == "security" for e in security)
    for event in security:
        EventMessage.model_validate(event)


async def test_newer_setpoint_supersedes_the_older_one(broker: Broker, key_file: Path, tmp_path: Path) -> None:
    service, inputs = make_service(site_config(port=broker.port, key_file=key_file), tmp_path)
    first = command("setpoint", {"target": "battery", "p_kw": -50.0})
    second = command("setpoint", {"target": "grid", "p_kw": 100.0})
    async with subscriber(broker.port) as (rec, client), running(service):
        await send(client, first)
        await ack_of(rec, first["id"], "accepted")
        await send(client, second)
        await ack_of(rec, second["id"], "accepted")
        ack = await ack_of(rec, first["id"], "superseded")
    assert second["id"] in ack["reason"]
    assert inputs.setpoint is not None and inputs.setpoint.target == "grid" and inputs.setpoint.p_w == 100_000.0


async def test_setpoint_expires_at_valid_until_and_the_site_returns_to_its_local_strategy(
    broker: Broker, key_file: Path, tmp_path: Path
) -> None:
    config = site_config(port=broker.port, key_file=key_file, response_interval_s=1)
    service, inputs = make_service(config, tmp_path)
    short = command("setpoint", {"target": "battery", "p_kw": -80.0}, valid_for_s=2.5)
    async with subscriber(broker.port) as (rec, client), running(service):
        await send(client, short)
        await ack_of(rec, short["id"], "accepted")
        assert inputs.setpoint is not None
        await wait_until(lambda: any(r["data"]["kind"] == "dispatch" for r in rec.on("response")), 5, "response packet")
        await ack_of(rec, short["id"], "expired", timeout_s=6)
        assert inputs.setpoint is None
        assert inputs.view(time.time()).setpoint is None
    response = next(r for r in rec.on("response") if r["data"]["kind"] == "dispatch")
    assert response["data"]["command_id"] == short["id"]
    assert response["data"]["target_kw"] == -80.0 and response["data"]["current_kw"] == -80.0
    assert response["data"]["achievement_rate"] == 1.0
    assert any(t["data"]["active_command_id"] == short["id"] for t in rec.on("telemetry"))


async def test_semi_auto_holds_large_commands_until_the_operator_approves_rejects_or_times_out(
    broker: Broker, key_file: Path, tmp_path: Path
) -> None:
    config = site_config(
        port=broker.port, key_file=key_file, mode="semi_auto", approval={"threshold_kw": 10.0, "timeout_s": 1.5}
    )
    service, inputs = make_service(config, tmp_path)
    small = command("setpoint", {"target": "battery", "p_kw": 5.0})
    approved = command("setpoint", {"target": "battery", "p_kw": -60.0})
    rejected = command("schedule", {"start": iso_utc(time.time()), "step_s": 900, "battery_p_kw": [50.0]})
    timed_out = command("dr_event", {"event_id": "ev-9", "target_reduction_kw": 30.0, **window(5, 60)})
    db = tmp_path / "zoe.db"
    async with subscriber(broker.port) as (rec, client), running(service):
        await send(client, small)
        await ack_of(rec, small["id"], "accepted")
        for message in (approved, rejected, timed_out):
            await send(client, message)
            await ack_of(rec, message["id"], "pending_approval")
        assert inputs.setpoint is not None and inputs.setpoint.command_id == small["id"]
        assert {p.command_id for p in list_commands(db)} == {approved["id"], rejected["id"], timed_out["id"]}
        assert decide(db, approved["id"], approve=True, operator="test") == "approved"
        assert decide(db, rejected["id"], approve=False, operator="test") == "rejected"
        assert decide(db, "no-such-id", approve=True) == "not_found"
        await ack_of(rec, approved["id"], "accepted")
        rejection = await ack_of(rec, rejected["id"], "rejected")
        timeout = await ack_of(rec, timed_out["id"], "rejected", timeout_s=5)
        assert decide(db, timed_out["id"], approve=True) == "already_decided"
    assert inputs.setpoint is not None and inputs.setpoint.command_id == approved["id"]
    assert inputs.plan is None and inputs.dr_event is None
    assert rejection["code"] == "operator_rejected" and timeout["code"] == "approval_timeout"
    assert "superseded" in rec.statuses(small["id"])


async def test_manual_mode_logs_commands_and_never_executes_them(
    broker: Broker, key_file: Path, tmp_path: Path
) -> None:
    service, inputs = make_service(site_config(port=broker.port, key_file=key_file, mode="manual"), tmp_path)
    message = command("setpoint", {"target": "battery", "p_kw": -60.0})
    async with subscriber(broker.port) as (rec, client), running(service):
        await send(client, message)
        ack = await ack_of(rec, message["id"], "rejected")
    assert ack["code"] == "manual_mode"
    assert inputs.setpoint is None
    assert [p.command_id for p in list_commands(tmp_path / "zoe.db", states=("logged",))] == [message["id"]]
    assert service.status()["mode"] == "manual"


async def test_dr_event_steers_the_site_and_ends_with_a_report(broker: Broker, key_file: Path, tmp_path: Path) -> None:
    config = site_config(port=broker.port, key_file=key_file, response_interval_s=1)
    service, inputs = make_service(config, tmp_path)  # the fake site imports 152 kW
    event = command(
        "dr_event",
        {"event_id": "ev-3", "target_reduction_kw": 40.0, "baseline": "fixed", "baseline_kw": 200.0, **window(0, 3.5)},
    )
    async with subscriber(broker.port) as (rec, client), running(service):
        await send(client, event)
        await ack_of(rec, event["id"], "accepted")
        await wait_until(lambda: inputs.dr_event is not None, 5, "DR input set")
        await ack_of(rec, event["id"], "completed", timeout_s=8)
        await wait_until(lambda: any(r["type"] == "dr_event_report" for r in rec.on("response")), 5, "report")
    assert inputs.dr_event is None
    live = [r for r in rec.on("response") if r["type"] == "response"]
    assert live and live[0]["data"]["baseline_kw"] == 200.0 and live[0]["data"]["actual_reduction_kw"] == 48.0
    ResponseMessage.model_validate(live[0])
    report_message = next(r for r in rec.on("response") if r["type"] == "dr_event_report")
    DrReportMessage.model_validate(report_message)
    report = report_message["data"]
    assert report["event_id"] == "ev-3" and report["baseline_method"] == "fixed"
    assert report["average_reduction_kw"] == 48.0
    assert report["achievement_rate"] > 0.8
    assert 0.02 < report["energy_delivered_kwh"] < 48.0 * 4 / 3600 + 1e-6
