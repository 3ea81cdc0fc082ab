"""Lock-step hardware-in-the-loop harness: the real drivers over real Modbus TCP sockets and the real
ControlEngine, stepped together with the simulator's physics so that hours of simulated time run in seconds.

One step: poll every device once (all points; slow-class points every 10th step), run ``engine.step`` on the
process-image snapshot, write the changed setpoints (through the same writable-point filter and rating guard
the daemon's device links use), then advance the simulated site by ``dt_s``. Time seen by the process image
and the engine is simulated time, so staleness windows, hysteresis delays and SG-Ready timers all run on the
simulated clock.

The simulator is built with a vanishing ``speed`` so its own physics task never moves time: only
``site.advance`` does. Never sleeps for synchronization (only to pace the repetition of a failed request);
owns nothing the product uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from drivers.driver import DeviceDriver
from drivers.errors import DeviceError
from drivers.factory import build_driver
from drivers.profile import PollClass
from drivers.transport import BusManager
from simulators.site import SimulatedSite
from zoe_ems.config import SiteConfig
from zoe_ems.control.decision import Decision
from zoe_ems.control.engine import ControlEngine
from zoe_ems.control.inputs import ControlInputs
from zoe_ems.runtime.daemon import bus_params, driver_options
from zoe_ems.site.image import ProcessImage
from zoe_ems.site.points import Snapshot
from zoe_ems.site.poller import SLOW_EVERY, clamp_to_ratings

FROZEN_SPEED = 1e-9
"""Simulator speed for lock-step runs: its free-running physics task advances nothing measurable."""
READ_DEADLINE_S = 15.0
"""Real seconds a device may take to answer one poll before the harness gives up."""
START_MONO = 100_000.0
"""Monotonic time the engine sees at simulated second 0."""


@dataclass(frozen=True, slots=True)
class WriteEvent:
    """Setpoints written to one device at one simulated instant."""

    t_s: float
    device_id: str
    setpoints: dict[str, float]


@dataclass
class Lockstep:
    """Real drivers + real engine + simulated site, advanced together by ``step``."""

    config: SiteConfig
    site: SimulatedSite
    engine: ControlEngine
    inputs: ControlInputs = field(default_factory=ControlInputs)
    writes: list[WriteEvent] = field(default_factory=list)
    decision: Decision | None = None
    snapshot: Snapshot | None = None
    """The snapshot the last step decided on (taken right after its poll, before the physics moved)."""
    steps: int = 0
    read_retries: list[tuple[float, str, str]] = field(default_factory=list)
    """``(simulated time, device, error)`` of every read or write that had to be repeated."""

    def __post_init__(self) -> None:
        self.image = ProcessImage(clock_mono=lambda: self.now_mono, clock_utc=lambda: self.now_utc)
        for device in self.config.devices:
            self.image.add_device(
                device.id, device.kind, device.role.value if device.role else None, device.stale_window_s
            )
        self._buses = BusManager()
        self._drivers: dict[str, DeviceDriver] = {}
        self._written: dict[str, dict[str, float]] = {}

    @property
    def now_mono(self) -> float:
        return START_MONO + self.site.t_s

    @property
    def now_utc(self) -> float:
        return self.site.clock.start_wall + self.site.t_s

    async def start(self) -> None:
        """Open the buses and connect every driver (the site must be serving)."""
        channels = []
        for device in self.config.devices:
            bus, link = bus_params(device)
            channel = self._buses.channel(bus, link, name=device.id)
            channels.append(channel)
            self._drivers[device.id] = build_driver(device.driver, channel, driver_options(device))
        await self._buses.start()
        for channel in channels:
            if not await channel.wait_connected(10.0):
                raise AssertionError(f"{channel.name}: no connection to {channel.address} within 10 s")
        for driver in self._drivers.values():
            await driver.connect()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self._buses.stop()

    async def step(self, dt_s: float) -> Decision:
        """Poll, decide, write, then advance the physics by ``dt_s`` simulated seconds."""
        classes = {PollClass.FAST, PollClass.NORMAL}
        if self.steps % SLOW_EVERY == 0:
            classes.add(PollClass.SLOW)
        await asyncio.gather(*(self._poll(device_id, frozenset(classes)) for device_id in self._drivers))
        self.snapshot = self.image.snapshot()
        decision = self.engine.step(self.snapshot, self.inputs.view(self.now_utc), self.now_mono)
        await asyncio.gather(*(self._write(device_id, points) for device_id, points in decision.setpoints.items()))
        self.decision = decision
        self.steps += 1
        self.site.advance(dt_s)
        return decision

    def written(self, device_id: str) -> dict[str, float]:
        """Setpoints last written to a device."""
        return dict(self._written.get(device_id, {}))

    async def _poll(self, device_id: str, classes: frozenset[PollClass]) -> None:
        # Simulated time stands still while we wait: a read that failed on a loaded machine (a timeout, then the
        # transport's back-off in real seconds) is repeated instead of turning into a device outage of many
        # simulated minutes. Tests check ``read_retries`` stays small.
        deadline = time.monotonic() + READ_DEADLINE_S
        while True:
            try:
                values = await self._drivers[device_id].read(classes)
                break
            except DeviceError as exc:
                self.read_retries.append((self.site.t_s, device_id, str(exc)))
                if time.monotonic() > deadline:
                    raise AssertionError(f"{device_id}: no successful read within {READ_DEADLINE_S} s: {exc}") from exc
                await asyncio.sleep(0.05)  # pacing the retries of a failed read, not synchronization
        self.image.update(device_id, values)

    async def _write(self, device_id: str, setpoints: Mapping[str, float]) -> None:
        device = self.config.device(device_id)
        driver = self._drivers.get(device_id)
        if driver is None or device.read_only:
            return
        allowed = driver.writable_points
        guarded = clamp_to_ratings(device, {k: v for k, v in setpoints.items() if k in allowed})
        last = self._written.setdefault(device_id, {})
        changed = {k: v for k, v in guarded.items() if last.get(k) != v}
        if not changed:
            return
        deadline = time.monotonic() + READ_DEADLINE_S
        while True:
            try:
                await driver.write(changed)
                break
            except DeviceError as exc:  # setpoints are idempotent: repeat, as for reads
                self.read_retries.append((self.site.t_s, device_id, f"write: {exc}"))
                if time.monotonic() > deadline:
                    raise AssertionError(f"{device_id}: write not accepted within {READ_DEADLINE_S} s: {exc}") from exc
                await asyncio.sleep(0.05)  # pacing the retries of a failed write, not synchronization
        last.update(changed)
        self.writes.append(WriteEvent(self.site.t_s, device_id, changed))
