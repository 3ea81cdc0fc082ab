"""Daemon lifecycle in-process against a simulated meter: READY, watchdog from the control loop, clean stop."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from pathlib import Path

import pytest
import yaml

from simulators.site import SimulatedSite
from zoe_ems.config import load_site_config
from zoe_ems.runtime.daemon import Daemon


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_site(tmp_path: Path) -> Path:
    site = {
        "site": {"id": "lifecycle", "grid": {"import_limit_kw": 50, "export_limit_kw": 10}},
        "devices": [
            {
                "id": "grid_meter",
                "kind": "meter",
                "role": "grid",
                "driver": "zoe_meter",
                "transport": {"type": "modbus_tcp", "host": "127.0.0.1", "port": free_port(), "unit": 1},
                "poll_ms": 100,
            }
        ],
        "control": {"cycle_ms": 100},
        "storage": {"path": str(tmp_path / "zoe.db"), "history_interval_s": 0.1, "flush_interval_s": 0.1},
        "runtime": {"socket_path": str(tmp_path / "zoe.sock")},
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site))
    return path


async def test_daemon_notifies_systemd_feeds_the_watchdog_and_stops_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notify_path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(notify_path))
    server.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(notify_path))
    config_path = write_site(tmp_path)
    config = load_site_config(config_path)
    site = SimulatedSite.from_config(config, realistic=False)
    await site.start()
    messages: list[str] = []
    loop = asyncio.get_running_loop()

    async def wait_for(message: str, timeout_s: float = 10.0) -> None:
        deadline = loop.time() + timeout_s
        while message not in messages:
            remaining = deadline - loop.time()
            assert remaining > 0, f"no {message} within {timeout_s} s (got {messages})"
            try:
                data = await asyncio.wait_for(loop.sock_recv(server, 256), timeout=remaining)
            except TimeoutError:
                continue
            messages.append(data.decode())

    try:
        daemon = Daemon(config, config_path)
        task = asyncio.create_task(daemon.run())
        await wait_for("READY=1")
        await wait_for("WATCHDOG=1")
        assert (tmp_path / "zoe.sock").exists()
        deadline = loop.time() + 10.0
        while daemon.image.latest("grid_meter", "p_w") is None:
            assert loop.time() < deadline, "grid meter never read"
            await asyncio.sleep(0.02)
        daemon.request_stop()
        assert await asyncio.wait_for(task, timeout=10.0) == 0
        await wait_for("STOPPING=1")
    finally:
        await site.stop()
        server.close()
    assert not (tmp_path / "zoe.sock").exists()
    with sqlite3.connect(tmp_path / "zoe.db") as conn:
        rows = conn.execute("SELECT count(*) FROM history WHERE device = 'grid_meter' AND point = 'p_w'").fetchone()
        decisions = conn.execute("SELECT count(*) FROM decisions").fetchone()
    assert rows[0] >= 1
    assert decisions[0] >= 1
