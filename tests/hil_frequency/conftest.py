"""Fixtures for the frequency-service hardware-in-the-loop tests: a quiet simulated site on free loopback ports
and the real daemon (real engine, fast path, mixer, response logger, Modbus TCP) in the test's event loop.

Never sleeps for synchronization and never leaves a listener or socket behind.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hilf_helpers import FrequencyHil, StartFrequencyHil, stop_daemon, wait_until, write_site

from simulators.site import SimulatedSite
from zoe_ems.config import load_site_config
from zoe_ems.runtime.daemon import Daemon


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short directory for the status socket (``tmp_path`` may exceed the 108-byte socket path limit)."""
    path = Path(tempfile.mkdtemp(prefix="zoe-hilf-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def start_frequency_hil(tmp_path: Path, short_dir: Path) -> AsyncIterator[StartFrequencyHil]:
    """``await start_frequency_hil(control, ...)``: site file, simulated site and daemon running, the fast path
    sampling, and (unless ``wait_available=False``) the armed services available with the PCS free to respond."""
    started: list[FrequencyHil] = []

    async def start(
        control: dict[str, Any],
        *,
        capacity_kwh: float = 400.0,
        initial_soc: float = 0.5,
        initial_hz: float = 50.0,
        wait_available: bool = True,
    ) -> FrequencyHil:
        path = write_site(tmp_path, socket_path=short_dir / "zoe.sock", control=control, capacity_kwh=capacity_kwh)
        config = load_site_config(path)
        site = SimulatedSite.from_config(config, realistic=False, initial_soc=initial_soc)
        site.frequency.set(initial_hz)
        await site.start()
        try:
            daemon = Daemon(config, path)
        except BaseException:
            await site.stop()
            raise
        task = asyncio.create_task(daemon.run(), name="hilf-daemon")
        hil = FrequencyHil(path=path, config=config, site=site, daemon=daemon, task=task)
        started.append(hil)

        def ready() -> bool:
            if task.done():
                return True
            fast = daemon.fast_path
            if fast is None or daemon.responder.filter.accepted < 3 or daemon.loop.cycles < 2 or not hil.writes():
                return False
            if not wait_available:
                return True
            hard: dict[str, tuple[float, float]] = getattr(daemon.engine, "hard_limits", {})
            low, high = hard.get("pcs", (0.0, 0.0))
            return daemon.frequency_controller.available and low < 0.0 < high

        await wait_until(ready, 15.0, "the daemon to sample frequency and judge the PCS")
        if task.done():
            task.result()  # raises what killed the daemon
        return hil

    yield start
    for hil in reversed(started):
        await _stop(hil)


async def _stop(hil: FrequencyHil) -> None:
    try:
        assert await stop_daemon(hil) == 0
    finally:
        await hil.site.stop()
