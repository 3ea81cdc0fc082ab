"""Modbus RTU over a serial line: a pymodbus RTU server and the transport on the two ends of a PtyLink."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator

import pytest
import serial
from structlog.testing import capture_logs
from transport_helpers import (
    ReplyFaults,
    holding_value,
    input_value,
    sim_device,
    start_serial_server,
    stop_server,
    wait_until,
)

from drivers.errors import DeviceBackingOff, DeviceTimeout
from drivers.profile import Function
from drivers.transport import BusManager, BusOptions, DeviceLinkParams, SerialBusParams
from simulators.ptylink import PtyLink

OPTIONS = BusOptions(reconnect_initial_s=0.02, reconnect_max_s=0.2, rtu_late_reply_guard_s=0.05)


@pytest.fixture
async def link() -> AsyncIterator[PtyLink]:
    async with PtyLink() as pty_link:
        yield pty_link


@pytest.fixture
async def manager() -> AsyncIterator[BusManager]:
    bus_manager = BusManager(OPTIONS)
    yield bus_manager
    await bus_manager.stop()


async def test_ptylink_carries_bytes_both_ways_and_survives_a_reopen(link: PtyLink) -> None:
    await _exchange_over(link)
    await _exchange_over(link)  # closing both sides in between must not break the link
    assert link.bytes_a_to_b == 12 and link.bytes_b_to_a == 8


async def _exchange_over(link: PtyLink) -> None:
    side_a = serial.Serial(link.a_path, 115200, timeout=0)
    side_b = serial.Serial(link.b_path, 115200, timeout=0)
    try:
        received_a = bytearray()
        received_b = bytearray()
        side_a.write(b"\x01\x03\x00\x00\x00\x01")
        side_b.write(b"pong")

        def both_arrived() -> bool:
            received_a.extend(side_a.read(64))
            received_b.extend(side_b.read(64))
            return len(received_a) >= 4 and len(received_b) >= 6

        await wait_until(both_arrived, 5.0, "bytes across the link")
        assert bytes(received_b) == b"\x01\x03\x00\x00\x00\x01"
        assert bytes(received_a) == b"pong"
    finally:
        side_a.close()
        side_b.close()


async def test_rtu_line_serves_several_units(link: PtyLink, manager: BusManager) -> None:
    server = await start_serial_server([sim_device(1), sim_device(2), sim_device(7)], link.a_path)
    try:
        line = SerialBusParams(link.b_path, 115200, "N", 1, 8)
        units = {u: manager.channel(line, DeviceLinkParams(u, timeout_s=1.0), f"dev{u}") for u in (1, 2, 7)}
        await manager.start()
        assert await units[1].wait_connected(5.0)

        for unit, channel in units.items():
            assert await channel.read(Function.HOLDING, 2, 3) == [holding_value(unit, a) for a in range(2, 5)]
            assert await channel.read(Function.INPUT, 0, 1) == [input_value(unit, 0)]
            assert await channel.read(Function.DISCRETE, 3, 4) == [1, 0, 0, 1]
        await units[2].write_registers(0, [11, 12])
        await units[7].write_registers(0, [70])
        await units[2].write_coils(0, [True, True])
        await units[7].write_coils(2, [True])
        assert await units[2].read(Function.HOLDING, 0, 2) == [11, 12]
        assert await units[7].read(Function.HOLDING, 0, 2) == [70, holding_value(7, 1)]
        assert await units[1].read(Function.HOLDING, 0, 1) == [holding_value(1, 0)]
        assert await units[2].read(Function.COIL, 0, 3) == [1, 1, 0]
        assert await units[7].read(Function.COIL, 0, 3) == [0, 0, 1]
        assert len(manager.bus_stats()) == 1, "one line, one bus task"
    finally:
        await stop_server(server)


async def test_dead_unit_on_rtu_line_leaves_the_other_unit_at_its_poll_rate(link: PtyLink, manager: BusManager) -> None:
    faults = ReplyFaults(rtu=True, muted={3})
    server = await start_serial_server([sim_device(1), sim_device(3)], link.a_path, faults=faults)
    try:
        line = SerialBusParams(link.b_path, 115200)
        dead_params = DeviceLinkParams(3, timeout_s=0.15, retries=1, backoff_initial_s=0.3, backoff_max_s=0.6)
        healthy = manager.channel(line, DeviceLinkParams(1, timeout_s=1.0), "healthy")
        dead = manager.channel(line, dead_params, "dead")
        await manager.start()
        assert await healthy.wait_connected(5.0)

        poll_period_s = 0.05
        healthy_done: list[float] = []
        dead_errors: list[type[Exception]] = []

        async def poll_dead() -> None:
            while True:
                try:
                    await dead.read(Function.HOLDING, 0, 4)
                except (DeviceTimeout, DeviceBackingOff) as exc:
                    dead_errors.append(type(exc))
                await asyncio.sleep(poll_period_s)

        with capture_logs() as logs:
            dead_task = asyncio.create_task(poll_dead())
            try:
                for _ in range(40):
                    assert await healthy.read(Function.INPUT, 0, 2) == [input_value(1, 0), input_value(1, 1)]
                    healthy_done.append(time.monotonic())
                    await asyncio.sleep(poll_period_s)
            finally:
                dead_task.cancel()

        gaps = [b - a for a, b in itertools.pairwise(healthy_done)]
        budget_s = (dead_params.timeout_s + OPTIONS.rtu_late_reply_guard_s) * (dead_params.retries + 1)
        assert len(healthy_done) == 40 and healthy.stats.failures == 0
        assert max(gaps) < poll_period_s + budget_s + 0.5, gaps
        assert DeviceTimeout in dead_errors and DeviceBackingOff in dead_errors
        assert dead.stats.requests < len(dead_errors), "back-off must keep most polls off the line"
        assert faults.dropped >= 2
        assert [e["device"] for e in logs if e["event"] == "modbus device failing"] == ["dead"]
    finally:
        await stop_server(server)


@pytest.mark.parametrize("late_by_s", [0.03, 0.2], ids=["within-guard", "after-guard"])
async def test_late_replies_are_never_taken_for_another_answer(
    link: PtyLink, manager: BusManager, late_by_s: float
) -> None:
    timeout_s = 0.1
    faults = ReplyFaults(rtu=True, delayed={2: timeout_s + late_by_s})
    server = await start_serial_server([sim_device(1), sim_device(2)], link.a_path, faults=faults)
    try:
        line = SerialBusParams(link.b_path, 115200)
        fast = manager.channel(line, DeviceLinkParams(1, timeout_s=0.5, retries=2), "fast")
        slow_params = DeviceLinkParams(2, timeout_s=timeout_s, retries=1, backoff_initial_s=0.05, backoff_max_s=0.05)
        slow = manager.channel(line, slow_params, "slow")
        await manager.start()
        assert await fast.wait_connected(5.0)

        async def poll_fast() -> None:
            for address in range(30):
                register = address % 10
                assert await fast.read(Function.HOLDING, register, 2) == [
                    holding_value(1, register),
                    holding_value(1, register + 1),
                ]

        slow_results: list[list[int]] = []

        async def poll_slow() -> None:
            while True:
                with contextlib.suppress(DeviceTimeout, DeviceBackingOff):
                    slow_results.append(await slow.read(Function.INPUT, 4, 3))
                await asyncio.sleep(0.01)

        slow_task = asyncio.create_task(poll_slow())
        try:
            await poll_fast()
        finally:
            slow_task.cancel()
        assert all(r == [input_value(2, a) for a in range(4, 7)] for r in slow_results), slow_results
        assert faults.delayed_sent >= 1, "the slow unit never sent a late reply"
        assert slow.stats.timeouts >= 1
    finally:
        await stop_server(server)
