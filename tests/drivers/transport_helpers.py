"""Shared helpers for the transport tests: real pymodbus servers (SimDevice) with reply muting and delaying.

The fault injection hangs on the server's ``trace_packet`` hook, so the server really processes the request
and only its reply is dropped or sent late, as a dead or slow device on a real line would behave.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

REGISTER_COUNT = 20
BIT_COUNT = 32


def holding_value(unit: int, address: int) -> int:
    """Initial holding register content: tells unit and address apart in every reply."""
    return unit * 1000 + address


def input_value(unit: int, address: int) -> int:
    return unit * 1000 + 500 + address


def sim_device(unit: int, action: Callable[..., object] | None = None) -> SimDevice:
    """A device with separate coil, discrete, holding and input blocks; discrete bit i is set when i % 3 == 0."""
    return SimDevice(
        id=unit,
        simdata=(
            [SimData(0, values=[False] * BIT_COUNT, datatype=DataType.BITS)],
            [SimData(0, values=[i % 3 == 0 for i in range(BIT_COUNT)], datatype=DataType.BITS)],
            [SimData(0, values=[holding_value(unit, a) for a in range(REGISTER_COUNT)], datatype=DataType.REGISTERS)],
            [SimData(0, values=[input_value(unit, a) for a in range(REGISTER_COUNT)], datatype=DataType.REGISTERS)],
        ),
        action=action,  # type: ignore[arg-type]
    )


@dataclass
class ReplyFaults:
    """Server-side reply faults per unit id: ``muted`` units never answer, ``delayed`` ones answer late."""

    rtu: bool
    muted: set[int] = field(default_factory=set)
    delayed: dict[int, float] = field(default_factory=dict)
    late_writer: Callable[[bytes], None] | None = None
    dropped: int = 0
    delayed_sent: int = 0

    def trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending or not data:
            return data
        unit = data[0] if self.rtu else (data[6] if len(data) > 6 else -1)
        if unit in self.muted:
            self.dropped += 1
            return b""
        delay = self.delayed.get(unit)
        if delay is not None and self.late_writer is not None:
            writer = self.late_writer
            asyncio.get_running_loop().call_later(delay, self._send_late, writer, data)
            return b""
        return data

    def _send_late(self, writer: Callable[[bytes], None], data: bytes) -> None:
        self.delayed_sent += 1
        writer(data)


async def start_tcp_server(
    devices: list[SimDevice], port: int = 0, rtu_framing: bool = False, faults: ReplyFaults | None = None
) -> tuple[ModbusTcpServer, int]:
    """Serve ``devices`` on 127.0.0.1 (port 0 = a free port); returns the server and its port."""
    server = ModbusTcpServer(
        devices,
        framer=FramerType.RTU if rtu_framing else FramerType.SOCKET,
        address=("127.0.0.1", port),
        trace_packet=faults.trace_packet if faults else None,
    )
    await server.serve_forever(background=True)
    sockets = server.transport.sockets  # type: ignore[attr-defined]
    return server, int(sockets[0].getsockname()[1])


async def start_serial_server(
    devices: list[SimDevice], path: str, faults: ReplyFaults | None = None, baudrate: int = 115200
) -> ModbusSerialServer:
    """Serve ``devices`` as an RTU line on the serial device ``path`` (a PtyLink side)."""
    server = ModbusSerialServer(
        devices,
        framer=FramerType.RTU,
        port=path,
        baudrate=baudrate,
        trace_packet=faults.trace_packet if faults else None,
    )
    await server.serve_forever(background=True)
    if faults is not None:

        def write_late(data: bytes) -> None:
            for handler in list(server.active_connections.values()):
                if handler.transport is not None:
                    handler.transport.write(data)  # type: ignore[attr-defined]

        faults.late_writer = write_late
    return server


async def stop_server(server: ModbusTcpServer | ModbusSerialServer) -> None:
    """Shut a server down (pymodbus leaves ``shutdown`` untyped)."""
    await server.shutdown()  # type: ignore[no-untyped-call]


async def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` every few ms until true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.005)
