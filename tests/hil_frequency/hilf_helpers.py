"""Helpers for the frequency-service hardware-in-the-loop tests: site files on free loopback ports (the grid
meter uses the bundled ``zoe_meter`` profile, 1 mHz frequency resolution), frequency steps timed by the
simulator, and PCS write logs.

Owns nothing the product uses; never sleeps for synchronization (``wait_until`` polls a predicate).
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from simulators.site import SimulatedSite
from zoe_ems.config import SiteConfig
from zoe_ems.frequency.fast_path import FastPath
from zoe_ems.runtime.daemon import Daemon

PCS_RATED_KW = 200.0
POWER_KW = 100.0
"""Contracted power of the service under test."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll ``predicate`` every 5 ms until it holds; return the seconds waited; fail after ``timeout_s``."""
    start = time.monotonic()
    deadline = start + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


def write_site(
    directory: Path,
    *,
    socket_path: Path,
    control: dict[str, Any],
    capacity_kwh: float = 2 * PCS_RATED_KW,
) -> Path:
    """Grid meter (bundled zoe_meter, 1 mHz), 200 kW PCS and its BMS on loopback; every other controller off, so
    the PCS setpoint is the frequency response (plus the SOC recovery when the test asks for it)."""
    meter_port, battery_port = free_port(), free_port()

    def tcp(port: int, unit: int) -> dict[str, Any]:
        return {"type": "modbus_tcp", "host": "127.0.0.1", "port": port, "unit": unit, "timeout_ms": 200}

    quiet = {
        "self_consumption": {"enabled": False},
        "peak_shaving": {"enabled": False},
        "export_limit": {"enabled": False},
    }
    data: dict[str, Any] = {
        "site": {"id": "hil-frequency", "timezone": "UTC", "grid": {"import_limit_kw": 1000, "export_limit_kw": 1000}},
        "devices": [
            {
                "id": "grid_meter",
                "kind": "meter",
                "role": "grid",
                "driver": "zoe_meter",  # the bundled profile: frequency in 1 mHz
                "transport": tcp(meter_port, 1),
                "poll_ms": 200,
            },
            {
                "id": "pcs",
                "kind": "pcs",
                "driver": "zoe_pcs",
                "bms": "bms",
                "rated_power_kw": PCS_RATED_KW,
                "transport": tcp(battery_port, 1),
                "poll_ms": 100,
            },
            {
                "id": "bms",
                "kind": "bms",
                "driver": "zoe_bms",
                "capacity_kwh": capacity_kwh,
                "transport": tcp(battery_port, 2),
                "poll_ms": 200,
            },
        ],
        "control": {**quiet, **control},
        "storage": {"path": str(directory / "zoe.db")},
        "runtime": {"socket_path": str(socket_path), "log_level": "warning"},
    }
    path = directory / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class Write:
    """One accepted ``p_set_w`` write as it arrived at the simulated PCS."""

    t_mono: float
    p_w: float


