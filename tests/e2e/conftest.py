"""Fixtures for the northbound end-to-end tests: a real mosquitto on a free loopback port, the simulated
site on free loopback ports and the real daemon (real control engine, real PCS mixer) in the test's event
loop, plus a subscriber/publisher MQTT client. Everything is torn down; nothing sleeps for synchronization.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import (
    KEY,
    METER,
    MOSQUITTO,
    PCS,
    Broker,
    E2e,
    StartE2e,
    free_port,
    site_file,
    subscriber,
    wait_until,
)

from simulators.site import SimulatedSite
from zoe_ems.config import load_site_config
from zoe_ems.runtime.daemon import Daemon


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if MOSQUITTO is None:
        pytest.skip("mosquitto binary not found (apt-get install mosquitto)")
    directory = tmp_path / "broker"
    directory.mkdir()
    instance = Broker(directory=directory, port=free_port())
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "command.key"
    path.write_bytes(KEY)
    return path


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short directory for the status socket (``tmp_path`` may exceed the 108-byte socket path limit)."""
    path = Path(tempfile.mkdtemp(prefix="zoe-e2e-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def start_e2e(tmp_path: Path, short_dir: Path, broker: Broker, key_file: Path) -> AsyncIterator[StartE2e]:
    stack = contextlib.AsyncExitStack()
    started: list[E2e] = []

    async def start(
        *,
        load_kw: float = 0.0,
        northbound: dict[str, Any] | None = None,
        control: dict[str, Any] | None = None,
        optimizer: dict[str, Any] | None = None,
        before_daemon: Callable[[SimulatedSite], None] | None = None,
    ) -> E2e:
        path = site_file(
            tmp_path,
            broker_port=broker.port,
            key_file=key_file,
            socket_path=short_dir / "zoe.sock",
            northbound=northbound,
            control=control,
            optimizer=optimizer,
        )
        config = load_site_config(path)
        recorder, client = await stack.enter_async_context(subscriber(broker.port))
        site = SimulatedSite.from_config(config, realistic=False)
        site.load.set_base(load_kw * 1000.0)
        await site.start()
        stack.push_async_callback(site.stop)
        if before_daemon is not None:
            before_daemon(site)
        daemon = Daemon(config, path)
        task = asyncio.create_task(daemon.run(), name="e2e-daemon")
        stack.push_async_callback(_stop_daemon, daemon, task)
        e2e = E2e(
            path=path,
            config=config,
            broker=broker,
            site=site,
            daemon=daemon,
            task=task,
            recorder=recorder,
            client=client,
        )
        started.append(e2e)

        def ready() -> bool:
            if task.done():
                return True
            northbound_up = daemon.northbound is not None and daemon.northbound.connected
            snapshot = daemon.image.snapshot()
            online = all(snapshot.devices[d].online for d in (METER, PCS))
            return northbound_up and online and daemon.loop.cycles > 0 and e2e.last_pcs_setpoint_w() is not None

        await wait_until(ready, 15.0, "the daemon to connect, poll the site and write the PCS")
        if task.done():
            task.result()  # raises what killed the daemon
        return e2e

    yield start
    await stack.aclose()


async def _stop_daemon(daemon: Daemon, task: asyncio.Task[int]) -> None:
    if task.done():
        task.result()
        return
    daemon.request_stop()
    assert await asyncio.wait_for(task, timeout=20.0) == 0
