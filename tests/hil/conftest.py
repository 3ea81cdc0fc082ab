"""Fixtures for hardware-in-the-loop tests: a simulated site on free loopback ports (or pty RTU lines) and
the real daemon polling it, both in the test's event loop, torn down cleanly.

Never sleeps for synchronization and never leaves a listener, pty or socket behind.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hil_helpers import FixedEngine, Hil, StartHil, wait_until, write_site

from simulators.site import SimulatedSite
from zoe_ems.config import load_site_config
from zoe_ems.runtime.control_loop import EngineLike
from zoe_ems.runtime.daemon import Daemon


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short directory for Unix sockets (``tmp_path`` may exceed the 108-byte socket path limit)."""
    path = Path(tempfile.mkdtemp(prefix="zoe-hil-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def start_hil(tmp_path: Path, short_dir: Path) -> AsyncIterator[StartHil]:
    """``await start_hil(devices, engine=...)``: site file, simulated site and daemon, all running."""
    started: list[Hil] = []

    async def start(
        devices: list[dict[str, Any]],
        *,
        engine: FixedEngine | None = None,
        control: dict[str, Any] | None = None,
        before_daemon: Callable[[SimulatedSite], None] | None = None,
    ) -> Hil:
        path = write_site(tmp_path, devices, socket_path=short_dir / "zoe.sock", control=control)
        config = load_site_config(path)
        site = SimulatedSite.from_config(config, realistic=False)
        await site.start()
        if before_daemon is not None:
            before_daemon(site)
        engine = engine if engine is not None else FixedEngine()
        chosen: EngineLike = engine
        daemon = Daemon(config, path, engine=chosen)
        task = asyncio.create_task(daemon.run(), name="hil-daemon")
        hil = Hil(path=path, config=config, site=site, daemon=daemon, engine=engine, task=task)
        started.append(hil)
        await wait_until(lambda: daemon.status_server.path.exists() or task.done(), 10.0, "the daemon to start")
        if task.done():
            task.result()  # raises what killed the daemon
        return hil

    yield start
    for hil in reversed(started):
        await _stop(hil)


async def _stop(hil: Hil) -> None:
    try:
        if not hil.task.done():
            hil.daemon.request_stop()
            exit_code = await asyncio.wait_for(hil.task, timeout=15.0)
            assert exit_code == 0
    finally:
        await hil.site.stop()
