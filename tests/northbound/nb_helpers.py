"""Helpers for the northbound tests: mosquitto process, site configs, signed commands, a recording subscriber."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt

from zoe_ems.config import SiteConfig
from zoe_ems.control.inputs import ControlInputs
from zoe_ems.northbound.service import NorthboundService
from zoe_ems.northbound.signing import signed
from zoe_ems.northbound.telemetry import TelemetryData
from zoe_ems.northbound.timefmt import iso_utc

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
KEY = b"test-command-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` every 10 ms until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class Broker:
    """A mosquitto process with a generated config in a temporary directory."""

    directory: Path
    port: int
    extra_config: str = ""
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert MOSQUITTO is not None
        conf = self.directory / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"user {getpass.getuser()}\n"  # as root, mosquitto would drop to a user who cannot read tmp_path
            "persistence true\n"
            f"persistence_location {self.directory}/\n"
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            "log_type error\n" + (self.extra_config or "allow_anonymous true\n")
        )
        with open(self.directory / "broker.log", "ab") as log_file:
            self.process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=log_file)
        wait_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def site_config(
    *, port: int, key_file: Path, site_id: str = "plant-7", mqtt: dict[str, Any] | None = None, **northbound: Any
) -> SiteConfig:
    """A small site: grid meter, one 100 kW PCS, 400 kW import / 50 kW export limits."""
    nb: dict[str, Any] = {
        "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5, **(mqtt or {})},
        "command_key_file": str(key_file),
        "telemetry_interval_s": 1,
    }
    nb.update(northbound)
    return SiteConfig(
        site={"id": site_id, "timezone": "Europe/Brussels", "grid": {"import_limit_kw": 400, "export_limit_kw": 50}},
        devices=[
            {
                "id": "grid_meter",
                "kind": "meter",
                "role": "grid",
                "driver": "sunspec",
                "transport": {"type": "modbus_tcp", "host": "127.0.0.1", "port": 1502},
            },
            {
                "id": "inverter1",
                "kind": "pcs",
                "driver": "sunspec",
                "rated_power_kw": 100,
                "transport": {"type": "modbus_tcp", "host": "127.0.0.1", "port": 1503},
            },
        ],
        northbound=nb,
    )


def command(
    command_type: str,
    body: dict[str, Any],
    *,
    command_id: str | None = None,
    issued_at: float | None = None,
    valid_for_s: float = 60.0,
    key: bytes | None = KEY,
) -> dict[str, Any]:
    """A command envelope, signed with ``key`` (unsigned when key is None)."""
    now = time.time() if issued_at is None else issued_at
    message = {
        "v": 1,
        "id": command_id or f"c-{uuid.uuid4().hex[:12]}",
        "type": command_type,
        "issued_at": iso_utc(now),
        "valid_until": iso_utc(now + valid_for_s),
        "body": body,
    }
    return signed(message, key) if key is not None else message


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()


@dataclass
class FakeSite:
    """Telemetry source standing in for the process image."""

    data: TelemetryData = field(
        default_factory=lambda: TelemetryData(grid_w=152_000.0, battery_w=-80_000.0, pv_w=-120_500.0, soc=0.63)
    )
    calls: int = 0

    def __call__(self) -> TelemetryData:
        self.calls += 1
        return self.data


@dataclass
class Recorder:
    """Messages received by a test subscriber, by topic suffix."""

    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def on(self, suffix: str) -> list[dict[str, Any]]:
        return [m for t, m in self.messages if t.endswith("/" + suffix)]

    def acks(self, command_id: str) -> list[dict[str, Any]]:
        return [m for m in self.on("ack") if m.get("id") == command_id]

    def statuses(self, command_id: str) -> list[str]:
        return [str(m["status"]) for m in self.acks(command_id)]


@contextlib.asynccontextmanager
async def subscriber(
    port: int,
    topic: str = "zoe/#",
    *,
    client_id: str | None = None,
    tls_context: Any = None,
) -> AsyncIterator[tuple[Recorder, aiomqtt.Client]]:
    """A subscriber that records every JSON message; persistent session when ``client_id`` is given."""
    recorder = Recorder()
    client = aiomqtt.Client(
        "127.0.0.1",
        port,
        identifier=client_id,
        clean_session=False if client_id else None,
        tls_context=tls_context,
    )
    async with client:
        await client.subscribe(topic, qos=1)

        async def pump() -> None:
            async for message in client.messages:
                payload = message.payload
                assert isinstance(payload, bytes | bytearray)
                try:
                    decoded = json.loads(payload)
                except ValueError:
                    decoded = {"_raw": bytes(payload).decode(errors="replace")}
                recorder.messages.append(
                    (str(message.topic), decoded if isinstance(decoded, dict) else {"_raw": decoded})
                )

        task = asyncio.create_task(pump())
        try:
            yield recorder, client
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


@contextlib.asynccontextmanager
async def running(service: NorthboundService) -> AsyncIterator[NorthboundService]:
    task = asyncio.create_task(service.run())
    try:
        await wait_until(lambda: service.connected or task.done(), 10, "service connected")
        if task.done():
            task.result()
        yield service
    finally:
        await service.stop()
        await asyncio.wait_for(task, 10)


def make_service(config: SiteConfig, tmp_path: Path, **kwargs: Any) -> tuple[NorthboundService, ControlInputs]:
    inputs = ControlInputs()
    source = kwargs.pop("telemetry_source", None) or FakeSite()
    history = kwargs.pop("history", None)
    service = NorthboundService(config, inputs, source, history, tmp_path / "zoe.db", **kwargs)
    return service, inputs
