"""Fixtures for the control hardware-in-the-loop tests: a simulated site on free loopback ports and the real
daemon (real ControlEngine, real drivers, real Modbus TCP) controlling it in the test's event loop.

Never sleeps for synchronization and never leaves a listener or socket behind.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hilc_helpers import (
    ControlHil,
    Device,
    RecordingEngine,
    StartControlHil,
    StartLockstep,
    wait_until,
    write_site,
)
from hilc_lockstep import FROZEN_SPEED, Lockstep

from simulators.site import SimulatedSite
from zoe_ems.config import load_site_config
from zoe_ems.control.controllers.base import Controller
from zoe_ems.control.engine import ControlEngine
from zoe_ems.runtime.daemon import Daemon


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short directory for the status socket (``tmp_path`` may exceed the 108-byte socket path limit)."""
    path = Path(tempfile.mkdtemp(prefix="zoe-hilc-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def start_control_hil(tmp_path: Path, short_dir: Path) -> AsyncIterator[StartControlHil]:
    """``await start_control_hil(devices, import_kw=..., export_kw=..., control=...)``: site file, simulated
    site (quiet: constant load, no sun, no car) and the real daemon running the real ControlEngine (recording its
    decisions), all running; the grid meter is recorded."""
    started: list[ControlHil] = []

    async def start(
        devices: list[Device],
        *,
        import_kw: float,
        export_kw: float,
        control: dict[str, Any] | None = None,
        initial_soc: float = 0.5,
        prepare: Callable[[SimulatedSite], None] | None = None,
        extra_controllers: Sequence[Controller] = (),
    ) -> ControlHil:
        path = write_site(
            tmp_path,
            devices,
            socket_path=short_dir / "zoe.sock",
            import_kw=import_kw,
            export_kw=export_kw,
            control=control,
        )
        config = load_site_config(path)
        site = SimulatedSite.from_config(config, realistic=False, initial_soc=initial_soc)
        if prepare is not None:
            prepare(site)
        await site.start()
        try:
            daemon = Daemon(config, path, engine=RecordingEngine(config, extra_controllers))
        except BaseException:
            await site.stop()
            raise
        task = asyncio.create_task(daemon.run(), name="hilc-daemon")
        hil = ControlHil(path=path, config=config, site=site, daemon=daemon, task=task)
        hil.record_meter()
        started.append(hil)
        await wait_until(lambda: daemon.status_server.path.exists() or task.done(), 10.0, "the daemon to start")
        if task.done():
            task.result()  # raises what killed the daemon
        return hil

    yield start
    for hil in reversed(started):
        await _stop(hil)


@pytest.fixture
async def start_lockstep(tmp_path: Path, short_dir: Path) -> AsyncIterator[StartLockstep]:
    """``await start_lockstep(devices, ...)``: site file, a simulated site that only moves when stepped, and the
    lock-step harness (real drivers over real sockets, real ControlEngine) connected to it."""
    started: list[Lockstep] = []

    async def start(
        devices: list[Device],
        *,
        import_kw: float,
        export_kw: float,
        control: dict[str, Any] | None = None,
        initial_soc: float = 0.5,
        realistic: bool = False,
        start_wall: float | None = None,
        timezone: str = "UTC",
        step_s: float = 1.0,
        prepare: Callable[[SimulatedSite], None] | None = None,
    ) -> Lockstep:
        for device in devices:
            device["transport"] = {**device["transport"], "timeout_ms": 2000, "retries": 2}  # time stands still
        path = write_site(
            tmp_path,
            devices,
            socket_path=short_dir / "zoe.sock",
            import_kw=import_kw,
            export_kw=export_kw,
            control=control,
            timezone=timezone,
        )
        config = load_site_config(path)
        site = SimulatedSite.from_config(
            config,
            speed=FROZEN_SPEED,
            seed=7,
            realistic=realistic,
            step_s=step_s,
            start_wall=start_wall,
            initial_soc=initial_soc,
        )
        if prepare is not None:
            prepare(site)
        await site.start()
        harness = Lockstep(config=config, site=site, engine=ControlEngine(config))
        started.append(harness)
        await harness.start()
        return harness

    yield start
    for harness in reversed(started):
        await harness.stop()
        await harness.site.stop()


async def _stop(hil: ControlHil) -> None:
    try:
        if not hil.task.done():
            hil.daemon.request_stop()
            exit_code = await asyncio.wait_for(hil.task, timeout=15.0)
            assert exit_code == 0
    finally:
        await hil.site.stop()
