"""The load-limit contact as a control input: closed/open polarity, total limit, the stricter of two limits, and
fail-safe on an unreadable contact (with an alarm)."""

from __future__ import annotations

from drivers.points import DeviceKind
from zoe_ems.config.control import LoadLimitContactConfig
from zoe_ems.control.contact import LoadLimitContact
from zoe_ems.control.inputs import InputsView, LoadLimitInput
from zoe_ems.control.types import Alarm
from zoe_ems.site.points import DeviceState, PointValue, Quality, Snapshot


def snapshot(di1: float | None, quality: Quality = Quality.FRESH) -> Snapshot:
    points = {}
    if di1 is not None:
        points["di1"] = PointValue(value=di1, unit="", ts_mono=1.0, ts_utc=1.0, quality=quality)
    device = DeviceState(device_id="box", kind=DeviceKind.DIGITAL_IO, role=None, online=True, points=points)
    return Snapshot(ts_mono=1.0, ts_utc=1.0, devices={"box": device})


def evaluate(
    config: LoadLimitContactConfig, snap: Snapshot, inputs: InputsView | None = None
) -> tuple[InputsView, list[Alarm]]:
    alarms: list[Alarm] = []
    result = LoadLimitContact(config).apply(snap, inputs or InputsView(now_utc=1.0), alarms)
    return result, alarms


def test_a_closed_contact_limits_and_an_open_one_does_not() -> None:
    config = LoadLimitContactConfig(device="box", limit_kw=8.0)
    closed, alarms = evaluate(config, snapshot(1.0))
    assert closed.load_limit is not None and closed.load_limit.max_controllable_load_w == 8_000.0
    assert "closed" in closed.load_limit.source and alarms == []
    opened, alarms = evaluate(config, snapshot(0.0))
    assert opened.load_limit is None and alarms == []


def test_active_when_open_inverts_the_contact() -> None:
    config = LoadLimitContactConfig(device="box", active_when="open")
    assert evaluate(config, snapshot(0.0))[0].load_limit is not None
    assert evaluate(config, snapshot(1.0))[0].load_limit is None


def test_an_unreadable_contact_limits_with_an_alarm_unless_told_to_ignore_it() -> None:
    for snap in (snapshot(None), snapshot(1.0, Quality.STALE), Snapshot(ts_mono=1.0, ts_utc=1.0, devices={})):
        limited, alarms = evaluate(LoadLimitContactConfig(device="box"), snap)
        assert limited.load_limit is not None and limited.load_limit.max_controllable_load_w == 0.0
        assert [a.code for a in alarms] == ["LOAD_LIMIT_CONTACT_UNKNOWN"]
        ignored, alarms = evaluate(LoadLimitContactConfig(device="box", on_stale="ignore"), snap)
        assert ignored.load_limit is None and [a.code for a in alarms] == ["LOAD_LIMIT_CONTACT_UNKNOWN"]


def test_the_stricter_of_the_contact_and_another_load_limit_wins() -> None:
    other = InputsView(now_utc=1.0, load_limit=LoadLimitInput(max_controllable_load_w=5_000.0, source="vpp"))
    stricter_other, _ = evaluate(LoadLimitContactConfig(device="box", limit_kw=8.0), snapshot(1.0), other)
    assert stricter_other.load_limit is not None and stricter_other.load_limit.source == "vpp"
    stricter_contact, _ = evaluate(LoadLimitContactConfig(device="box", limit_kw=2.0), snapshot(1.0), other)
    assert stricter_contact.load_limit is not None
    assert stricter_contact.load_limit.max_controllable_load_w == 2_000.0
