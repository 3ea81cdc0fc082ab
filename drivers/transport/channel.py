"""``DeviceChannel``: the ``RegisterIO`` of one unit id on a bus, as handed to drivers.

Owns argument checking and the device-facing view (name, epoch, stats). Must never talk to pymodbus or the
bus directly: every request goes through the bus task.
"""

from __future__ import annotations

import dataclasses
import time

from drivers.profile import Function
from drivers.transport.bus import Bus
from drivers.transport.device import DeviceLink
from drivers.transport.request import read_request, write_coils_request, write_registers_request
from drivers.transport.stats import BusStats, DeviceStats


class DeviceChannel:
    """Register access to one device; implements ``drivers.io.RegisterIO``.

    Raises ``BusUnavailable`` (bus down or not started), ``DeviceBackingOff`` (recent failure, nothing sent),
    ``DeviceTimeout``, ``DeviceExceptionResponse`` and ``DecodeError`` (reply did not match the request);
    ``ValueError`` for counts or addresses Modbus cannot carry.
    """

    def __init__(self, bus: Bus, link: DeviceLink, name: str) -> None:
        self._bus = bus
        self._link = link
        self._name = name

    @property
    def name(self) -> str:
        """The name given to ``BusManager.channel`` (the device id), used in errors and logs."""
        return self._name

    @property
    def address(self) -> str:
        """Where the device is, e.g. ``127.0.0.1:1502/unit 3``."""
        return f"{self._bus.label}/unit {self._link.params.unit}"

    @property
    def unit(self) -> int:
        return self._link.params.unit

    @property
    def connection_epoch(self) -> int:
        """Grows on every bus (re)connect and every recovery of this device; re-assert setpoints when it moves."""
        return self._bus.stats.connects + self._link.stats.recoveries

    @property
    def connected(self) -> bool:
        """The bus is connected (the device itself may still be failing: see ``stats.state``)."""
        return self._bus.connected

    @property
    def stats(self) -> DeviceStats:
        """A snapshot of this device's counters and state."""
        return self._link.snapshot(time.monotonic())

    @property
    def bus_stats(self) -> BusStats:
        """A snapshot of the counters of the bus this device is on."""
        return dataclasses.replace(self._bus.stats)

    async def wait_connected(self, timeout_s: float) -> bool:
        """Wait until the bus is connected; False after ``timeout_s``."""
        return await self._bus.wait_connected(timeout_s)

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        """Read ``count`` registers (holding/input) or bits (coil/discrete, as 0/1) from ``address``."""
        return await self._bus.submit(read_request(self._link, function, address, count))

    async def write_registers(self, address: int, values: list[int]) -> None:
        """Write holding registers (function 6 for one register, 16 for several)."""
        await self._bus.submit(write_registers_request(self._link, address, values))

    async def write_coils(self, address: int, values: list[bool]) -> None:
        """Write coils (function 5 for one coil, 15 for several)."""
        await self._bus.submit(write_coils_request(self._link, address, values))
