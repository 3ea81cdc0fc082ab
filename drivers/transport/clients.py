"""Construction of pymodbus async clients for a bus, and input flushing after a timeout.

Owns every pymodbus client setting: ``retries=0``, no automatic reconnect, and a pymodbus-side timeout long
enough never to fire (the bus enforces its own per-device timeouts). Must never retry, reconnect or keep state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.client.base import ModbusBaseClient
from pymodbus.framer import FramerType

from drivers.transport.params import BusParams, SerialBusParams

# pymodbus uses one timeout for connecting and for every reply. The bus enforces both itself with shorter
# per-device limits; pymodbus's own is only a backstop and must never expire first (it would count "no response"
# and may drop the connection on its own), hence this factor over the longest limit on the bus.
PYMODBUS_TIMEOUT_FACTOR = 2.0


def make_client(
    params: BusParams, longest_timeout_s: float, on_connection_change: Callable[[bool], None]
) -> ModbusBaseClient:
    """A fresh, unconnected pymodbus client for the bus; ``on_connection_change(False)`` fires on a drop."""
    backstop_timeout_s = longest_timeout_s * PYMODBUS_TIMEOUT_FACTOR
    if isinstance(params, SerialBusParams):
        return AsyncModbusSerialClient(
            params.device,
            framer=FramerType.RTU,
            baudrate=params.baudrate,
            bytesize=params.bytesize,
            parity=params.parity,
            stopbits=params.stopbits,
            name=params.key,
            reconnect_delay=0,
            timeout=backstop_timeout_s,
            retries=0,
            trace_connect=on_connection_change,
        )
    return AsyncModbusTcpClient(
        params.host,
        port=params.port,
        framer=FramerType.RTU if params.rtu_framing else FramerType.SOCKET,
        name=params.key,
        reconnect_delay=0,
        timeout=backstop_timeout_s,
        retries=0,
        trace_connect=on_connection_change,
    )


def uses_rtu_framing(params: BusParams) -> bool:
    """RTU frames carry no transaction id, so a late reply can be mistaken for the next answer."""
    return isinstance(params, SerialBusParams) or params.rtu_framing


def discard_input(client: ModbusBaseClient) -> None:
    """Drop bytes received but not yet framed, and the serial driver's input queue (RTU after a timeout)."""
    client.ctx.recv_buffer = b""
    serial_port = getattr(client.ctx.transport, "sync_serial", None)
    if serial_port is not None:
        with contextlib.suppress(Exception):
            serial_port.reset_input_buffer()


def fail_outstanding(client: ModbusBaseClient, error: Exception) -> None:
    """Wake a request waiting inside pymodbus for a reply that can no longer come (connection lost)."""
    future = client.ctx.response_future
    if not future.done():
        future.set_exception(error)
