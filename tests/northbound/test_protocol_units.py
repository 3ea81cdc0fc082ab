"""Unit-level specifications: signatures, schemas, baselines, outbox, replay cache, error causes, config."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from nb_helpers import free_port, make_service, site_config, wait_until
from pydantic import ValidationError

from zoe_ems.config.northbound import TlsConfig
from zoe_ems.northbound.baseline import high_x_of_y, prior_15min
from zoe_ems.northbound.schemas import DEFAULT_DIR, schema_documents
from zoe_ems.northbound.signing import canonical_bytes, sign, signed, verify
from zoe_ems.storage.outbox import Outbox
from zoe_ems.storage.replay import ReplayCache

CONTRACT_EXAMPLE = {
    "v": 1,
    "id": "c-000123",
    "type": "setpoint",
    "issued_at": "2026-11-22T10:00:00.000Z",
    "valid_until": "2026-11-22T10:05:00Z",
    "body": {"target": "battery", "p_kw": -100.0},
}


def test_signature_is_hmac_sha256_over_the_sorted_compact_utf8_form() -> None:
    import hashlib
    import hmac

    key = b"0123456789abcdef-key"
    expected = hmac.new(
        key,
        json.dumps(CONTRACT_EXAMPLE, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(),
        hashlib.sha256,
    ).hexdigest()
    message = signed(CONTRACT_EXAMPLE, key)
    assert message["sig"] == expected == sign(CONTRACT_EXAMPLE, key)
    assert verify(message, key)
    assert not verify({**message, "id": "c-000124"}, key)
    assert not verify(message, key + b"x")
    assert canonical_bytes({"b": "é", "a": 1, "sig": "x"}) == '{"a":1,"b":"é"}'.encode()


def test_exported_json_schemas_are_up_to_date() -> None:
    documents = schema_documents()
    assert set(documents) == {p.name for p in DEFAULT_DIR.glob("*.json")}, "run python -m zoe_ems.northbound.schemas"
    for name, text in documents.items():
        assert (DEFAULT_DIR / name).read_text(encoding="utf-8") == text, f"{name} is stale"
    command_schema = json.loads(documents["command.json"])
    assert set(command_schema["discriminator"]["mapping"]) == {
        "setpoint",
        "limits",
        "dr_event",
        "mode",
        "schedule",
        "prices",
        "frequency_service",
    }


class MemoryHistory:
    """Grid power per second as a step function: ``profile(t)`` in W."""

    def __init__(self, profile: dict[float, float], step_s: float = 60.0) -> None:
        self.samples = sorted(profile.items())
        self.step_s = step_s

    def grid_power_average_w(self, start_utc: float, end_utc: float) -> float | None:
        values = [v for t, v in self.samples if start_utc <= t < end_utc]
        return sum(values) / len(values) if values else None


def test_prior_15min_baseline_is_the_mean_of_the_quarter_hour_before_the_start() -> None:
    start = 1_800_000_000.0
    history = MemoryHistory({start - 1800 + i * 60: (100_000.0 if i < 15 else 200_000.0) for i in range(30)})
    baseline = prior_15min(history, start)
    assert baseline is not None and baseline.value_w == 200_000.0
    assert prior_15min(MemoryHistory({}), start) is None


def test_high_5_of_10_takes_the_highest_similar_days_and_adjusts_for_the_event_day() -> None:
    zone = ZoneInfo("Europe/Brussels")
    event_start = datetime(2026, 11, 19, 17, 0, tzinfo=zone)  # a Thursday
    profile: dict[float, float] = {}
    day = 0
    weekday_levels = {}
    for days_back in range(1, 20):
        moment = event_start - timedelta(days=days_back)
        if moment.weekday() >= 5:
            level = 900_000.0  # weekends must be ignored
        else:
            day += 1
            level = 100_000.0 + 10_000.0 * day  # older weekdays are higher
            weekday_levels[moment.date()] = level
        for minute in range(-240, 60, 10):
            profile[(moment + timedelta(minutes=minute)).timestamp()] = level
    # Event day runs 50 kW above usual in the adjustment window [start-3h, start-1h).
    for minute in range(-180, -60, 10):
        profile[(event_start + timedelta(minutes=minute)).timestamp()] = 50_000.0 + 160_000.0
    start_utc = event_start.timestamp()
    baseline = high_x_of_y(MemoryHistory(profile), start_utc, start_utc + 3600, x=5, y=10, timezone="Europe/Brussels")
    assert baseline is not None
    ten_weekdays = sorted(weekday_levels.values())[:10]
    top5 = sorted(ten_weekdays, reverse=True)[:5]
    unadjusted = sum(top5) / 5
    assert baseline.value_w == pytest.approx(unadjusted + min(0.2 * unadjusted, 210_000.0 - unadjusted))
    assert len(baseline.days_used) == 5
    none = high_x_of_y(MemoryHistory({}), start_utc, start_utc + 3600, x=5, y=10, timezone="Europe/Brussels")
    assert none is None


def test_outbox_seq_survives_a_restart_and_rows_come_back_in_order(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    outbox.open()
    assert [outbox.append("t/a", "telemetry", {"n": n}) for n in range(3)] == [1, 2, 3]
    assert outbox.append("t/b", "ack", {"n": 0}) == 1
    outbox.flush_blocking()
    rows = outbox.fetch_blocking(0, 10)
    outbox.close()
    reopened = Outbox(tmp_path / "o.db")
    reopened.open()
    assert reopened.append("t/a", "telemetry", {"n": 3}) == 4
    reopened.flush_blocking()
    assert [(r.topic, r.seq) for r in reopened.fetch_blocking(0, 10)] == [
        ("t/a", 1),
        ("t/a", 2),
        ("t/a", 3),
        ("t/b", 1),
        ("t/a", 4),
    ]
    assert json.loads(rows[1].payload) == {"n": 1, "seq": 2}
    reopened.close()


def test_replay_cache_remembers_ids_until_their_command_can_no_longer_be_valid(tmp_path: Path) -> None:
    cache = ReplayCache(tmp_path / "r.db")
    now = time.time()
    assert cache.check_and_record("c-1", now + 100)
    assert not cache.check_and_record("c-1", now + 100)
    assert cache.check_and_record("c-2", now - 1)
    assert cache.purge(now) == 1
    assert cache.seen("c-1") and not cache.seen("c-2")
    cache.close()


@pytest.mark.parametrize(
    ("host", "category"),
    [("no-such-broker.invalid", "dns"), ("127.0.0.1", "refused")],
)
async def test_connection_failures_are_explained(host: str, category: str, key_file: Path, tmp_path: Path) -> None:
    import asyncio

    config = site_config(port=free_port(), key_file=key_file, mqtt={"host": host})
    service, _ = make_service(config, tmp_path)
    runner = asyncio.create_task(service.run())
    try:
        await wait_until(lambda: service.last_connect_error is not None, 10, "a failure")
    finally:
        await service.stop()
        await asyncio.wait_for(runner, 10)
    assert service.last_connect_error is not None and service.last_connect_error[0] == category


def test_client_certificate_without_key_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="cert_file and key_file"):
        TlsConfig(cert_file=Path("c.pem"))


def test_missing_command_key_file_is_reported_with_its_path(tmp_path: Path) -> None:
    config = site_config(port=1883, key_file=tmp_path / "absent.key")
    with pytest.raises(ValueError, match=r"command_key_file.*absent\.key"):
        make_service(config, tmp_path)
