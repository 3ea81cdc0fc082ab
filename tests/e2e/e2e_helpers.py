"""Helpers for the northbound end-to-end tests: a site file with a northbound section, a running stack
(mosquitto, simulated site, the real daemon with its real control engine, an MQTT test client) and
predicates on what the simulated PCS received.

Reuses the signing, broker and subscriber helpers of ``tests/northbound/nb_helpers.py`` (imported, not
copied). Owns nothing the product uses; never sleeps for synchronization (waits poll a predicate).
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiomqtt
import yaml

from simulators.site import SimulatedSite
from zoe_ems.config import SiteConfig
from zoe_ems.runtime.daemon import Daemon

_NORTHBOUND_TESTS = str(Path(__file__).resolve().parents[1] / "northbound")
if _NORTHBOUND_TESTS not in sys.path:
    sys.path.append(_NORTHBOUND_TESTS)

from nb_helpers import (  # noqa: E402 - found through the path added just above
    KEY,
    MOSQUITTO,
    Broker,
    Recorder,
    command,
    encode,
    free_port,
    subscriber,
    wait_until,
)

__all__ = [
    "KEY",
    "MOSQUITTO",
    "Broker",
    "E2e",
    "Recorder",
    "StartE2e",
    "command",
    "encode",
    "free_port",
    "site_file",
    "subscriber",
    "wait_until",
]

SITE_ID = "e2e-site"
CMD_TOPIC = f"zoe/{SITE_ID}/cmd"
PCS = "battery_pcs"
BMS = "battery_bms"
METER = "grid_meter"
PCS_RATED_KW = 50.0
IMPORT_LIMIT_KW = 100.0
EXPORT_LIMIT_KW = 50.0


def site_file(
    directory: Path,
    *,
    broker_port: int,
    key_file: Path,
    socket_path: Path,
    northbound: dict[str, Any] | None = None,
    control: dict[str, Any] | None = None,
    optimizer: dict[str, Any] | None = None,
) -> Path:
    """A small commercial site: grid meter, one 50 kW PCS with its 100 kWh BMS, 100 kW import / 50 kW export.

    Free loopback ports; fast polls and a 100 ms control cycle so the tests stay short.
    """
    meter_port, battery_port = free_port(), free_port()

    def tcp(port: int, unit: int) -> dict[str, Any]:
        return {"type": "modbus_tcp", "host": "127.0.0.1", "port": port, "unit": unit, "timeout_ms": 300}

    data: dict[str, Any] = {
        "site": {
            "id": SITE_ID,
            "timezone": "UTC",
            "grid": {"import_limit_kw": IMPORT_LIMIT_KW, "export_limit_kw": EXPORT_LIMIT_KW},
        },
        "devices": [
            {
                "id": METER,
                "kind": "meter",
                "role": "grid",
                "driver": "zoe_meter",
                "transport": tcp(meter_port, 1),
                "poll_ms": 100,
            },
            {
                "id": PCS,
                "kind": "pcs",
                "driver": "zoe_pcs",
                "bms": BMS,
                "rated_power_kw": PCS_RATED_KW,
                "transport": tcp(battery_port, 1),
                "poll_ms": 100,
            },
            {
                "id": BMS,
                "kind": "bms",
                "driver": "zoe_bms",
                "capacity_kwh": 100,
                "transport": tcp(battery_port, 2),
                "poll_ms": 200,
            },
        ],
        "control": {"cycle_ms": 100, "soc_min": 0.1, "soc_max": 0.95, **(control or {})},
        "northbound": {
            "mqtt": {"host": "127.0.0.1", "port": broker_port, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
            "command_key_file": str(key_file),
            "telemetry_interval_s": 1,
            **(northbound or {}),
        },
        **({"optimizer": optimizer} if optimizer is not None else {}),
        "storage": {"path": str(directory / "zoe.db")},
        "runtime": {"socket_path": str(socket_path), "log_level": "warning"},
    }
    path = directory / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class E2e:
    """A running stack: broker, simulated site, daemon (in this event loop) and a test MQTT client."""

    path: Path
    config: SiteConfig
    broker: Broker
    site: SimulatedSite
    daemon: Daemon
    task: asyncio.Task[int]
    recorder: Recorder
    client: aiomqtt.Client

    # -- commands and acks --------------------------------------------------------------------------------

    async def send(self, message: dict[str, Any] | bytes) -> None:
        """Publish one command (a dict is JSON-encoded as it is: signed or not is up to the caller)."""
        await self.client.publish(CMD_TOPIC, message if isinstance(message, bytes) else encode(message), qos=1)

    async def ack(self, command_id: str | None, status: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """The first ack with ``status`` for ``command_id`` (None: a command too broken to have an id)."""

        def found() -> dict[str, Any] | None:
            acks = self.recorder.on("ack")
            return next((a for a in acks if a.get("id") == command_id and a.get("status") == status), None)

        await wait_until(lambda: found() is not None, timeout_s, f"ack {status!r} for {command_id}")
        ack = found()
        assert ack is not None
        return ack

    # -- what the simulated PCS received ------------------------------------------------------------------

    def pcs_writes(self, since_mono: float = -math.inf) -> list[tuple[float, float]]:
        """(arrival time, p_set_w) of every accepted PCS power write that arrived after ``since_mono``."""
        return [
            (r.t_mono, r.setpoints["p_set_w"])
            for r in self.site.write_log(PCS)
            if r.accepted and "p_set_w" in r.setpoints and r.t_mono > since_mono
        ]

    def last_pcs_setpoint_w(self) -> float | None:
        writes = self.pcs_writes()
        return writes[-1][1] if writes else None

    async def pcs_reaches(
        self, target_w: float, tol_w: float, timeout_s: float = 10.0, since: float = -math.inf
    ) -> float:
        """Wait for a PCS write within ``tol_w`` of ``target_w`` after ``since``; return its arrival time."""

        def hit() -> float | None:
            return next((t for t, p in self.pcs_writes(since) if abs(p - target_w) <= tol_w), None)

        await wait_until(lambda: hit() is not None, timeout_s, f"a PCS write of {target_w:.0f} W ± {tol_w:.0f} W")
        found = hit()
        assert found is not None
        return found

    async def pcs_settles(self, target_w: float, tol_w: float, timeout_s: float = 10.0) -> None:
        """Wait until the latest PCS setpoint is within ``tol_w`` of ``target_w``."""

        def near() -> bool:
            last = self.last_pcs_setpoint_w()
            return last is not None and abs(last - target_w) <= tol_w

        await wait_until(near, timeout_s, f"the PCS setpoint to settle at {target_w:.0f} W ± {tol_w:.0f} W")

    async def quiet_period(self, cycles: int = 3, polls: int = 2, timeout_s: float = 10.0) -> None:
        """Let the daemon run ``cycles`` more control cycles and ``polls`` more PCS polls (bounded wait).

        After this, anything a command had put into the control inputs would have reached the PCS.
        """
        loop = self.daemon.loop
        link = self.daemon.links[PCS]
        target_cycles = loop.cycles + cycles
        await wait_until(lambda: loop.cycles >= target_cycles, timeout_s, f"{cycles} control cycles")
        target_polls = link.stats.polls + polls
        await wait_until(lambda: link.stats.polls >= target_polls, timeout_s, f"{polls} PCS polls")

    # -- the simulated site -----------------------------------------------------------------------------

    def grid_w(self) -> float:
        return self.site.grid_balance_w()

    def model_point(self, device_id: str, point: str) -> float:
        value = self.site.model(device_id).points()[point]
        assert isinstance(value, (int, float)), f"{device_id}.{point} = {value!r}"
        return float(value)

    async def steady(self, predicate: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
        await wait_until(predicate, timeout_s, what)


class StartE2e(Protocol):
    """``await start_e2e(load_kw=10, northbound={...}, control={...}, optimizer={...})``: the whole stack, running."""

    def __call__(
        self,
        *,
        load_kw: float = 0.0,
        northbound: dict[str, Any] | None = None,
        control: dict[str, Any] | None = None,
        optimizer: dict[str, Any] | None = None,
        before_daemon: Callable[[SimulatedSite], None] | None = None,
    ) -> Awaitable[E2e]: ...
