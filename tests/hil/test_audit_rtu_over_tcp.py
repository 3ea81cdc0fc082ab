"""Audit of issue 2 §5 (transports): Modbus RTU frames tunnelled over TCP (`modbus_rtu_over_tcp`, serial
device servers). The simulator answers raw RTU frames (unit, function, CRC16) on its TCP socket, and the
daemon polls two unit ids behind that one host:port through one RTU-framed bus task, reading the values of
the simulated models; a setpoint written through it reaches the simulated PCS.

Never sleeps for synchronization (``wait_until`` polls with a deadline).
"""

from __future__ import annotations

import asyncio

from hil_helpers import FixedEngine, StartHil, accepted_writes, compared_points, free_ports, mismatches, wait_until

from simulators.site import SimulatedSite

DEVICE_IDS = ("grid_meter", "pcs", "bms")


def crc16(frame: bytes) -> bytes:
    """Modbus RTU CRC16 (poly 0xA001, init 0xFFFF), low byte first."""
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return bytes((crc & 0xFF, crc >> 8))


def rtu_over_tcp(port: int, unit: int) -> dict[str, object]:
    return {"type": "modbus_rtu_over_tcp", "host": "127.0.0.1", "port": port, "unit": unit, "timeout_ms": 300}


def some_load(site: SimulatedSite) -> None:
    site.load.set_base(4_321.0)


async def raw_rtu_read(port: int, unit: int, address: int, count: int) -> bytes:
    """Send one RTU 'read holding registers' frame over a plain TCP socket and return the RTU reply."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout=5.0)
    try:
        pdu = bytes((unit, 3, address >> 8, address & 0xFF, count >> 8, count & 0xFF))
        writer.write(pdu + crc16(pdu))
        await writer.drain()
        expected = 3 + 2 * count + 2
        return await asyncio.wait_for(reader.readexactly(expected), timeout=5.0)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_two_unit_ids_behind_one_rtu_over_tcp_gateway_are_polled_and_written(start_hil: StartHil) -> None:
    (port,) = free_ports(1)
    devices: list[dict[str, object]] = [
        {
            "id": "grid_meter",
            "kind": "meter",
            "role": "grid",
            "driver": "zoe_meter",
            "transport": rtu_over_tcp(port, 1),
            "poll_ms": 300,
        },
        {
            "id": "pcs",
            "kind": "pcs",
            "driver": "zoe_pcs",
            "bms": "bms",
            "rated_power_kw": 30,
            "transport": rtu_over_tcp(port, 2),
            "poll_ms": 300,
        },
        {
            "id": "bms",
            "kind": "bms",
            "driver": "zoe_bms",
            "capacity_kwh": 40,
            "transport": rtu_over_tcp(port, 3),
            "poll_ms": 300,
        },
    ]
    engine = FixedEngine()
    hil = await start_hil(devices, engine=engine, before_daemon=some_load)

    # The simulator speaks RTU framing on the socket: unit, function 3, byte count, data, valid CRC.
    reply = await raw_rtu_read(port, 1, 0, 4)
    assert reply[0] == 1 and reply[1] == 3 and reply[2] == 8, reply.hex()
    assert reply[-2:] == crc16(reply[:-2]), f"RTU reply CRC: {reply.hex()}"

    await wait_until(lambda: hil.all_fresh(DEVICE_IDS), 15.0, "every unit id online with FRESH points")
    try:
        await wait_until(lambda: not any(mismatches(hil, d) for d in DEVICE_IDS), 5.0, "values equal to the models")
    except AssertionError:
        problems = [p for d in DEVICE_IDS for p in mismatches(hil, d)]
        raise AssertionError("daemon and simulator disagree:\n" + "\n".join(problems)) from None
    assert all(len(compared_points(hil, d)) >= 2 for d in DEVICE_IDS)
    grid_w = hil.value("grid_meter", "p_w")
    assert grid_w is not None and abs(grid_w - 4_321.0) <= 1.0, "idle battery: the grid carries the load"

    buses = hil.daemon.buses.bus_stats()
    assert len(buses) == 1, f"one bus task for the whole gateway: {list(buses)}"
    (key,) = buses
    assert "rtu" in key, f"the bus uses RTU framing: {key}"
    assert buses[key].timeouts == 0

    engine.setpoints = {"pcs": {"p_set_w": 7_000.0}}
    await wait_until(lambda: 7_000.0 in accepted_writes(hil, "pcs", "p_set_w"), 10.0, "setpoint written over RTU/TCP")
    await wait_until(
        lambda: abs((hil.value("pcs", "p_w") or 0.0) - 7_000.0) <= 100.0, 15.0, "PCS charging at 7 kW read back"
    )
