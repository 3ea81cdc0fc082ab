"""The bundled ``zoe_meter`` profile, as the simulated meter serves it and the driver reads it over Modbus TCP,
resolves grid frequency to 1 mHz, so the 10 mHz FCR and 15 mHz DC deadband edges read exactly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hilf_helpers import write_site
from pymodbus.client import AsyncModbusTcpClient

from drivers.codec import DataType, decode
from drivers.driver import DeviceDriver
from drivers.factory import build_driver
from drivers.profile import PollClass, load_profile
from drivers.transport import BusManager
from simulators.site import SimulatedSite
from zoe_ems.config import load_site_config
from zoe_ems.runtime.daemon import bus_params, driver_options

EDGES_HZ = [50.0, 50.01, 50.011, 49.99, 49.989, 50.015, 50.016, 49.985, 49.7, 50.3, 47.5, 52.5]


def test_bundled_zoe_meter_profile_stores_frequency_in_mhz_in_a_32_bit_register() -> None:
    point = load_profile("zoe_meter").points["f_hz"]
    assert (point.address, point.type, point.scale, point.poll) == (0, DataType.U32, 0.001, PollClass.FAST)


@pytest.fixture
async def meter(tmp_path: Path) -> AsyncIterator[tuple[SimulatedSite, DeviceDriver, AsyncModbusTcpClient]]:
    config = load_site_config(write_site(tmp_path, socket_path=tmp_path / "zoe.sock", control={}))
    site = SimulatedSite.from_config(config, realistic=False)
    device = config.device("grid_meter")
    async with site, BusManager() as buses:
        bus, link = bus_params(device)
        driver = build_driver(device.driver, buses.channel(bus, link, name="grid_meter"), driver_options(device))
        await driver.connect()
        client = AsyncModbusTcpClient("127.0.0.1", port=site.server.tcp_port("grid_meter"), timeout=0.5, retries=0)
        assert await client.connect()
        try:
            yield site, driver, client
        finally:
            client.close()


async def test_simulated_meter_serves_and_the_driver_reads_frequency_to_the_mhz(
    meter: tuple[SimulatedSite, DeviceDriver, AsyncModbusTcpClient],
) -> None:
    site, driver, client = meter
    for f_hz in EDGES_HZ:
        site.frequency.set(f_hz)
        site.advance(0.02)  # one physics step refreshes the registers from the model
        response = await client.read_holding_registers(0, count=2, device_id=1)
        assert not response.isError(), response
        assert decode(response.registers, DataType.U32) == round(f_hz * 1000)
        values = await driver.read(frozenset({PollClass.FAST}))
        assert values["f_hz"] == pytest.approx(f_hz, abs=1e-9), f_hz
