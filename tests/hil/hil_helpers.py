"""Helpers for the hardware-in-the-loop tests: site files with free loopback ports, a fixed-setpoint
engine, waiting for conditions with a deadline, and comparing the daemon's process image with the
simulator's models within the register resolution of each point.

Owns nothing the product uses; never sleeps for synchronization (``wait_until`` polls a predicate).
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from drivers.codec import DataType
from drivers.profile import PollClass, Profile, ProfilePoint, load_profile
from simulators.site import SimulatedSite
from zoe_ems.config import SiteConfig
from zoe_ems.control.inputs import InputsView
from zoe_ems.runtime.daemon import Daemon
from zoe_ems.site.points import Quality, Snapshot

_FLOAT_TYPES = (DataType.F32, DataType.F64)
TIME_VARYING = frozenset({"e_import_wh", "e_export_wh", "e_total_wh", "e_session_wh", "t_storage_c", "t_c"})
"""Points that integrate or drift by themselves: compared for presence, not value."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (may repeat between calls: use ``free_ports`` for several)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 (held open together while choosing, so none repeats)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> float:
    """Poll ``predicate`` every 10 ms until it holds; return the seconds waited; fail after ``timeout_s``."""
    start = time.monotonic()
    deadline = start + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def tcp(port: int, unit: int, *, timeout_ms: int = 200, retries: int = 1) -> dict[str, object]:
    return {
        "type": "modbus_tcp",
        "host": "127.0.0.1",
        "port": port,
        "unit": unit,
        "timeout_ms": timeout_ms,
        "retries": retries,
    }


def rtu(path: Path, unit: int, *, baudrate: int = 115200, timeout_ms: int = 300) -> dict[str, object]:
    return {"type": "modbus_rtu", "device": str(path), "baudrate": baudrate, "unit": unit, "timeout_ms": timeout_ms}


def write_site(
    directory: Path,
    devices: list[dict[str, Any]],
    *,
    socket_path: Path,
    name: str = "site.yaml",
    control: dict[str, Any] | None = None,
) -> Path:
    """Write a site file with ``devices`` (database in ``directory``) and return its path."""
    data: dict[str, Any] = {
        "site": {"id": "hil-test", "timezone": "UTC", "grid": {"import_limit_kw": 100, "export_limit_kw": 50}},
        "devices": devices,
        "storage": {"path": str(directory / "zoe.db")},
        "runtime": {"socket_path": str(socket_path), "log_level": "warning"},
    }
    if control is not None:
        data["control"] = control
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class FixedDecision:
    """What ``FixedEngine.step`` returns: the setpoints asked for, nothing else."""

    setpoints: dict[str, dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return {"setpoints": self.setpoints}


@dataclass
class FixedEngine:
    """Test double for the control engine: asks every cycle for ``setpoints`` (tests may change them)."""

    setpoints: dict[str, dict[str, float]] = field(default_factory=dict)
    steps: int = 0

    @property
    def hard_limits(self) -> dict[str, tuple[float, float]]:
        """Per-PCS (min, max) W the daemon's setpoint mixer clamps to: wide open (the device layer is under test)."""
        return {device: (-1e12, 1e12) for device, points in self.setpoints.items() if "p_set_w" in points}

    def step(self, snapshot: Snapshot, inputs: InputsView, now_mono: float) -> FixedDecision:
        self.steps += 1
        return FixedDecision({device: dict(points) for device, points in self.setpoints.items()})


@dataclass
class Hil:
    """A running simulated site and the daemon polling it, both in this process."""

    path: Path
    config: SiteConfig
    site: SimulatedSite
    daemon: Daemon
    engine: FixedEngine | None
    task: asyncio.Task[int]

    def value(self, device_id: str, point: str) -> float | None:
        """The daemon's FRESH numeric value of a point, else None."""
        return self.daemon.image.snapshot().devices[device_id].value(point)

    def online(self, device_id: str) -> bool:
        return self.daemon.image.snapshot().devices[device_id].online

    def all_fresh(self, device_ids: Iterable[str], *, slow_too: bool = False) -> bool:
        """Every listed device online with every point of its profile read and FRESH.

        ``slow_too=False`` accepts slow-class points that have gone STALE between their (rarer) reads.
        """
        devices = self.daemon.image.snapshot().devices
        for device_id in device_ids:
            state = devices[device_id]
            driver = self.config.device(device_id).driver
            points = load_profile(driver).points if driver != "sunspec" else {}
            if not state.online or not state.points or not set(points) <= set(state.points):
                return False
            for name, pv in state.points.items():
                slow = name in points and points[name].poll is PollClass.SLOW
                if pv.quality is not Quality.FRESH and (slow_too or not slow):
                    return False
        return True

    def model_value(self, device_id: str, point: str) -> float:
        value = self.site.models[device_id].points()[point]
        assert value is not None, f"simulated {device_id}.{point} has no value"
        return float(value)


class StartHil(Protocol):
    """The ``start_hil`` fixture: write the site file, start simulator and daemon, return both."""

    def __call__(
        self,
        devices: list[dict[str, Any]],
        *,
        engine: FixedEngine | None = None,
        control: dict[str, Any] | None = None,
        before_daemon: Callable[[SimulatedSite], None] | None = None,
    ) -> Awaitable[Hil]: ...


def resolution(profile: Profile, point: ProfilePoint, value: float) -> float:
    """Largest difference a correct read may show: one register step (or float rounding)."""
    if point.type in _FLOAT_TYPES:
        return 1e-5 * max(1.0, abs(value)) + 1e-6
    exponent = 0
    if point.scale_factor is not None:
        exponent = profile.scale_factors[point.scale_factor].simulated_value
    return abs(point.scale) * 10.0**exponent


def mismatches(hil: Hil, device_id: str) -> list[str]:
    """Points whose daemon value differs from the simulator's model by more than one register step."""
    device = hil.config.device(device_id)
    profile = load_profile(device.driver)
    state = hil.daemon.image.snapshot().devices[device_id]
    model_points = hil.site.models[device_id].points()
    problems: list[str] = []
    for name, spec in profile.points.items():
        if name in TIME_VARYING or name not in model_points or model_points[name] is None:
            continue
        expected = _as_float(model_points[name])
        got = state.value(name)
        reading = state.points.get(name)
        if got is None and spec.poll is PollClass.SLOW and reading is not None and reading.quality is Quality.STALE:
            got = float(reading.value) if isinstance(reading.value, (int, float)) else None  # read every 10th poll
        if got is None:
            problems.append(f"{device_id}.{name}: no fresh value (model {expected})")
            continue
        if abs(got - expected) > resolution(profile, spec, expected) * 1.01:
            problems.append(f"{device_id}.{name}: daemon {got} vs model {expected}")
    return problems


def compared_points(hil: Hil, device_id: str) -> list[str]:
    """The points ``mismatches`` compares for a device (to prove the comparison is not empty)."""
    profile = load_profile(hil.config.device(device_id).driver)
    model_points = hil.site.models[device_id].points()
    return [n for n in profile.points if n not in TIME_VARYING and model_points.get(n) is not None]


def accepted_writes(hil: Hil, device_id: str, point: str, since_mono: float = -math.inf) -> list[float]:
    """Values of ``point`` the simulated device accepted from writes that arrived after ``since_mono``."""
    return [
        record.setpoints[point]
        for record in hil.site.write_log(device_id)
        if record.accepted and point in record.setpoints and record.t_mono > since_mono
    ]


def _as_float(value: float | int | bool | Mapping[str, Any] | None) -> float:
    assert isinstance(value, (int, float)), value
    return float(value)
