"""Modbus transports: one asyncio task per bus (TCP, RTU serial, RTU over TCP) serving ``RegisterIO`` channels.

Owns connections, request serialization, timeouts, retries, back-off and reconnects. Must never import
``zoe_ems`` or know anything about control; the daemon builds the parameter dataclasses from its config.
"""

from drivers.transport.backoff import Backoff
from drivers.transport.channel import DeviceChannel
from drivers.transport.manager import BusManager
from drivers.transport.params import BusOptions, BusParams, DeviceLinkParams, SerialBusParams, TcpBusParams
from drivers.transport.stats import BusStats, DeviceState, DeviceStats

__all__ = [
    "Backoff",
    "BusManager",
    "BusOptions",
    "BusParams",
    "BusStats",
    "DeviceChannel",
    "DeviceLinkParams",
    "DeviceState",
    "DeviceStats",
    "SerialBusParams",
    "TcpBusParams",
]
