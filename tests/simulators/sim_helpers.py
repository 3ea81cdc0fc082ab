"""Helpers for simulator tests: free ports, site files in tmp_path, waiting for conditions."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from zoe_ems.config import SiteConfig, load_site_config


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until(predicate: Callable[[], bool], *, timeout_s: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` every few ms until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.005)


def site_file(tmp_path: Path, devices: list[dict[str, object]], *, import_limit_kw: float = 100.0) -> Path:
    """Write a site file with ``devices`` and return its path."""
    data = {
        "site": {
            "id": "sim-test",
            "timezone": "UTC",
            "grid": {"import_limit_kw": import_limit_kw, "export_limit_kw": 50},
        },
        "devices": devices,
        "storage": {"path": str(tmp_path / "zoe.db")},
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def tcp(port: int, unit: int) -> dict[str, object]:
    return {"type": "modbus_tcp", "host": "127.0.0.1", "port": port, "unit": unit, "timeout_ms": 300}


def basic_site(tmp_path: Path, port: int) -> SiteConfig:
    """Grid meter, PCS + BMS, PV inverter, EV charger and SG-Ready relay on one host:port by unit id."""
    devices: list[dict[str, object]] = [
        {"id": "grid_meter", "kind": "meter", "role": "grid", "driver": "zoe_meter", "transport": tcp(port, 1)},
        {
            "id": "pcs1",
            "kind": "pcs",
            "driver": "zoe_pcs",
            "transport": tcp(port, 2),
            "rated_power_kw": 50,
            "bms": "bms1",
        },
        {"id": "bms1", "kind": "bms", "driver": "zoe_bms", "transport": tcp(port, 3), "capacity_kwh": 100},
        {"id": "pv1", "kind": "pv_inverter", "driver": "zoe_pv", "transport": tcp(port, 4), "rated_power_kw": 30},
        {"id": "ev1", "kind": "ev_charger", "driver": "zoe_evse", "transport": tcp(port, 5), "phases": 3},
        {"id": "hp1", "kind": "sg_ready", "driver": "zoe_sgready", "transport": tcp(port, 6)},
        {
            "id": "remote_meter",
            "kind": "meter",
            "role": "load",
            "driver": "zoe_meter",
            "transport": {"type": "modbus_tcp", "host": "192.0.2.10", "port": 502, "unit": 1},
        },
    ]
    return load_site_config(site_file(tmp_path, devices))
