"""RTU over a pty pair: several unit ids on one line, reached through the path the site file names."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusSerialClient
from sim_helpers import site_file, wait_until

from drivers.codec import DataType, decode, encode
from simulators.site import SimulatedSite, SiteBuildError
from zoe_ems.config import load_site_config


def rtu(path: Path, unit: int) -> dict[str, object]:
    return {"type": "modbus_rtu", "device": str(path), "baudrate": 115200, "unit": unit, "timeout_ms": 500}


def rtu_site(tmp_path: Path, line: Path) -> SimulatedSite:
    devices: list[dict[str, object]] = [
        {"id": "grid_meter", "kind": "meter", "role": "grid", "driver": "zoe_meter", "transport": rtu(line, 1)},
        {"id": "pcs1", "kind": "pcs", "driver": "zoe_pcs", "transport": rtu(line, 2), "rated_power_kw": 30},
    ]
    return SimulatedSite.from_config(load_site_config(site_file(tmp_path, devices)), realistic=False)


async def test_two_units_on_one_rtu_line_answer_through_the_configured_path(tmp_path: Path) -> None:
    line = tmp_path / "ttySIM0"
    site = rtu_site(tmp_path, line)
    async with site:
        assert line.is_symlink(), "the EMS end of the pty is linked at the configured path"
        assert [listing.unit for listing in site.listings()] == [1, 2]
        client = AsyncModbusSerialClient(str(line), baudrate=115200, timeout=0.5, retries=0)
        assert await client.connect()
        try:
            site.load.set_base(10e3)
            await wait_until(lambda: abs(site.grid_balance_w() - 10e3) < 1.0, what="load to settle")
            meter = await client.read_holding_registers(2, count=2, device_id=1)
            assert not meter.isError(), meter
            assert decode(meter.registers, DataType.I32) == pytest.approx(10_000, abs=2)
            written = await client.write_registers(100, encode(10_000, DataType.I32), device_id=2)  # discharge 10 kW
            assert not written.isError(), written
            await wait_until(lambda: abs(site.grid_balance_w()) < 5.0, what="battery to cover the load")
            meter = await client.read_holding_registers(2, count=2, device_id=1)
            assert decode(meter.registers, DataType.I32) == pytest.approx(0, abs=5)
        finally:
            client.close()
    assert not line.exists(), "the symlink is removed when the site stops"


async def test_an_existing_file_at_the_rtu_path_is_never_replaced(tmp_path: Path) -> None:
    line = tmp_path / "ttyUSB0"
    line.write_text("not a pty", encoding="utf-8")
    site = rtu_site(tmp_path, line)
    with pytest.raises(SiteBuildError, match="ttyUSB0"):
        await site.start()
    assert line.read_text(encoding="utf-8") == "not a pty"
