"""Audit of issue 2 §6: `zoe-ems simulate --speed N` (a real process) runs simulated time N times faster than
real time. Observed from outside over Modbus TCP: the grid meter's import energy counter grows N times
faster than its own power reading integrated over the real time between two reads.

Never sleeps for synchronization: reads poll the meter until a real-time deadline.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pymodbus.client import AsyncModbusTcpClient
from sim_helpers import free_port, site_file, tcp

from drivers.codec import DataType
from drivers.profile import load_profile

SPEED = 60.0


def decode_i32(words: Sequence[int]) -> int:
    value = (words[0] << 16) | words[1]
    return value - (1 << 32) if value & 0x8000_0000 else value


def decode_u64(words: Sequence[int]) -> int:
    return (words[0] << 48) | (words[1] << 32) | (words[2] << 16) | words[3]


METER = load_profile("zoe_meter")
P_W, E_IMPORT = METER.points["p_w"], METER.points["e_import_wh"]
assert (P_W.type, E_IMPORT.type) == (DataType.I32, DataType.U64), "this test decodes i32 power and u64 energy"


async def read_meter(client: AsyncModbusTcpClient) -> tuple[float, float, int]:
    """(monotonic time, grid power W, import energy Wh) as served for the bundled zoe_meter profile."""
    power = await client.read_holding_registers(P_W.address, count=2, device_id=1)
    energy = await client.read_holding_registers(E_IMPORT.address, count=4, device_id=1)
    assert not power.isError() and not energy.isError()
    return time.monotonic(), float(decode_i32(power.registers)), decode_u64(energy.registers)


async def measured_speed(port: int, real_window_s: float) -> float:
    """Ratio of the counted import energy to the energy of the measured power over the real elapsed time."""
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2.0, retries=0)
    assert await client.connect()
    try:
        t0, p0, e0 = await read_meter(client)
        powers = [p0]
        t1, e1 = t0, e0
        while t1 - t0 < real_window_s:
            t1, p1, e1 = await read_meter(client)
            powers.append(p1)
        mean_w = sum(powers) / len(powers)
        assert mean_w > 1_000.0, f"the simulated load imports: {mean_w} W"
        real_wh = mean_w * (t1 - t0) / 3600.0
        return (e1 - e0) / real_wh
    finally:
        client.close()


async def test_simulate_at_speed_60_advances_simulated_energy_sixty_times_faster(tmp_path: Path) -> None:
    port = free_port()
    path = site_file(
        tmp_path,
        [{"id": "grid_meter", "kind": "meter", "role": "grid", "driver": "zoe_meter", "transport": tcp(port, 1)}],
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zoe_ems", "simulate", "--config", str(path), "--speed", str(SPEED),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        banner = (await asyncio.wait_for(process.stdout.readline(), timeout=30.0)).decode()
        assert f"{SPEED:g}x real time" in banner, banner
        await asyncio.wait_for(process.stdout.readline(), timeout=10.0)  # the listing: the meter listens
        ratio = await measured_speed(port, real_window_s=2.0)
        # Counter resolution is 1 Wh and the load is noisy: a wide band that still tells 60x from 1x apart.
        assert 0.5 * SPEED <= ratio <= 1.5 * SPEED, f"simulated time ran {ratio:.1f}x real time, asked {SPEED:g}x"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=20.0) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
