"""Hardware-in-the-loop over real TCP sockets: a pymodbus client reads and writes the simulated site."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from sim_helpers import basic_site, free_port, wait_until

from drivers.codec import DataType, decode, encode
from simulators.site import SimulatedSite

METER_P_W = 2  # zoe_meter: p_w i32 at holding 2 (passive, + = import)
PCS_P_SET_W = 100  # zoe_pcs: p_set_w i32 at holding 100 (ACTIVE sign: + = discharge)
PCS_P_W = 0


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[SimulatedSite]:
    simulated = SimulatedSite.from_config(basic_site(tmp_path, free_port()), realistic=False)
    async with simulated:
        yield simulated


@pytest.fixture
async def client(site: SimulatedSite) -> AsyncIterator[AsyncModbusTcpClient]:
    modbus = AsyncModbusTcpClient("127.0.0.1", port=site.server.tcp_port("grid_meter"), timeout=0.5, retries=0)
    assert await modbus.connect()
    yield modbus
    modbus.close()


async def read_i32(client: AsyncModbusTcpClient, address: int, unit: int) -> int:
    response = await client.read_holding_registers(address, count=2, device_id=unit)
    assert not response.isError(), response
    value = decode(response.registers, DataType.I32)
    assert isinstance(value, int)
    return value


async def test_grid_meter_import_rises_after_a_charge_setpoint_is_written_to_the_pcs(
    site: SimulatedSite, client: AsyncModbusTcpClient
) -> None:
    site.load.set_base(40e3)
    await wait_until(lambda: abs(site.grid_balance_w() - 40e3) < 1.0, what="load to settle")
    before = await read_i32(client, METER_P_W, unit=1)
    assert before == pytest.approx(40e3, abs=2.0)

    sent_at = time.monotonic()
    response = await client.write_registers(PCS_P_SET_W, encode(-25_000, DataType.I32), device_id=2)  # charge 25 kW
    assert not response.isError(), response

    async def meter_shows_charging() -> bool:
        return await read_i32(client, METER_P_W, unit=1) > before + 24_000

    deadline = time.monotonic() + 5.0
    while not await meter_shows_charging():
        assert time.monotonic() < deadline, "grid meter never showed the battery charging"
    assert await read_i32(client, PCS_P_W, unit=2) == pytest.approx(-25_000, abs=2), "PCS reports active sign"
    log = site.write_log("pcs1")
    assert len(log) == 1
    assert log[0].setpoints == {"p_set_w": 25_000.0}
    assert log[0].accepted
    assert sent_at <= log[0].t_mono <= time.monotonic()


async def test_sg_ready_relays_are_coils_that_switch_the_heat_pump(
    site: SimulatedSite, client: AsyncModbusTcpClient
) -> None:
    response = await client.write_coils(0, [True, True], device_id=6)  # state 4: definite start
    assert not response.isError(), response
    coils = await client.read_coils(0, count=2, device_id=6)
    assert coils.bits[:2] == [True, True]
    await wait_until(lambda: (site.model("hp1").points()["p_w"] or 0.0) > 0.0, what="heat pump to start")


async def test_writing_a_read_only_register_is_refused_with_illegal_address(
    site: SimulatedSite, client: AsyncModbusTcpClient
) -> None:
    response = await client.write_registers(METER_P_W, [0, 1], device_id=1)
    assert response.isError()
    assert response.exception_code == 2
    assert not site.write_log("grid_meter")[0].accepted


async def test_an_unknown_unit_id_gets_no_answer(client: AsyncModbusTcpClient) -> None:
    with pytest.raises(ModbusIOException):
        await client.read_holding_registers(0, count=1, device_id=99)
