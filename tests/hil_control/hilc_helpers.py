"""Helpers for the control hardware-in-the-loop tests: site files on free loopback ports, waiting for a
condition with a deadline, recording grid-meter samples as the daemon's process image receives them, and
reading the simulators' write logs.

Owns nothing the product uses; never sleeps for synchronization (``wait_until`` polls a predicate).
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from simulators.site import SimulatedSite
from zoe_ems.config import SiteConfig
from zoe_ems.control.controllers.base import Controller
from zoe_ems.control.decision import Decision
from zoe_ems.control.engine import ControlEngine
from zoe_ems.control.inputs import InputsView
from zoe_ems.runtime.daemon import Daemon
from zoe_ems.site.points import PointValue, Snapshot

if TYPE_CHECKING:
    from hilc_lockstep import Lockstep

Device = dict[str, Any]


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


def tcp(port: int, unit: int = 1, *, timeout_ms: int = 300, retries: int = 1) -> dict[str, object]:
    """Modbus TCP on loopback. 300 ms and one retry: a silent device is detected within about 0.6 s, and a loaded
    test machine (2 cores shared with other jobs) does not make healthy devices look silent."""
    return {
        "type": "modbus_tcp",
        "host": "127.0.0.1",
        "port": port,
        "unit": unit,
        "timeout_ms": timeout_ms,
        "retries": retries,
    }


# -- devices (each on its own free port unless a port is given) -------------------------------------------------


def grid_meter(*, poll_ms: int = 100, port: int | None = None) -> Device:
    return {
        "id": "grid_meter",
        "kind": "meter",
        "role": "grid",
        "driver": "zoe_meter",
        "transport": tcp(port or free_port()),
        "poll_ms": poll_ms,
    }


def battery(*, rated_kw: float, capacity_kwh: float, pcs_poll_ms: int = 100, bms_poll_ms: int = 200) -> list[Device]:
    """PCS + BMS behind one gateway (two unit ids on one port), like the demo site."""
    port = free_port()
    return [
        {
            "id": "pcs",
            "kind": "pcs",
            "driver": "zoe_pcs",
            "bms": "bms",
            "rated_power_kw": rated_kw,
            "transport": tcp(port, 1),
            "poll_ms": pcs_poll_ms,
        },
        {
            "id": "bms",
            "kind": "bms",
            "driver": "zoe_bms",
            "capacity_kwh": capacity_kwh,
            "transport": tcp(port, 2),
            "poll_ms": bms_poll_ms,
        },
    ]


def pv_inverter(*, rated_kw: float, poll_ms: int = 100) -> Device:
    return {
        "id": "pv",
        "kind": "pv_inverter",
        "driver": "zoe_pv",
        "rated_power_kw": rated_kw,
        "transport": tcp(free_port()),
        "poll_ms": poll_ms,
    }


def ev_charger(*, max_current_a: float = 32.0, phases: int = 3, poll_ms: int = 100) -> Device:
    return {
        "id": "evse",
        "kind": "ev_charger",
        "driver": "zoe_evse",
        "phases": phases,
        "max_current_a": max_current_a,
        "transport": tcp(free_port()),
        "poll_ms": poll_ms,
    }


def heat_pump(*, rated_kw: float = 5.0, poll_ms: int = 100) -> Device:
    return {
        "id": "heat_pump",
        "kind": "sg_ready",
        "driver": "zoe_sgready",
        "rated_power_kw": rated_kw,
        "transport": tcp(free_port()),
        "poll_ms": poll_ms,
    }


def write_site(
    directory: Path,
    devices: list[Device],
    *,
    socket_path: Path,
    import_kw: float,
    export_kw: float,
    control: dict[str, Any] | None = None,
    timezone: str = "UTC",
) -> Path:
    """Write a site file (database in ``directory``) and return its path."""
    data: dict[str, Any] = {
        "site": {
            "id": "hil-control",
            "timezone": timezone,
            "latitude": 50.85,
            "longitude": 4.35,
            "grid": {"import_limit_kw": import_kw, "export_limit_kw": export_kw},
        },
        "devices": devices,
        "control": control or {},
        "storage": {"path": str(directory / "zoe.db")},
        "runtime": {"socket_path": str(socket_path), "log_level": "warning"},
    }
    path = directory / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# -- the running daemon ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One grid-meter reading as the process image received it."""

    t_mono: float
    p_w: float
    cycles: int
    """Control cycles completed when the reading arrived."""


