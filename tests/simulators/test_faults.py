"""Fault injection as a Modbus client sees it: silence, exception responses, slow answers, frozen values."""

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

METER_UNIT = 1
PCS_UNIT = 2


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[SimulatedSite]:
    simulated = SimulatedSite.from_config(basic_site(tmp_path, free_port()), realistic=False)
    async with simulated:
        yield simulated


@pytest.fixture
async def client(site: SimulatedSite) -> AsyncIterator[AsyncModbusTcpClient]:
    modbus = AsyncModbusTcpClient("127.0.0.1", port=site.server.tcp_port("grid_meter"), timeout=0.3, retries=0)
    assert await modbus.connect()
    yield modbus
    modbus.close()


async def meter_power(client: AsyncModbusTcpClient) -> int:
    response = await client.read_holding_registers(2, count=2, device_id=METER_UNIT)
    assert not response.isError(), response
    value = decode(response.registers, DataType.I32)
    assert isinstance(value, int)
    return value


async def test_no_response_fault_makes_the_client_time_out_until_cleared(
    site: SimulatedSite, client: AsyncModbusTcpClient
) -> None:
    site.set_fault("grid_meter", no_response=True)
    with pytest.raises(ModbusIOException):
        await meter_power(client)
    assert await client.read_holding_registers(0, count=1, device_id=PCS_UNIT), "other units still answer"
    site.clear_faults("grid_meter")
    await meter_power(client)


async def test_exception_fault_answers_with_the_chosen_code_and_refuses_writes(
    site: SimulatedSite, client: AsyncModbusTcpClient
) -> None:
    site.set_fault("pcs1", exception_code=6)
    response = await client.read_holding_registers(0, count=2, device_id=PCS_UNIT)
    assert response.isError() and response.exception_code == 6
    response = await client.write_registers(100, encode(-10_000, DataType.I32), device_id=PCS_UNIT)
    assert response.isError() and response.exception_code == 6
    assert site.model("pcs1").points()["p_set_w"] == 0.0, "a refused write does not reach the PCS"
    assert [record.accepted for record in site.write_log("pcs1")] == [False]
    site.set_fault("pcs1", exception_code=0)
    response = await client.read_holding_registers(0, count=2, device_id=PCS_UNIT)
    assert not response.isError()


async def test_delay_fault_slows_every_answer(site: SimulatedSite, client: AsyncModbusTcpClient) -> None:
    started = time.monotonic()
    await meter_power(client)
    fast = time.monotonic() - started
    site.set_fault("grid_meter", delay_s=0.2)
    started = time.monotonic()
    await meter_power(client)
    slow = time.monotonic() - started
    assert slow >= 0.2 > fast


async def test_frozen_fault_keeps_serving_the_last_values(site: SimulatedSite, client: AsyncModbusTcpClient) -> None:
    site.load.set_base(20e3)
    await wait_until(lambda: abs(site.grid_balance_w() - 20e3) < 1.0, what="load to settle")
    frozen_value = await meter_power(client)
    site.set_fault("grid_meter", frozen=True)
    site.load.step(+50e3)
    await wait_until(lambda: site.grid_balance_w() > 60e3, what="load step")
    assert await meter_power(client) == frozen_value
    site.set_fault("grid_meter", frozen=False)
    assert await meter_power(client) == pytest.approx(70e3, abs=2.0)


async def test_write_log_records_arrival_even_when_the_answer_is_delayed(
    site: SimulatedSite, client: AsyncModbusTcpClient
) -> None:
    site.set_fault("pcs1", delay_s=0.1)
    sent = time.monotonic()
    response = await client.write_registers(100, encode(5_000, DataType.I32), device_id=PCS_UNIT)
    answered = time.monotonic()
    assert not response.isError()
    (record,) = site.write_log("pcs1")
    assert record.setpoints == {"p_set_w": -5_000.0}
    assert sent <= record.t_mono < answered - 0.09