@dataclass
class FrequencyHil:
    """A simulated site and the real daemon with its fast frequency path, both in this event loop."""

    path: Path
    config: SiteConfig
    site: SimulatedSite
    daemon: Daemon
    task: asyncio.Task[int]

    # -- frequency -----------------------------------------------------------------------------------------------

    def step(self, hz: float) -> float:
        """Hold ``hz`` from now; returns the monotonic instant the simulated meter reports it."""
        self.site.frequency.set(hz)
        change = self.site.frequency.last_change()
        assert change is not None and change.hz == hz
        return change.t_mono

    @property
    def fast(self) -> FastPath:
        fast = self.daemon.fast_path
        assert fast is not None, "the daemon built no fast path"
        return fast

    def accepted(self) -> int:
        return self.daemon.responder.filter.accepted

    async def wait_accepted(self, hz: float, samples: int = 3, timeout_s: float = 3.0) -> None:
        """Until the fast path has accepted ``samples`` samples of ``hz`` (after the call)."""
        start = self.accepted()
        flt = self.daemon.responder.filter

        def done() -> bool:
            return (
                flt.last_hz is not None
                and math.isclose(flt.last_hz, hz, abs_tol=5e-4)
                and flt.accepted >= start + samples
            )

        await wait_until(done, timeout_s, f"{samples} accepted samples of {hz} Hz")

    # -- the PCS -------------------------------------------------------------------------------------------------

    def writes(self, since_mono: float = -math.inf) -> list[Write]:
        """Accepted ``p_set_w`` writes that reached the simulated PCS after ``since_mono``."""
        return [
            Write(record.t_mono, record.setpoints["p_set_w"])
            for record in self.site.write_log("pcs")
            if record.accepted and "p_set_w" in record.setpoints and record.t_mono > since_mono
        ]

    async def wait_write(
        self, accept: Callable[[float], bool], after_mono: float, timeout_s: float, what: str
    ) -> Write:
        """The first write after ``after_mono`` whose value ``accept`` takes; fails after ``timeout_s``."""
        found: list[Write] = []

        def done() -> bool:
            found[:] = [w for w in self.writes(after_mono) if accept(w.p_w)][:1]
            return bool(found)

        await wait_until(done, timeout_s, what)
        return found[0]

    async def expect_setpoint(self, expected_w: float, after_mono: float, tolerance_w: float = 500.0) -> Write:
        """The PCS settles on ``expected_w``: some write after ``after_mono`` has it, and it is still the last one
        after three more accepted samples."""
        if not any(abs(w.p_w - expected_w) <= tolerance_w for w in self.writes(after_mono)) and (
            abs(self.last_setpoint() - expected_w) > tolerance_w
        ):
            await self.wait_write(
                lambda w: abs(w - expected_w) <= tolerance_w, after_mono, 3.0, f"a PCS write of {expected_w:.0f} W"
            )
        start = self.accepted()
        await wait_until(lambda: self.accepted() >= start + 3, 3.0, "three more accepted samples")
        last = self.last_write()
        assert abs(last.p_w - expected_w) <= tolerance_w, (
            f"PCS last written {last.p_w:.0f} W, expected {expected_w:.0f}"
        )
        return last

    def last_write(self) -> Write:
        writes = self.writes()
        assert writes, "the PCS received no setpoint"
        return writes[-1]

    def last_setpoint(self) -> float:
        writes = self.writes()
        return writes[-1].p_w if writes else math.nan

    # -- daemon state --------------------------------------------------------------------------------------------

    def frequency_status(self) -> dict[str, Any]:
        status = self.daemon.status()["frequency"]
        assert status is not None, "status shows no frequency section: no service armed"
        return dict(status)

    def service_state(self, name: str) -> str:
        for service in self.frequency_status()["services"]:
            if service["name"] == name:
                return str(service["state"])
        raise AssertionError(f"service {name} not in status")

    def alarm_codes(self) -> set[str]:
        decision = self.daemon.status()["control"]["decision"]
        return {alarm["code"] for alarm in decision["alarms"]} if decision else set()


async def stop_daemon(hil: FrequencyHil, timeout_s: float = 15.0) -> int:
    """Ask the daemon to stop and return its exit code. A shutdown that hangs fails the test (naming the tasks still
    running) after cancelling every other task of the loop, instead of hanging the whole session."""
    if not hil.task.done():
        hil.daemon.request_stop()
        done, _ = await asyncio.wait({hil.task}, timeout=timeout_s)
        if not done:
            me = asyncio.current_task()
            stuck = sorted(t.get_name() for t in asyncio.all_tasks() if t is not me and not t.done())
            for task in asyncio.all_tasks():
                if task is not me:
                    task.cancel()
            raise AssertionError(f"the daemon did not stop within {timeout_s} s; tasks still running: {stuck}")
    return hil.task.result()


class StartFrequencyHil(Protocol):
    """The ``start_frequency_hil`` fixture."""

    def __call__(
        self,
        control: dict[str, Any],
        *,
        capacity_kwh: float = 2 * PCS_RATED_KW,
        initial_soc: float = 0.5,
        initial_hz: float = 50.0,
        wait_available: bool = True,
    ) -> Awaitable[FrequencyHil]: ...


def ffr(**overrides: Any) -> dict[str, Any]:
    """``control.ffr`` armed at 49.7 Hz / 100 kW with the 5 s support."""
    return {"enabled": True, "trigger_hz": 49.7, "power_kw": POWER_KW, "support_s": 5, **overrides}
