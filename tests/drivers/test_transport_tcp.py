"""Modbus TCP and RTU-over-TCP transports against real pymodbus servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator

import pytest
from pymodbus.constants import ExcCodes
from structlog.testing import capture_logs
from transport_helpers import (
    ReplyFaults,
    holding_value,
    input_value,
    sim_device,
    start_tcp_server,
    stop_server,
    wait_until,
)

from drivers.errors import BusUnavailable, DeviceBackingOff, DeviceExceptionResponse, DeviceTimeout
from drivers.profile import Function
from drivers.transport import BusManager, BusOptions, DeviceChannel, DeviceLinkParams, TcpBusParams

FAST = BusOptions(reconnect_initial_s=0.02, reconnect_max_s=0.2, connect_timeout_s=2.0)


@pytest.fixture
async def manager() -> AsyncIterator[BusManager]:
    bus_manager = BusManager(FAST)
    yield bus_manager
    await bus_manager.stop()


async def _connected(channel: DeviceChannel) -> DeviceChannel:
    assert await channel.wait_connected(5.0), f"{channel.name} never connected"
    return channel


@pytest.mark.parametrize("rtu_framing", [False, True], ids=["tcp", "rtu-over-tcp"])
async def test_reads_and_writes_every_object_type(manager: BusManager, rtu_framing: bool) -> None:
    server, port = await start_tcp_server([sim_device(1), sim_device(2)], rtu_framing=rtu_framing)
    try:
        bus = TcpBusParams("127.0.0.1", port, rtu_framing=rtu_framing)
        one = manager.channel(bus, DeviceLinkParams(1, timeout_s=1.0), "meter")
        two = manager.channel(bus, DeviceLinkParams(2, timeout_s=1.0), "pcs")
        await manager.start()
        await _connected(one)

        assert await one.read(Function.HOLDING, 3, 4) == [holding_value(1, a) for a in range(3, 7)]
        assert await two.read(Function.HOLDING, 0, 2) == [holding_value(2, 0), holding_value(2, 1)]
        assert await two.read(Function.INPUT, 5, 3) == [input_value(2, a) for a in range(5, 8)]
        assert await one.read(Function.DISCRETE, 0, 7) == [1, 0, 0, 1, 0, 0, 1]
        assert await one.read(Function.COIL, 0, 4) == [0, 0, 0, 0]

        await one.write_registers(10, [0xBEEF])
        await one.write_registers(12, [1, 2, 65535])
        await one.write_coils(1, [True])
        await one.write_coils(4, [True, False, True])

        assert await one.read(Function.HOLDING, 10, 5) == [0xBEEF, holding_value(1, 11), 1, 2, 65535]
        assert await one.read(Function.COIL, 0, 8) == [0, 1, 0, 0, 1, 0, 1, 0]
        assert await two.read(Function.HOLDING, 10, 1) == [holding_value(2, 10)], "unit 2 must be untouched"
        assert one.stats.requests == 9 and one.stats.failures == 0 and one.stats.state == "ok"
        assert one.bus_stats.connects == 1 and manager.bus_stats()[bus.key].frames_sent == 12
    finally:
        await stop_server(server)


async def test_two_units_on_one_connection_share_one_bus(manager: BusManager) -> None:
    bus = TcpBusParams("127.0.0.1", 1502)
    manager.channel(bus, DeviceLinkParams(1), "a")
    manager.channel(bus, DeviceLinkParams(2), "b")
    manager.channel(TcpBusParams("127.0.0.1", 1502, rtu_framing=True), DeviceLinkParams(1), "c")
    assert sorted(manager.bus_stats()) == ["tcp://127.0.0.1:1502", "tcp://127.0.0.1:1502/rtu"]


async def test_exception_responses_map_to_their_code_and_keep_the_device_ok(manager: BusManager) -> None:
    async def busy_at_address_7(
        function_code: int, start: int, address: int, count: int, registers: list[int], values: object
    ) -> ExcCodes | None:
        return ExcCodes.DEVICE_BUSY if address == 7 else None

    server, port = await start_tcp_server([sim_device(1, action=busy_at_address_7)])
    try:
        channel = manager.channel(TcpBusParams("127.0.0.1", port), DeviceLinkParams(1, timeout_s=1.0), "meter")
        await manager.start()
        await _connected(channel)

        with pytest.raises(DeviceExceptionResponse) as illegal:
            await channel.read(Function.HOLDING, 19, 5)  # runs past the end of the block
        assert illegal.value.code == 2 and illegal.value.device == "meter"
        with pytest.raises(DeviceExceptionResponse) as busy:
            await channel.write_registers(7, [1])
        assert busy.value.code == 6

        assert channel.stats.exception_responses == 2
        assert channel.stats.state == "ok" and channel.stats.failures == 0
        assert await channel.read(Function.HOLDING, 0, 1) == [holding_value(1, 0)]
    finally:
        await stop_server(server)


async def test_dead_unit_does_not_hold_up_a_healthy_unit_on_the_same_connection(manager: BusManager) -> None:
    faults = ReplyFaults(rtu=False, muted={2})
    server, port = await start_tcp_server([sim_device(1), sim_device(2)], faults=faults)
    try:
        bus = TcpBusParams("127.0.0.1", port)
        dead_params = DeviceLinkParams(2, timeout_s=0.2, retries=1, backoff_initial_s=0.3, backoff_max_s=0.6)
        healthy = manager.channel(bus, DeviceLinkParams(1, timeout_s=1.0), "healthy")
        dead = manager.channel(bus, dead_params, "dead")
        await manager.start()
        await _connected(healthy)

        poll_period_s = 0.05
        healthy_done: list[float] = []
        dead_errors: list[type[Exception]] = []

        async def poll_healthy() -> None:
            for _ in range(40):
                assert await healthy.read(Function.HOLDING, 0, 2) == [holding_value(1, 0), holding_value(1, 1)]
                healthy_done.append(time.monotonic())
                await asyncio.sleep(poll_period_s)

        async def poll_dead() -> None:
            while True:
                try:
                    await dead.read(Function.HOLDING, 0, 2)
                except (DeviceTimeout, DeviceBackingOff) as exc:
                    dead_errors.append(type(exc))
                await asyncio.sleep(poll_period_s)

        with capture_logs() as logs:
            dead_task = asyncio.create_task(poll_dead())
            try:
                await poll_healthy()
            finally:
                dead_task.cancel()

        gaps = [b - a for a, b in itertools.pairwise(healthy_done)]
        budget_s = dead_params.budget_s
        # While the dead unit was timing out, every healthy poll still completed; no gap exceeded one poll
        # period plus the dead unit's own timeout budget (plus scheduling slack on a loaded machine).
        assert len(healthy_done) == 40
        assert max(gaps) < poll_period_s + budget_s + 0.5, gaps
        assert DeviceTimeout in dead_errors and DeviceBackingOff in dead_errors
        assert dead.stats.failures >= 2 and dead.stats.refused > 0
        assert healthy.stats.failures == 0 and healthy.stats.state == "ok"
        # Back-off keeps the dead unit nearly free: far fewer attempts than polls.
        assert dead.stats.timeouts <= 2 * (dead.stats.failures)
        assert dead.stats.requests < len(dead_errors)
        failing = [e for e in logs if e["event"] == "modbus device failing"]
        assert len(failing) == 1 and failing[0]["device"] == "dead"
    finally:
        await stop_server(server)


async def test_recovered_device_bumps_its_epoch_and_logs_once_each_way(manager: BusManager) -> None:
    faults = ReplyFaults(rtu=False, muted={1})
    server, port = await start_tcp_server([sim_device(1)], faults=faults)
    try:
        params = DeviceLinkParams(1, timeout_s=0.1, retries=0, backoff_initial_s=0.05, backoff_max_s=0.1)
        channel = manager.channel(TcpBusParams("127.0.0.1", port), params, "meter")
        await manager.start()
        await _connected(channel)
        epoch_before = channel.connection_epoch

        async def poll_once() -> None:
            with contextlib.suppress(DeviceTimeout, DeviceBackingOff, BusUnavailable):
                await channel.read(Function.HOLDING, 0, 1)

        with capture_logs() as logs:
            deadline = time.monotonic() + 5.0
            while channel.stats.failures < 2:
                assert time.monotonic() < deadline, "the muted device never failed twice"
                await poll_once()
                await asyncio.sleep(0.01)
            assert channel.stats.state in ("backoff", "failing")
            faults.muted.clear()

            async def recovered() -> bool:
                await poll_once()
                return channel.stats.state == "ok"

            deadline = time.monotonic() + 5.0
            while not await recovered():
                assert time.monotonic() < deadline, "device never recovered"
                await asyncio.sleep(0.01)

        events = [e["event"] for e in logs if e["event"].startswith("modbus device")]
        assert events == ["modbus device failing", "modbus device recovered"]
        assert channel.stats.recoveries == 1
        assert channel.connection_epoch > epoch_before
    finally:
        await stop_server(server)


async def test_reconnect_after_server_restart_increments_connection_epoch(manager: BusManager) -> None:
    server, port = await start_tcp_server([sim_device(1)])
    channel = manager.channel(TcpBusParams("127.0.0.1", port), DeviceLinkParams(1, timeout_s=0.5), "meter")
    await manager.start()
    await _connected(channel)
    assert await channel.read(Function.HOLDING, 0, 1) == [holding_value(1, 0)]
    first_epoch = channel.connection_epoch

    await stop_server(server)
    await wait_until(lambda: not channel.connected, 5.0, "the bus to notice the server is gone")
    with pytest.raises(BusUnavailable):
        await channel.read(Function.HOLDING, 0, 1)
    assert channel.stats.state == "ok", "a dead bus is not the device's fault"

    server, _ = await start_tcp_server([sim_device(1)], port=port)
    try:
        await _connected(channel)
        assert channel.connection_epoch == first_epoch + 1
        assert await channel.read(Function.HOLDING, 0, 1) == [holding_value(1, 0)]
        assert channel.bus_stats.disconnects == 1
    finally:
        await stop_server(server)


async def test_bus_reconnect_delay_grows_to_its_cap_while_the_server_is_down() -> None:
    options = BusOptions(reconnect_initial_s=0.01, reconnect_max_s=0.04, connect_timeout_s=1.0)
    server, port = await start_tcp_server([sim_device(1)])
    await stop_server(server)  # the port is now free and refuses connections
    manager = BusManager(options)
    bus = TcpBusParams("127.0.0.1", port)
    channel = manager.channel(bus, DeviceLinkParams(1), "meter")
    delays: list[float] = []
    await manager.start()
    try:
        deadline = time.monotonic() + 5.0
        while len(set(delays)) < 3 or delays[-1] != options.reconnect_max_s:
            assert time.monotonic() < deadline, f"reconnect delays seen: {delays}"
            delay = manager.bus_stats()[bus.key].reconnect_in_s
            if delay is not None and (not delays or delays[-1] != delay):
                delays.append(delay)
            await asyncio.sleep(0.002)
        assert max(delays) == options.reconnect_max_s
        assert delays == sorted(delays)
        with pytest.raises(BusUnavailable):
            await channel.read(Function.HOLDING, 0, 1)
    finally:
        await manager.stop()


async def test_device_backoff_doubles_up_to_its_cap_and_refuses_without_touching_the_bus(
    manager: BusManager,
) -> None:
    faults = ReplyFaults(rtu=False, muted={1})
    server, port = await start_tcp_server([sim_device(1)], faults=faults)
    try:
        params = DeviceLinkParams(1, timeout_s=0.05, retries=2, backoff_initial_s=0.02, backoff_max_s=0.08)
        channel = manager.channel(TcpBusParams("127.0.0.1", port), params, "meter")
        await manager.start()
        await _connected(channel)
        backoffs: list[float | None] = []
        deadline = time.monotonic() + 10.0
        while len(backoffs) < 6:
            assert time.monotonic() < deadline, backoffs
            frames_before = channel.bus_stats.frames_sent
            try:
                await channel.read(Function.HOLDING, 0, 1)
            except DeviceTimeout:
                backoffs.append(channel.stats.backoff_s)
            except DeviceBackingOff:
                assert channel.bus_stats.frames_sent == frames_before, "a refused request went to the bus"
                await asyncio.sleep(0.005)
            except BusUnavailable:
                await asyncio.sleep(0.005)
        assert backoffs == [0.02, 0.04, 0.08, 0.08, 0.08, 0.08]
        # The first failure used all 3 attempts; each later one was a single probe after its back-off.
        assert channel.stats.timeouts == 3 + 5
    finally:
        await stop_server(server)


async def test_writes_jump_ahead_of_queued_reads(manager: BusManager) -> None:
    served: list[tuple[int, int]] = []
    release_first_read = asyncio.Event()

    async def record(
        function_code: int, start: int, address: int, count: int, registers: list[int], values: object
    ) -> ExcCodes | None:
        served.append((function_code, address))
        if (function_code, address) == (3, 0):
            await release_first_read.wait()  # hold the bus so the other requests queue up behind it
        return None

    server, port = await start_tcp_server([sim_device(1, action=record)])
    try:
        channel = manager.channel(TcpBusParams("127.0.0.1", port), DeviceLinkParams(1, timeout_s=1.0), "pcs")
        await manager.start()
        await _connected(channel)
        reads = [asyncio.create_task(channel.read(Function.HOLDING, a, 1)) for a in range(5)]
        await wait_until(lambda: served == [(3, 0)] and channel.bus_stats.queue_depth == 4, 5.0, "reads queued")
        write = asyncio.create_task(channel.write_registers(9, [42]))
        await wait_until(lambda: channel.bus_stats.queue_depth == 5, 5.0, "write queued")
        release_first_read.set()
        await asyncio.gather(*reads, write)
        assert served.index((6, 9)) == 1, served
        assert [a for fc, a in served if fc == 3] == [0, 1, 2, 3, 4], "reads keep their order"
    finally:
        await stop_server(server)


async def test_pause_between_requests_is_the_largest_device_delay(manager: BusManager) -> None:
    stamps: list[float] = []

    async def stamp(
        function_code: int, start: int, address: int, count: int, registers: list[int], values: object
    ) -> ExcCodes | None:
        stamps.append(time.monotonic())
        return None

    server, port = await start_tcp_server([sim_device(1, action=stamp), sim_device(2, action=stamp)])
    try:
        bus = TcpBusParams("127.0.0.1", port)
        one = manager.channel(bus, DeviceLinkParams(1, inter_request_delay_s=0.0), "one")
        two = manager.channel(bus, DeviceLinkParams(2, inter_request_delay_s=0.04), "two")
        await manager.start()
        await _connected(one)
        await asyncio.gather(*(ch.read(Function.HOLDING, 0, 1) for ch in (one, two, one, two, one)))
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        assert len(gaps) == 4 and min(gaps) >= 0.035, gaps
    finally:
        await stop_server(server)


async def test_requests_fail_fast_before_start_and_after_stop() -> None:
    manager = BusManager(FAST)
    channel = manager.channel(TcpBusParams("127.0.0.1", 9), DeviceLinkParams(1), "meter")
    with pytest.raises(BusUnavailable):
        await channel.read(Function.HOLDING, 0, 1)
    await manager.start()
    await manager.stop()
    with pytest.raises(BusUnavailable):
        await channel.read(Function.HOLDING, 0, 1)


async def test_devices_on_different_buses_never_wait_for_each_other(manager: BusManager) -> None:
    faults = ReplyFaults(rtu=False, muted={1})
    dead_server, dead_port = await start_tcp_server([sim_device(1)], faults=faults)
    live_server, live_port = await start_tcp_server([sim_device(1)])
    try:
        dead = manager.channel(TcpBusParams("127.0.0.1", dead_port), DeviceLinkParams(1, timeout_s=30.0), "dead")
        live = manager.channel(TcpBusParams("127.0.0.1", live_port), DeviceLinkParams(1, timeout_s=1.0), "live")
        await manager.start()
        await _connected(dead)
        await _connected(live)
        hanging = asyncio.create_task(dead.read(Function.HOLDING, 0, 1))
        await wait_until(lambda: faults.dropped == 1, 5.0, "the dead device to swallow the request")
        for _ in range(20):
            assert await live.read(Function.HOLDING, 0, 1) == [holding_value(1, 0)]
        assert not hanging.done(), "the dead device's request (30 s timeout) is still pending"
        bus_tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("modbus-bus ")]
        assert len(bus_tasks) == 2
        hanging.cancel()
    finally:
        await stop_server(dead_server)
        await stop_server(live_server)


async def test_silent_tcp_connection_is_dropped_and_reconnected() -> None:
    faults = ReplyFaults(rtu=False, muted={1})
    server, port = await start_tcp_server([sim_device(1)], faults=faults)
    options = BusOptions(reconnect_initial_s=0.01, reconnect_max_s=0.05, silent_requests_before_reconnect=2)
    manager = BusManager(options)
    params = DeviceLinkParams(1, timeout_s=0.05, retries=0, backoff_initial_s=0.01, backoff_max_s=0.01)
    channel = manager.channel(TcpBusParams("127.0.0.1", port), params, "meter")
    await manager.start()
    try:
        await _connected(channel)
        epoch = channel.connection_epoch
        deadline = time.monotonic() + 5.0
        while channel.bus_stats.disconnects == 0:
            assert time.monotonic() < deadline, "a silent connection was never dropped"
            with contextlib.suppress(DeviceTimeout, DeviceBackingOff, BusUnavailable):
                await channel.read(Function.HOLDING, 0, 1)
            await asyncio.sleep(0.005)
        await _connected(channel)
        assert channel.connection_epoch > epoch
    finally:
        await manager.stop()
        await stop_server(server)


async def test_a_request_abandoned_by_its_caller_is_not_sent(manager: BusManager) -> None:
    served: list[int] = []
    release = asyncio.Event()

    async def hold_first(
        function_code: int, start: int, address: int, count: int, registers: list[int], values: object
    ) -> ExcCodes | None:
        served.append(address)
        if address == 0:
            await release.wait()
        return None

    server, port = await start_tcp_server([sim_device(1, action=hold_first)])
    try:
        channel = manager.channel(TcpBusParams("127.0.0.1", port), DeviceLinkParams(1, timeout_s=2.0), "meter")
        await manager.start()
        await _connected(channel)
        first = asyncio.create_task(channel.read(Function.HOLDING, 0, 1))
        abandoned = asyncio.create_task(channel.read(Function.HOLDING, 5, 1))
        await wait_until(lambda: served == [0] and channel.bus_stats.queue_depth == 1, 5.0, "second read queued")
        abandoned.cancel()
        release.set()
        assert await first == [holding_value(1, 0)]
        assert await channel.read(Function.HOLDING, 6, 1) == [holding_value(1, 6)]
        assert served == [0, 6]
    finally:
        await stop_server(server)
