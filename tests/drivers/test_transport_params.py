"""Transport parameters, back-off arithmetic and how devices are grouped into buses (no I/O)."""

from __future__ import annotations

import pytest

from drivers.io import RegisterIO
from drivers.profile import Function
from drivers.transport import (
    Backoff,
    BusManager,
    BusOptions,
    DeviceLinkParams,
    SerialBusParams,
    TcpBusParams,
)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: DeviceLinkParams(1, timeout_s=0), "timeout_s"),
        (lambda: DeviceLinkParams(1, retries=-1), "retries"),
        (lambda: DeviceLinkParams(256), "unit"),
        (lambda: DeviceLinkParams(1, inter_request_delay_s=-0.1), "inter_request_delay_s"),
        (lambda: DeviceLinkParams(1, backoff_initial_s=5, backoff_max_s=1), "backoff_max_s"),
        (lambda: TcpBusParams("", 502), "host"),
        (lambda: TcpBusParams("127.0.0.1", 70000), "port"),
        (lambda: SerialBusParams("/dev/ttyUSB0", parity="X"), "parity"),  # type: ignore[arg-type]
        (lambda: SerialBusParams("/dev/ttyUSB0", stopbits=3), "stopbits"),
        (lambda: SerialBusParams("/dev/ttyUSB0", bytesize=5), "bytesize"),
        (lambda: BusOptions(reconnect_initial_s=2, reconnect_max_s=1), "reconnect_initial_s"),
    ],
)
def test_bad_parameters_are_rejected_with_the_field_named(build: object, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        build()  # type: ignore[operator]


def test_backoff_doubles_then_stays_at_its_cap_until_reset() -> None:
    backoff = Backoff(0.5, 3.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_timeout_budget_counts_every_attempt() -> None:
    assert DeviceLinkParams(1, timeout_s=0.25, retries=3).budget_s == 1.0


def test_devices_on_the_same_line_share_one_bus_and_its_largest_pause() -> None:
    manager = BusManager()
    line = SerialBusParams("/dev/ttyUSB0", 19200, "E", 1, 8)
    manager.channel(line, DeviceLinkParams(1, inter_request_delay_s=0.02), "a")
    manager.channel(line, DeviceLinkParams(2, inter_request_delay_s=0.15), "b")
    manager.channel(SerialBusParams("/dev/ttyUSB1"), DeviceLinkParams(1), "c")
    assert sorted(manager.bus_stats()) == ["serial:///dev/ttyUSB0", "serial:///dev/ttyUSB1"]
    assert manager._buses["serial:///dev/ttyUSB0"].pause_s == 0.15


def test_conflicting_settings_for_one_line_are_refused() -> None:
    manager = BusManager()
    manager.channel(SerialBusParams("/dev/ttyUSB0", 9600), DeviceLinkParams(1), "a")
    with pytest.raises(ValueError, match="already configured"):
        manager.channel(SerialBusParams("/dev/ttyUSB0", 19200), DeviceLinkParams(2), "b")


def test_a_unit_id_is_used_once_per_bus_unless_its_link_is_identical() -> None:
    manager = BusManager()
    bus = TcpBusParams("127.0.0.1", 1502)
    first = manager.channel(bus, DeviceLinkParams(3, timeout_s=0.5), "pcs")
    again = manager.channel(bus, DeviceLinkParams(3, timeout_s=0.5), "pcs-fast-path")
    assert first.address == again.address == "127.0.0.1:1502/unit 3"
    assert again.name == "pcs-fast-path"
    with pytest.raises(ValueError, match=r"unit 3 .* already used by pcs"):
        manager.channel(bus, DeviceLinkParams(3, timeout_s=2.0), "other")


@pytest.mark.parametrize("bus", [SerialBusParams("/dev/ttyUSB0"), TcpBusParams("gw", 502, rtu_framing=True)])
def test_broadcast_unit_zero_is_refused_on_rtu(bus: SerialBusParams | TcpBusParams) -> None:
    with pytest.raises(ValueError, match="unit 0"):
        BusManager().channel(bus, DeviceLinkParams(0), "meter")


async def test_modbus_limits_are_checked_before_anything_is_queued() -> None:
    channel = BusManager().channel(TcpBusParams("127.0.0.1", 1502), DeviceLinkParams(1), "meter")
    with pytest.raises(ValueError, match=r"count must be 1..125"):
        await channel.read(Function.HOLDING, 0, 126)
    with pytest.raises(ValueError, match=r"outside 0..65535"):
        await channel.read(Function.COIL, 65535, 2)
    with pytest.raises(ValueError, match=r"16-bit"):
        await channel.write_registers(0, [70000])
    with pytest.raises(ValueError, match=r"count must be 1..1968"):
        await channel.write_coils(0, [])


def test_device_channel_is_the_register_io_drivers_consume() -> None:
    channel: RegisterIO = BusManager().channel(TcpBusParams("127.0.0.1", 1502), DeviceLinkParams(4), "ev")
    assert channel.name == "ev"
