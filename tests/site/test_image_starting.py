"""Start-up grace: a device not yet polled is "starting" (not offline) until its stale window has elapsed."""

from __future__ import annotations

from drivers.points import DeviceKind
from zoe_ems.site.image import ProcessImage


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make_image() -> tuple[ProcessImage, FakeClock]:
    clock = FakeClock()
    image = ProcessImage(clock_mono=clock, clock_utc=lambda: 1.7e9 + clock.t)
    image.add_device("pcs", DeviceKind.PCS, None, stale_after_s=3.0)
    return image, clock


def test_a_device_not_yet_polled_is_starting_until_its_stale_window_elapses() -> None:
    image, clock = make_image()
    state = image.snapshot().devices["pcs"]
    assert state.starting and not state.online
    clock.t += 2.9
    assert image.snapshot().devices["pcs"].starting
    clock.t += 0.2
    state = image.snapshot().devices["pcs"]
    assert not state.starting and not state.online


def test_the_first_poll_ends_starting_and_a_later_failure_is_offline_not_starting() -> None:
    image, _ = make_image()
    image.update("pcs", {"p_w": 0.0})
    assert not image.snapshot().devices["pcs"].starting
    image.mark_failed("pcs", "timeout")
    state = image.snapshot().devices["pcs"]
    assert not state.starting and not state.online


def test_a_failure_inside_the_window_is_still_starting() -> None:
    image, clock = make_image()
    image.mark_failed("pcs", "connect: refused")
    clock.t += 1.0
    assert image.snapshot().devices["pcs"].starting


def test_the_link_start_restarts_the_grace_window() -> None:
    image, clock = make_image()
    clock.t += 10.0  # daemon set-up took long: the window counts from the link's start
    assert not image.snapshot().devices["pcs"].starting
    image.mark_started("pcs")
    assert image.snapshot().devices["pcs"].starting
    clock.t += 3.1
    assert not image.snapshot().devices["pcs"].starting


def test_status_shows_starting_per_device() -> None:
    image, _ = make_image()
    status = image.to_dict()["pcs"]
    assert isinstance(status, dict) and status["starting"] is True
    image.update("pcs", {"p_w": 0.0})
    status = image.to_dict()["pcs"]
    assert isinstance(status, dict) and status["starting"] is False


def test_slow_points_keep_their_longer_window() -> None:
    image, clock = make_image()
    image.set_slow_points("pcs", frozenset({"rated_p_w"}), window_s=13.0)
    image.update("pcs", {"p_w": 0.0, "rated_p_w": 50_000.0})
    clock.t += 12.0
    image.update("pcs", {"p_w": 1.0})  # a normal poll: the slow point is not re-read
    state = image.snapshot().devices["pcs"]
    assert state.value("rated_p_w") == 50_000.0
    clock.t += 1.5
    assert image.snapshot().devices["pcs"].value("rated_p_w") is None
