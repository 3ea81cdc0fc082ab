"""``BusManager``: groups devices into buses (one task each) and hands out their channels.

Owns the mapping from bus parameters to ``Bus`` objects and their common lifecycle. Must never poll devices
or know what the registers mean (that is the daemon's poller and the drivers).
"""

from __future__ import annotations

import asyncio
import dataclasses
from types import TracebackType

from drivers.transport.bus import Bus
from drivers.transport.channel import DeviceChannel
from drivers.transport.params import BusOptions, BusParams, DeviceLinkParams
from drivers.transport.stats import BusStats


class BusManager:
    """All Modbus buses of the process: ``channel()`` while configuring, then ``start()`` / ``stop()``."""

    def __init__(self, options: BusOptions | None = None) -> None:
        self.options = options or BusOptions()
        self._buses: dict[str, Bus] = {}
        self._started = False

    def channel(self, bus_params: BusParams, link_params: DeviceLinkParams, name: str) -> DeviceChannel:
        """The channel of unit ``link_params.unit`` on the bus of ``bus_params``, creating the bus if new.

        ``ValueError`` when the serial settings of an existing line differ, or the unit is already used on that
        bus with different link parameters. A bus created after ``start()`` starts at once.
        """
        bus = self._buses.get(bus_params.key)
        if bus is None:
            bus = Bus(bus_params, self.options)
            self._buses[bus_params.key] = bus
        elif bus.params != bus_params:
            raise ValueError(f"{name}: {bus_params.label} is already configured as {bus.params}, not {bus_params}")
        link = bus.add_link(link_params, name or f"{bus.label}/unit {link_params.unit}")
        if self._started:
            bus.start()
        return DeviceChannel(bus, link, name or f"{bus.label}/unit {link_params.unit}")

    async def start(self) -> None:
        """Start one task per bus; each connects (with back-off) and serves its queue."""
        self._started = True
        for bus in self._buses.values():
            bus.start()

    async def stop(self) -> None:
        """Stop every bus task, close connections and fail pending requests with ``BusUnavailable``."""
        self._started = False
        await asyncio.gather(*(bus.stop() for bus in self._buses.values()))

    def bus_stats(self) -> dict[str, BusStats]:
        """Snapshots of every bus's counters, keyed by bus key (``tcp://host:port[/rtu]``, ``serial://path``)."""
        return {key: dataclasses.replace(bus.stats) for key, bus in self._buses.items()}

    async def __aenter__(self) -> BusManager:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
