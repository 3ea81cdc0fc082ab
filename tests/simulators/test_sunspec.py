"""SunSpec devices: the daemon's SunSpec driver discovers, reads and commands the simulated devices."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient
from sim_helpers import free_port, site_file, tcp, wait_until

from drivers.driver import DriverOptions
from drivers.errors import DeviceExceptionResponse
from drivers.points import DeviceKind
from drivers.profile import Function, PollClass
from drivers.sunspec.driver import SunSpecDriver
from simulators.site import SimulatedSite
from zoe_ems.config import load_site_config

ALL_POLLS = frozenset(PollClass)


class ClientIO:
    """The smallest RegisterIO over one pymodbus client (the daemon uses drivers.transport)."""

    def __init__(self, client: AsyncModbusTcpClient, unit: int) -> None:
        self._client = client
        self._unit = unit

    @property
    def name(self) -> str:
        return f"test/unit {self._unit}"

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        assert function is Function.HOLDING
        response = await self._client.read_holding_registers(address, count=count, device_id=self._unit)
        if response.isError():
            raise DeviceExceptionResponse(self.name, response.exception_code)
        return list(response.registers)

    async def write_registers(self, address: int, values: list[int]) -> None:
        response = await self._client.write_registers(address, values, device_id=self._unit)
        if response.isError():
            raise DeviceExceptionResponse(self.name, response.exception_code)

    async def write_coils(self, address: int, values: list[bool]) -> None:
        raise AssertionError("SunSpec devices have no coils")


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[SimulatedSite]:
    port = free_port()
    devices: list[dict[str, object]] = [
        {"id": "meter", "kind": "meter", "role": "grid", "driver": "sunspec", "transport": tcp(port, 1)},
        {
            "id": "inverter",
            "kind": "pcs",
            "driver": "sunspec",
            "transport": tcp(port, 2),
            "rated_power_kw": 40,
            "capacity_kwh": 80,
        },
        {"id": "pv", "kind": "pv_inverter", "driver": "sunspec", "transport": tcp(port, 3), "rated_power_kw": 20},
    ]
    simulated = SimulatedSite.from_config(load_site_config(site_file(tmp_path, devices)), realistic=False)
    async with simulated:
        yield simulated


@pytest.fixture
async def client(site: SimulatedSite) -> AsyncIterator[AsyncModbusTcpClient]:
    modbus = AsyncModbusTcpClient("127.0.0.1", port=site.server.tcp_port("meter"), timeout=1.0, retries=0)
    assert await modbus.connect()
    yield modbus
    modbus.close()


def driver(client: AsyncModbusTcpClient, unit: int, device_id: str, kind: DeviceKind) -> SunSpecDriver:
    return SunSpecDriver(ClientIO(client, unit), DriverOptions(device_id=device_id, kind=kind))


async def test_sunspec_storage_inverter_follows_a_setpoint_and_the_sunspec_meter_sees_it(
    site: SimulatedSite, client: AsyncModbusTcpClient
) -> None:
    site.load.set_base(30e3)
    meter = driver(client, 1, "meter", DeviceKind.METER)
    inverter = driver(client, 2, "inverter", DeviceKind.PCS)
    await meter.connect()
    await inverter.connect()
    await wait_until(lambda: abs(site.grid_balance_w() - 30e3) < 1.0, what="load to settle")
    reading = await meter.read(ALL_POLLS)
    assert reading["p_w"] == pytest.approx(30e3, rel=0.01)
    state = await inverter.read(ALL_POLLS)
    assert state["soc"] == pytest.approx(0.5, abs=0.01)

    await inverter.write({"p_set_w": -20e3})  # discharge 20 kW
    await wait_until(lambda: abs(site.grid_balance_w() - 10e3) < 10.0, what="battery to discharge")
    reading = await meter.read(ALL_POLLS)
    assert reading["p_w"] == pytest.approx(10e3, rel=0.02)
    state = await inverter.read(ALL_POLLS)
    assert state["p_w"] == pytest.approx(-20e3, rel=0.01)
    assert site.write_log("inverter")[-1].setpoints == {"p_set_w": pytest.approx(-20e3)}


async def test_sunspec_pv_inverter_is_curtailed_by_a_power_limit(
    site: SimulatedSite, client: AsyncModbusTcpClient
) -> None:
    site.pv.set_irradiance(1000.0)
    pv = driver(client, 3, "pv", DeviceKind.PV_INVERTER)
    await pv.connect()
    await wait_until(lambda: site.pv.p_w() < -20e3 + 1.0, what="PV at full power")
    assert (await pv.read(ALL_POLLS))["p_w"] == pytest.approx(-20e3, rel=0.01)
    writable = pv.writable_points
    limit = {"p_limit_pct": 0.25} if "p_limit_pct" in writable else {"p_limit_w": 5e3}
    await pv.write(limit)
    await wait_until(lambda: abs(site.pv.p_w() + 5e3) < 50.0, what="PV curtailed to 5 kW")
