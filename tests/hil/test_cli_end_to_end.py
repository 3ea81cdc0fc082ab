"""End to end with real processes: `zoe-ems simulate` serves the demo site, `zoe-ems run` (with the real
control engine) polls it, `zoe-ems status --json` shows every device online, SIGTERM stops the daemon
cleanly (exit 0) and `status` then reports it not running (exit 3)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from hil_helpers import free_ports

REPO = Path(__file__).resolve().parents[2]
EXIT_NOT_RUNNING = 3


def demo_site_on_free_ports(directory: Path, socket_path: Path) -> Path:
    """configs/demo.yaml with free loopback ports, its database in ``directory`` and a short socket path."""
    data = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    original = sorted({device["transport"]["port"] for device in data["devices"]})
    ports = dict(zip(original, free_ports(len(original)), strict=True))
    for device in data["devices"]:
        device["transport"]["port"] = ports[device["transport"]["port"]]
    data["storage"]["path"] = str(directory / "zoe.db")
    data["runtime"] = {"socket_path": str(socket_path), "log_format": "json"}
    path = directory / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


async def zoe_ems(*args: str, timeout_s: float = 30.0) -> tuple[int, str, str]:
    """Run `python -m zoe_ems ARGS` to completion; (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zoe_ems", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def status_until(config: Path, predicate: Any, timeout_s: float) -> dict[str, Any]:
    """Ask `status --json` until ``predicate(reply)`` holds; fail with the last reply after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        code, out, err = await zoe_ems("status", "--json", "--config", str(config))
        last = (code, out[-2000:], err[-2000:])
        if code == 0:
            reply: dict[str, Any] = json.loads(out)
            if predicate(reply):
                return reply
        await asyncio.sleep(0.2)  # pacing between polls of the condition, not synchronization
    raise AssertionError(f"status never satisfied the condition within {timeout_s} s; last: {last}")


async def stop(process: asyncio.subprocess.Process, timeout_s: float) -> int:
    process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), timeout=timeout_s)


async def test_simulate_run_status_and_sigterm_as_real_processes(tmp_path: Path, short_dir: Path) -> None:
    config = demo_site_on_free_ports(tmp_path, short_dir / "zoe.sock")
    device_ids = [d["id"] for d in yaml.safe_load(config.read_text(encoding="utf-8"))["devices"]]
    simulator = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zoe_ems", "simulate", "--config", str(config),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    daemon: asyncio.subprocess.Process | None = None
    try:
        assert simulator.stdout is not None
        banner = await asyncio.wait_for(simulator.stdout.readline(), timeout=30.0)
        assert b"simulating site demo-site" in banner, banner
        code, _, err = await zoe_ems("status", "--config", str(config))
        assert code == EXIT_NOT_RUNNING, f"no daemon yet: status must exit 3, got {code} ({err})"

        daemon = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "zoe_ems", "run", "--config", str(config),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

        def all_online(reply: dict[str, Any]) -> bool:
            devices = reply.get("devices", {})
            return set(devices) == set(device_ids) and all(d["online"] for d in devices.values())

        reply = await status_until(config, all_online, 45.0)
        assert reply["site"] == "demo-site"
        grid = reply["devices"]["grid_meter"]["points"]["p_w"]
        assert grid["unit"] == "W" and grid["quality"] == "fresh" and isinstance(grid["value"], (int, float))
        assert reply["control"]["cycles"] >= 1, "the real control engine runs"

        started = time.monotonic()
        assert await stop(daemon, 15.0) == 0, "SIGTERM: clean shutdown with exit 0"
        assert time.monotonic() - started < 15.0
        code, _, _ = await zoe_ems("status", "--json", "--config", str(config))
        assert code == EXIT_NOT_RUNNING, "status after shutdown: not running (exit 3)"
        assert not (short_dir / "zoe.sock").exists(), "the status socket is removed"
        assert await stop(simulator, 15.0) == 0
    finally:
        for process in (daemon, simulator):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()