@dataclass
class ControlHil:
    """A simulated site and the real daemon (real ControlEngine) controlling it, both in this event loop."""

    path: Path
    config: SiteConfig
    site: SimulatedSite
    daemon: Daemon
    task: asyncio.Task[int]
    meter: list[MeterSample] = field(default_factory=list)
    """Every grid-meter p_w reading since start, with the cycle count at its arrival."""

    @property
    def engine(self) -> RecordingEngine:
        """The daemon's engine (the fixture always runs a RecordingEngine)."""
        engine = self.daemon.engine
        assert isinstance(engine, RecordingEngine)
        return engine

    def decisions_since(self, t_mono: float) -> list[Decision]:
        return [decision for t, decision in self.engine.decisions if t >= t_mono]

    def first_alarm(self, code: str, after_mono: float) -> float:
        """Monotonic time of the first decision after ``after_mono`` that raised ``code``."""
        return next(
            t for t, d in self.engine.decisions if t > after_mono and any(alarm.code == code for alarm in d.alarms)
        )

    @property
    def cycles(self) -> int:
        return self.daemon.loop.cycles

    def alarm_codes(self) -> set[str]:
        """Alarm codes of the last control decision, as ``daemon.status()`` shows them."""
        decision = self.daemon.status()["control"]["decision"]
        return {alarm["code"] for alarm in decision["alarms"]} if decision else set()

    def mode(self) -> str | None:
        decision = self.daemon.status()["control"]["decision"]
        return str(decision["record"]["mode"]) if decision else None

    def setpoint(self, device_id: str, point: str) -> float | None:
        """What the last decision asked of a device (None: no command this cycle)."""
        decision = self.daemon.loop.last_decision
        if decision is None:
            return None
        value = decision.setpoints.get(device_id, {}).get(point)
        return None if value is None else float(value)

    def measured(self, device_id: str, point: str) -> float | None:
        """The daemon's FRESH value of a point, else None."""
        return self.daemon.image.snapshot().devices[device_id].value(point)

    def record_meter(self) -> None:
        """Start recording grid-meter samples (called by the fixture before the daemon runs)."""

        def on_update(_device: str, _point: str, value: PointValue) -> None:
            if isinstance(value.value, (int, float)):
                self.meter.append(MeterSample(value.ts_mono, float(value.value), self.daemon.loop.cycles))

        self.daemon.image.subscribe("grid_meter", "p_w", on_update)


class StartControlHil(Protocol):
    """The ``start_control_hil`` fixture."""

    def __call__(
        self,
        devices: list[Device],
        *,
        import_kw: float,
        export_kw: float,
        control: dict[str, Any] | None = None,
        initial_soc: float = 0.5,
        prepare: Callable[[SimulatedSite], None] | None = None,
        extra_controllers: Sequence[Controller] = (),
    ) -> Awaitable[ControlHil]: ...


class StartLockstep(Protocol):
    """The ``start_lockstep`` fixture."""

    def __call__(
        self,
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
    ) -> Awaitable[Lockstep]: ...


class RecordingEngine(ControlEngine):
    """The real ControlEngine, keeping ``(now_mono, decision)`` of every cycle for the test to inspect."""

    def __init__(self, config: SiteConfig, extra_controllers: Sequence[Controller] = ()) -> None:
        super().__init__(config, extra_controllers)
        self.decisions: list[tuple[float, Decision]] = []

    def step(self, snapshot: Snapshot, inputs: InputsView, now_mono: float) -> Decision:
        decision = super().step(snapshot, inputs, now_mono)
        self.decisions.append((now_mono, decision))
        return decision


# -- simulator write logs ----------------------------------------------------------------------------------------


def accepted(
    site: SimulatedSite, device_id: str, point: str, since_mono: float = -math.inf
) -> list[tuple[float, float]]:
    """``(arrival time, value)`` of every accepted write of ``point`` to a simulated device after ``since_mono``."""
    return [
        (record.t_mono, record.setpoints[point])
        for record in site.write_log(device_id)
        if record.accepted and point in record.setpoints and record.t_mono > since_mono
    ]


def sg_state_changes(site: SimulatedSite, device_id: str) -> list[tuple[float, int]]:
    """``(arrival time, new SG-Ready state)`` for every accepted relay write that changed the state."""
    from drivers.points import sg_ready_state

    relay1 = relay2 = False
    state = sg_ready_state(relay1, relay2)
    changes: list[tuple[float, int]] = []
    for record in site.write_log(device_id):
        if not record.accepted:
            continue
        relay1 = bool(record.setpoints.get("relay1", relay1))
        relay2 = bool(record.setpoints.get("relay2", relay2))
        new = sg_ready_state(relay1, relay2)
        if new != state:
            changes.append((record.t_mono, new))
            state = new
    return changes
