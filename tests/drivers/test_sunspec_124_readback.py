"""Read-back of ``p_set_w`` on a storage inverter that only has model 124: the setpoint is derived from
InWRte / OutWRte (% of WChaMax, with their scale factors) while StorCtl_Mod has both bits set."""

from __future__ import annotations

import pytest

from drivers.driver import DriverOptions
from drivers.errors import DeviceExceptionResponse
from drivers.points import DeviceKind
from drivers.profile import Function, PollClass
from drivers.sunspec.control import setpoint_from_storage_rates
from drivers.sunspec.driver import SunSpecDriver
from drivers.sunspec.image import SunSpecImage, storage_inverter_image

ALL_POLLS = frozenset(PollClass)


class LiveImageIO:
    """RegisterIO straight onto a simulated device's image: reads see earlier writes, unknown addresses
    answer exception 2 like a strict device."""

    def __init__(self, image: SunSpecImage) -> None:
        self.image = image

    @property
    def name(self) -> str:
        return "image/unit 1"

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        registers = self.image.registers
        if function is not Function.HOLDING or any(a not in registers for a in range(address, address + count)):
            raise DeviceExceptionResponse(self.name, 2)
        return [registers[a] for a in range(address, address + count)]

    async def write_registers(self, address: int, values: list[int]) -> None:
        if any(a not in self.image.registers for a in range(address, address + len(values))):
            raise DeviceExceptionResponse(self.name, 2)
        self.image.apply_write(address, values)

    async def write_coils(self, address: int, values: list[bool]) -> None:
        raise DeviceExceptionResponse(self.name, 1)


async def connected_124_inverter(rated_w: float, *, base: int = 40000) -> tuple[SunSpecDriver, SunSpecImage]:
    image = storage_inverter_image(rated_w=rated_w, capacity_wh=2 * rated_w, control_models=(124,), base=base)
    driver = SunSpecDriver(LiveImageIO(image), DriverOptions(device_id="storage", kind=DeviceKind.PCS))
    await driver.connect()
    assert driver.control_paths["p_set_w"] == "124.InOutWRte"
    return driver, image


@pytest.mark.parametrize("p_set_w", [-2500.0, 3000.0, 0.0])
async def test_a_124_setpoint_reads_back_as_the_power_that_was_commanded(p_set_w: float) -> None:
    driver, _image = await connected_124_inverter(5000.0)
    await driver.write({"p_set_w": p_set_w})
    points = await driver.read(frozenset({PollClass.NORMAL}))
    assert points["p_set_w"] == pytest.approx(p_set_w, abs=0.5)


async def test_the_124_read_back_applies_the_wchamax_scale_factor() -> None:
    driver, image = await connected_124_inverter(50_000.0, base=0)
    assert image.get(124, "WChaMax_SF") == 1, "WChaMax is scaled: 50 kW does not fit int16 watts"
    await driver.write({"p_set_w": -15_000.0})
    points = await driver.read(ALL_POLLS)
    assert points["p_set_w"] == pytest.approx(-15_000.0, abs=5.0)
    assert image.controls().p_set_w == pytest.approx(-15_000.0, abs=5.0), "the device holds the same power"


async def test_no_124_setpoint_reads_none_until_one_is_written_and_again_after_release() -> None:
    driver, _image = await connected_124_inverter(5000.0)
    assert (await driver.read(ALL_POLLS))["p_set_w"] is None
    await driver.write({"p_set_w": 1000.0})
    assert (await driver.read(ALL_POLLS))["p_set_w"] == pytest.approx(1000.0, abs=0.5)
    await driver.release_control()
    assert (await driver.read(ALL_POLLS))["p_set_w"] is None


async def test_a_124_rate_band_or_a_single_cap_is_not_read_as_a_setpoint() -> None:
    driver, image = await connected_124_inverter(5000.0)
    image.set(124, {"StorCtl_Mod": 0b11, "InWRte": 40.0, "OutWRte": 10.0})  # band: -500 W .. +2000 W
    assert (await driver.read(ALL_POLLS))["p_set_w"] is None
    image.set(124, {"StorCtl_Mod": 0b01, "InWRte": 40.0, "OutWRte": -40.0})  # only the charge cap is active
    assert (await driver.read(ALL_POLLS))["p_set_w"] is None


def test_setpoint_from_storage_rates_needs_both_caps_and_a_reference() -> None:
    assert setpoint_from_storage_rates(0b11, 25.0, -25.0, 8000.0) == pytest.approx(2000.0)
    assert setpoint_from_storage_rates(0b11, -25.0, 25.0, 8000.0) == pytest.approx(-2000.0)
    assert setpoint_from_storage_rates(0b10, -25.0, 25.0, 8000.0) is None
    assert setpoint_from_storage_rates(None, -25.0, 25.0, 8000.0) is None
    assert setpoint_from_storage_rates(0b11, None, 25.0, 8000.0) is None
    assert setpoint_from_storage_rates(0b11, -25.0, 25.0, None) is None
    assert setpoint_from_storage_rates(0b11, -25.0, 25.01, 8000.0) is None
    assert setpoint_from_storage_rates(0b11, -25.0, 25.01, 8000.0, tolerance_pct=0.01) == pytest.approx(-2000.4)
