"""The process image never takes an implausible reading as fresh: ERROR quality, a POINT_IMPLAUSIBLE alarm
naming point and value (logged once per episode), and a device with no trustworthy value is not online."""

from __future__ import annotations

import math

from structlog.testing import capture_logs

from drivers.points import DeviceKind
from zoe_ems.site.image import DATA_INVALID, POINT_IMPLAUSIBLE, ProcessImage
from zoe_ems.site.points import Quality


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make_image() -> tuple[ProcessImage, FakeClock]:
    clock = FakeClock()
    image = ProcessImage(clock_mono=clock, clock_utc=lambda: 1.7e9 + clock.t)
    image.add_device("bms", DeviceKind.BMS, None, stale_after_s=3.0)
    image.add_device("pcs", DeviceKind.PCS, None, stale_after_s=3.0)
    image.add_device("grid", DeviceKind.METER, "grid", stale_after_s=3.0)
    return image, clock


def alarm(image: ProcessImage, device_id: str, code: str) -> str | None:
    for text in image.snapshot().devices[device_id].alarms:
        if text.startswith(code + ":"):
            return text
    return None


def test_an_implausible_soc_is_an_error_with_an_alarm_logged_once_per_episode() -> None:
    image, clock = make_image()
    with capture_logs() as logs:
        for _ in range(5):
            image.update("bms", {"soc": 2.5, "u_v": 800.0})
            clock.t += 0.5
        state = image.snapshot().devices["bms"]
        assert state.quality("soc") is Quality.ERROR and state.value("soc") is None
        assert state.value("u_v") == 800.0 and state.online
        text = alarm(image, "bms", POINT_IMPLAUSIBLE)
        assert text is not None and "soc=2.5" in text
        image.update("bms", {"soc": 0.5, "u_v": 800.0})
    assert image.snapshot().devices["bms"].value("soc") == 0.5
    assert alarm(image, "bms", POINT_IMPLAUSIBLE) is None
    assert len([e for e in logs if e["event"] == "implausible value not taken"]) == 1
    assert len([e for e in logs if e["event"] == "value plausible again"]) == 1


def test_pcs_power_beyond_twice_its_rating_is_not_fresh() -> None:
    image, _ = make_image()
    image.set_rating("pcs", 250_000.0)
    image.update("pcs", {"p_w": -1e9, "soc": 0.5})
    state = image.snapshot().devices["pcs"]
    assert state.value("p_w") is None and state.value("soc") == 0.5
    text = alarm(image, "pcs", POINT_IMPLAUSIBLE)
    assert text is not None and "p_w=-1e+09" in text
    image.update("pcs", {"p_w": -300_000.0, "soc": 0.5})
    assert image.snapshot().devices["pcs"].value("p_w") == -300_000.0


def test_the_device_reported_rating_bounds_power_when_the_site_file_is_silent() -> None:
    image, _ = make_image()
    image.update("pcs", {"p_w": -600_000.0, "rated_p_w": 250_000.0})
    assert image.snapshot().devices["pcs"].value("p_w") is None
    image.update("pcs", {"p_w": -200_000.0})
    assert image.snapshot().devices["pcs"].value("p_w") == -200_000.0


def test_a_device_answering_nan_everywhere_is_not_online_and_alarms() -> None:
    image, _ = make_image()
    image.update("grid", {"p_w": math.nan, "f_hz": math.nan, "u_l1_v": None})
    state = image.snapshot().devices["grid"]
    assert not state.online
    assert all(pv.quality is Quality.ERROR for pv in state.points.values())
    assert all(pv.value is None for pv in state.points.values()), "NaN never reaches status JSON"
    assert alarm(image, "grid", DATA_INVALID) is not None
    image.update("grid", {"p_w": 1000.0, "f_hz": 50.0, "u_l1_v": 230.0})
    state = image.snapshot().devices["grid"]
    assert state.online and alarm(image, "grid", DATA_INVALID) is None
    assert alarm(image, "grid", POINT_IMPLAUSIBLE) is None
