"""SunSpecDriver over a real Modbus TCP socket: pymodbus server serving a simulated storage inverter."""

from __future__ import annotations

import asyncio

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.driver import DriverOptions
from drivers.errors import DeviceExceptionResponse
from drivers.points import DeviceKind
from drivers.profile import Function, PollClass
from drivers.sunspec.driver import SunSpecDriver
from drivers.sunspec.image import storage_inverter_image
from drivers.sunspec.values import SunSpecValue


class PymodbusIO:
    """Minimal RegisterIO over an AsyncModbusTcpClient (holding registers only)."""

    def __init__(self, client: AsyncModbusTcpClient, device_id: int = 1) -> None:
        self._client = client
        self._device_id = device_id

    @property
    def name(self) -> str:
        return f"tcp/unit {self._device_id}"

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        assert function is Function.HOLDING
        reply = await self._client.read_holding_registers(address, count=count, device_id=self._device_id)
        if reply.isError():
            raise DeviceExceptionResponse(self.name, int(getattr(reply, "exception_code", 0)))
        return list(reply.registers)

    async def write_registers(self, address: int, values: list[int]) -> None:
        reply = await self._client.write_registers(address, values, device_id=self._device_id)
        if reply.isError():
            raise DeviceExceptionResponse(self.name, int(getattr(reply, "exception_code", 0)))

    async def write_coils(self, address: int, values: list[bool]) -> None:
        raise DeviceExceptionResponse(self.name, 1, "no coils")


async def test_discovery_and_wset_write_over_modbus_tcp() -> None:
    base = 50000  # the server answers "illegal address" at 40000 and 0 first
    image = storage_inverter_image(rated_w=6000.0, capacity_wh=12_000.0, p_w=-1500.0, soc=0.8, base=base)
    first, last = min(image.registers), max(image.registers)
    writes: list[dict[tuple[int, str], SunSpecValue | None]] = []

    async def on_access(
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if set_values is not None:
            writes.append(image.apply_write(address, [int(v) for v in set_values]))
        return None

    device = SimDevice(
        id=1,
        simdata=[
            SimData(
                address=first,
                values=[image.registers[a] for a in range(first, last + 1)],
                datatype=DataType.REGISTERS,
            )
        ],
        action=on_access,
    )
    server = ModbusTcpServer(device, address=("127.0.0.1", 0))
    await server.serve_forever(background=True)
    listener: asyncio.Server = server.transport  # type: ignore[assignment]
    port = listener.sockets[0].getsockname()[1]
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    try:
        assert await client.connect()
        driver = SunSpecDriver(PymodbusIO(client), DriverOptions(device_id="pcs1", kind=DeviceKind.PCS))
        await driver.connect()
        assert [b.model_id for b in driver.blocks] == [1, 701, 702, 704, 713, 124, 802]
        assert driver.blocks[0].address == base + 2
        points = await driver.read(frozenset(PollClass))
        assert points["p_w"] == pytest.approx(-1500.0)
        assert points["soc"] == pytest.approx(0.8)

        await driver.write({"p_set_w": 2000.0})

        assert any((704, "WSet") in w for w in writes)
        state = image.controls()
        assert (state.source, state.p_set_w, state.revert_timeout_s) == ("704.WSet", 2000.0, 60.0)
        assert (await driver.read(frozenset({PollClass.NORMAL})))["p_set_w"] == pytest.approx(2000.0)
    finally:
        client.close()
        await server.shutdown()  # type: ignore[no-untyped-call]
