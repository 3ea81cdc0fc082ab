"""Audit of issue 2 §4 over a real Modbus TCP socket and the product's own bus task (BusManager): SunSpec
discovery at each standard base (40000, 0, 50000) and power control through whichever model the device
has — 704 WSet, 124 storage rates, 123 WMaxLimPct — reaching the served registers, with read-back.
The in-memory driver tests cover the register details; this proves the same over the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.driver import DriverOptions
from drivers.factory import build_driver
from drivers.points import DeviceKind
from drivers.profile import PollClass
from drivers.sunspec.driver import SunSpecDriver
from drivers.sunspec.image import SunSpecImage, pv_inverter_image, storage_inverter_image
from drivers.transport import BusManager, DeviceChannel, DeviceLinkParams, TcpBusParams


@asynccontextmanager
async def served(image: SunSpecImage) -> AsyncIterator[int]:
    """Serve ``image`` as unit 1 on a free loopback port; writes go into the image (a live device)."""
    first, last = min(image.registers), max(image.registers)

    async def on_access(
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if set_values is not None:
            image.apply_write(address, [int(v) for v in set_values])
        else:  # reads see what was written (the image owns the register contents)
            for offset in range(count):
                registers[offset] = image.registers.get(address + offset, registers[offset])
        return None

    device = SimDevice(
        id=1,
        simdata=[
            SimData(
                address=first, values=[image.registers[a] for a in range(first, last + 1)], datatype=DataType.REGISTERS
            )
        ],
        action=on_access,
    )
    server = ModbusTcpServer(device, address=("127.0.0.1", 0))
    await server.serve_forever(background=True)
    listener: asyncio.Server = server.transport  # type: ignore[assignment]
    try:
        yield int(listener.sockets[0].getsockname()[1])
    finally:
        await server.shutdown()  # type: ignore[no-untyped-call]


Case = tuple[DeviceKind, Callable[[int], SunSpecImage], int, str, dict[str, float], str, float]
CASES: list[Case] = [
    (
        DeviceKind.PCS,
        lambda base: storage_inverter_image(rated_w=6000.0, capacity_wh=12_000.0, control_models=(704,), base=base),
        40000,
        "p_set_w",
        {"p_set_w": -3000.0},
        "704.WSet",
        -3000.0,
    ),
    (
        DeviceKind.PCS,
        lambda base: storage_inverter_image(rated_w=5000.0, capacity_wh=10_000.0, control_models=(124,), base=base),
        0,
        "p_set_w",
        {"p_set_w": 2500.0},
        "124.InOutWRte",
        2500.0,
    ),
    (
        DeviceKind.PV_INVERTER,
        lambda base: pv_inverter_image(rated_w=8000.0, p_w=-5000.0, control_models=(123,), base=base),
        50000,
        "p_limit_pct",
        {"p_limit_pct": 0.4},
        "123.WMaxLimPct",
        0.4,
    ),
]


@pytest.mark.parametrize(
    ("kind", "make_image", "base", "point", "setpoint", "path", "expected"),
    CASES,
    ids=["pcs-704-at-40000", "pcs-124-at-0", "pv-123-at-50000"],
)
async def test_discovery_at_the_base_and_control_through_the_model_the_device_has(
    kind: DeviceKind,
    make_image: Callable[[int], SunSpecImage],
    base: int,
    point: str,
    setpoint: dict[str, float],
    path: str,
    expected: float,
) -> None:
    image = make_image(base)
    buses = BusManager()
    async with served(image) as port:
        channel = buses.channel(
            TcpBusParams(host="127.0.0.1", port=port), DeviceLinkParams(unit=1, timeout_s=1.0, retries=0), name="dev"
        )
        async with buses:
            assert await channel.wait_connected(10.0), "the bus task connects"
            await _discover_write_read_back(channel, kind, base, point, setpoint, path, expected, image)


async def _discover_write_read_back(
    channel: DeviceChannel,
    kind: DeviceKind,
    base: int,
    point: str,
    setpoint: dict[str, float],
    path: str,
    expected: float,
    image: SunSpecImage,
) -> None:
    driver = build_driver("sunspec", channel, DriverOptions(device_id="dev", kind=kind))
    assert isinstance(driver, SunSpecDriver)
    await asyncio.wait_for(driver.connect(), timeout=10.0)
    assert driver.blocks[0].model_id == 1 and driver.blocks[0].address == base + 2, "found at its base"
    assert driver.control_paths.get(point) == path

    await asyncio.wait_for(driver.write(setpoint), timeout=10.0)

    controls = image.controls()
    assert controls.source is not None and controls.source.startswith(path.split(".")[0])
    if point == "p_set_w":
        assert controls.p_set_w == pytest.approx(expected)
    else:
        assert controls.p_limit_fraction == pytest.approx(expected)
    points = await asyncio.wait_for(driver.read(frozenset(PollClass)), timeout=10.0)
    # Model 124 holds a rate window; a closed window (InWRte = -OutWRte) reads back as the watt setpoint, within
    # one register step of the percentage rates.
    tolerance = 0.01 * 5000.0 if path.startswith("124") else 1e-3
    assert points[point] == pytest.approx(expected, abs=tolerance), "the device reads back what was commanded"
