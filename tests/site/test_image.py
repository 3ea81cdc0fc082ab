"""Process image: updates, quality ageing, failures, subscriptions."""

from __future__ import annotations

from drivers.points import DeviceKind
from zoe_ems.site.image import ProcessImage
from zoe_ems.site.points import Quality


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make_image() -> tuple[ProcessImage, FakeClock]:
    clock = FakeClock()
    image = ProcessImage(clock_mono=clock, clock_utc=lambda: 1.7e9 + clock.t)
    image.add_device("grid", DeviceKind.METER, "grid", stale_after_s=3.0)
    return image, clock


def test_fresh_value_turns_stale_after_the_device_window() -> None:
    image, clock = make_image()
    image.update("grid", {"p_w": 1200.0})
    assert image.snapshot().devices["grid"].value("p_w") == 1200.0
    clock.t += 3.5
    state = image.snapshot().devices["grid"]
    assert state.quality("p_w") is Quality.STALE
    assert state.value("p_w") is None


def test_not_implemented_point_has_error_quality_and_no_value() -> None:
    image, _ = make_image()
    image.update("grid", {"p_w": 5.0, "f_hz": None})
    state = image.snapshot().devices["grid"]
    assert state.quality("f_hz") is Quality.ERROR
    assert state.value("f_hz") is None
    assert state.points["p_w"].unit == "W"


def test_failed_read_marks_device_offline_with_alarm_and_recovery_clears_it() -> None:
    image, _ = make_image()
    image.update("grid", {"p_w": 5.0})
    image.mark_failed("grid", "timeout")
    state = image.snapshot().devices["grid"]
    assert not state.online
    assert any("timeout" in a for a in state.alarms)
    image.update("grid", {"p_w": 6.0})
    image.clear_alarm("grid", "comm")
    state = image.snapshot().devices["grid"]
    assert state.online and state.alarms == ()


def test_subscribers_see_every_update_of_their_point_only() -> None:
    image, _ = make_image()
    seen: list[float] = []
    unsubscribe = image.subscribe("grid", "f_hz", lambda _d, _p, pv: seen.append(float(pv.value or 0)))
    image.update("grid", {"f_hz": 50.0, "p_w": 1.0})
    image.update("grid", {"f_hz": 49.9})
    unsubscribe()
    image.update("grid", {"f_hz": 49.8})
    assert seen == [50.0, 49.9]


def test_snapshot_is_isolated_from_later_updates() -> None:
    image, _ = make_image()
    image.update("grid", {"p_w": 1.0})
    snap = image.snapshot()
    image.update("grid", {"p_w": 2.0})
    assert snap.devices["grid"].value("p_w") == 1.0
