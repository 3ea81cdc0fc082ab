"""Setpoint latency: from the instant before a signed `setpoint` command is published to a loopback mosquitto
until the simulated PCS receives the Modbus write, through the real daemon in its own process.

Path measured: publisher → mosquitto → daemon (aiomqtt, validation incl. the SQLite replay cache, ControlInputs,
control cycle, engine, PCS mixer, PCS link, Modbus TCP) → simulated PCS. The simulated site (grid meter, 50 kW
PCS, BMS) runs in this process on free loopback ports, so the PCS write log's ``t_mono`` (``time.monotonic()``
at the request's arrival in the simulator) and the publish instant share one clock. The daemon is
``python -m zoe_ems run --config SITE`` as a subprocess; mosquitto is started on a free loopback port.

The broker runs with ``set_tcp_nodelay true`` (mosquitto's default is false): with Nagle on the broker's socket a
command forwarded right after a small packet to the daemon (a PUBACK of its telemetry or acks) waits for the
daemon's delayed ACK, up to ~40 ms of broker behaviour that says nothing about the EMS; ``--stock-broker``
measures with the default anyway. The benchmark's own MQTT client sets TCP_NODELAY for the same reason.

Commands alternate between -20 kW and -10 kW (each supersedes the previous one) and are sent one at a time,
each after a random pause of 0..cycle_ms so that commands land at a uniformly random phase of the control
cycle. A command counts as delivered when a write of its exact value reaches the PCS; one that does not arrive
within 5 s counts as lost (and is reported, not hidden).

``--breakdown`` runs the daemon through a thin tracing wrapper (this file's internal ``--traced-daemon`` mode
patches a few methods to record ``time.monotonic()`` stamps, same clock) and reports per-stage percentiles:
publish → command handler entered (broker + aiomqtt) → validated (incl. the replay-cache fsync) → inputs
changed (ack) → control cycle started → PCS link asked → link starts the Modbus write → write arrives.

    python bench/setpoint_latency.py [--json] [--quick] [--commands N] [--cycle-ms MS] [--breakdown] [--stock-broker]

Progress goes to stderr; with --json the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import yaml

from simulators.site import SimulatedSite
from zoe_ems.config import load_site_config
from zoe_ems.northbound.signing import signed
from zoe_ems.northbound.timefmt import iso_utc

HERE = Path(__file__).resolve()
SITE_ID = "bench-site"
PCS = "battery_pcs"
TARGET_P99_MS = 50.0
VALUES_KW = (-20.0, -10.0)
DELIVERY_TIMEOUT_S = 5.0
KEY = os.urandom(32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the JSON result as the last stdout line")
    parser.add_argument("--quick", action="store_true", help="reduced run (under a minute)")
    parser.add_argument("--commands", type=int, default=None, help="measured commands (default 500, quick 120)")
    parser.add_argument("--cycle-ms", type=int, default=500, help="control.cycle_ms of the site (default 500)")
    parser.add_argument("--poll-ms", type=int, default=200, help="poll_ms of the grid meter and PCS (default 200)")
    parser.add_argument(
        "--stock-broker",
        action="store_true",
        help="mosquitto's default set_tcp_nodelay false (Nagle on the broker's sockets; adds ~40 ms stalls)",
    )
    parser.add_argument("--breakdown", action="store_true", help="trace the daemon's stages (adds a small overhead)")
    parser.add_argument("--traced-daemon", nargs=2, metavar=("SITE", "TRACE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.traced_daemon:
        return _run_traced_daemon(Path(args.traced_daemon[0]), Path(args.traced_daemon[1]))
    commands = args.commands if args.commands is not None else (120 if args.quick else 500)
    mosquitto = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if mosquitto is None:
        print("mosquitto not found (apt-get install mosquitto)", file=sys.stderr)
        return 2
    result = asyncio.run(run(mosquitto, commands, args.cycle_ms, args.poll_ms, args.breakdown, not args.stock_broker))
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0


async def run(
    mosquitto: str, commands: int, cycle_ms: int, poll_ms: int, breakdown: bool = False, nodelay: bool = False
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="zoe-bench-sp-", dir="/tmp") as tmp:
        directory = Path(tmp)
        async with _broker(mosquitto, directory, nodelay) as broker_port:
            site_path = _site_file(directory, broker_port, cycle_ms, poll_ms)
            site = SimulatedSite.from_config(load_site_config(site_path), realistic=False)
            site.load.set_base(0.0)
            await site.start()
            try:
                trace_path = directory / "trace.json" if breakdown else None
                broker = "mosquitto, set_tcp_nodelay true" if nodelay else "mosquitto, default config (Nagle on)"
                async with _daemon(site_path, directory, trace_path) as daemon:
                    result, samples = await _measure(site, daemon, broker_port, commands, cycle_ms, poll_ms)
                result["broker"] = broker
                if trace_path is not None:
                    result["daemon"] += " with stage tracing"
                    result["breakdown"] = _breakdown(samples, json.loads(trace_path.read_text()))
                return result
            finally:
                await site.stop()


Sample = tuple[str, float, float, float]
"""(command id, publish instant, target W, arrival instant at the PCS) — monotonic seconds."""


async def _measure(
    site: SimulatedSite, daemon: subprocess.Popen[bytes], port: int, commands: int, cycle_ms: int, poll_ms: int
) -> tuple[dict[str, Any], list[Sample]]:
    acks: dict[str, str] = {}
    online = asyncio.Event()
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"bench-{uuid.uuid4().hex[:8]}") as client:
        _no_nagle(client)
        await client.subscribe(f"zoe/{SITE_ID}/#", qos=1)

        async def pump() -> None:
            async for message in client.messages:
                payload = message.payload
                if not isinstance(payload, bytes | bytearray):
                    continue
                body = json.loads(payload)
                topic = str(message.topic)
                if topic.endswith("/status") and body.get("state") == "online":
                    online.set()
                elif topic.endswith("/ack") and isinstance(body.get("id"), str):
                    acks.setdefault(body["id"], body["status"])

        receiver = asyncio.create_task(pump())
        try:
            await _until(lambda: online.is_set() and _pcs_writes(site, 0.0, 0) != [], 60.0, daemon, "daemon ready")
            _progress("daemon online; warming up")
            for index in range(10):
                await _one(client, site, VALUES_KW[index % 2], daemon, cycle_ms)
            _progress(f"measuring {commands} commands (cycle {cycle_ms} ms, PCS poll {poll_ms} ms)")
            latencies_ms: list[float] = []
            puback_ms: list[float] = []
            lost: list[str] = []
            ids: list[str] = []
            samples: list[Sample] = []
            started = time.monotonic()
            for index in range(commands):
                outcome = await _one(client, site, VALUES_KW[index % 2], daemon, cycle_ms)
                ids.append(outcome[0])
                puback_ms.append(outcome[2] * 1000.0)
                if outcome[1] is None:
                    lost.append(outcome[0])
                else:
                    latencies_ms.append(outcome[1] * 1000.0)
                    samples.append((outcome[0], outcome[3], VALUES_KW[index % 2] * 1000.0, outcome[3] + outcome[1]))
                if (index + 1) % 50 == 0:
                    _progress(f"  {index + 1}/{commands}: p50 {_pct(latencies_ms, 0.5):.1f} ms")
            elapsed = time.monotonic() - started
            await _until(lambda: all(i in acks for i in ids), 10.0, daemon, "every ack")
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await receiver
    statuses = [acks.get(i, "missing") for i in ids]
    result = {
        "benchmark": "setpoint_latency",
        "commands": commands,
        "delivered": len(latencies_ms),
        "lost": len(lost),
        "acked_accepted": statuses.count("accepted"),
        "acked_other": len(statuses) - statuses.count("accepted"),
        "p50_ms": _ms(latencies_ms, 0.50),
        "p90_ms": _ms(latencies_ms, 0.90),
        "p99_ms": _ms(latencies_ms, 0.99),
        "max_ms": round(max(latencies_ms), 2) if latencies_ms else None,
        "mean_ms": round(statistics.fmean(latencies_ms), 2) if latencies_ms else None,
        "min_ms": round(min(latencies_ms), 2) if latencies_ms else None,
        "publish_puback_p50_ms": _ms(puback_ms, 0.50),
        "publish_puback_p99_ms": _ms(puback_ms, 0.99),
        "target_p99_ms": TARGET_P99_MS,
        "meets_target": bool(latencies_ms) and not lost and _pct(latencies_ms, 0.99) <= TARGET_P99_MS,
        "cycle_ms": cycle_ms,
        "pcs_poll_ms": poll_ms,
        "transport": "modbus_tcp loopback",
        "daemon": "separate process (python -m zoe_ems run)",
        "run_s": round(elapsed, 1),
    }
    return result, samples


async def _one(
    client: aiomqtt.Client, site: SimulatedSite, p_kw: float, daemon: subprocess.Popen[bytes], cycle_ms: int
) -> tuple[str, float | None, float, float]:
    """Publish one setpoint after a random pause; (id, latency s or None when lost, publish-to-PUBACK s, t0)."""
    await asyncio.sleep(random.uniform(0.0, cycle_ms / 1000.0))  # random phase against the control cycle
    now = time.time()
    message = signed(
        {
            "v": 1,
            "id": f"bench-{uuid.uuid4().hex[:16]}",
            "type": "setpoint",
            "issued_at": iso_utc(now),
            "valid_until": iso_utc(now + 60.0),
            "body": {"target": "battery", "p_kw": p_kw},
        },
        KEY,
    )
    payload = json.dumps(message).encode()
    target_w = p_kw * 1000.0
    seen = len(site.write_log(PCS))  # older writes cannot answer this command
    t0 = time.monotonic()
    await client.publish(f"zoe/{SITE_ID}/cmd", payload, qos=1)
    puback_s = time.monotonic() - t0
    deadline = t0 + DELIVERY_TIMEOUT_S
    while time.monotonic() < deadline:
        hit = next((t for t, p in _pcs_writes(site, t0, seen) if abs(p - target_w) < 1.0), None)
        if hit is not None:
            return message["id"], hit - t0, puback_s, t0
        if daemon.poll() is not None:
            raise RuntimeError(f"the daemon exited with {daemon.returncode}")
        await asyncio.sleep(0.005)  # polling the in-process write log; the latency comes from its timestamps
    return message["id"], None, puback_s, t0


def _pcs_writes(site: SimulatedSite, since_mono: float, start: int) -> list[tuple[float, float]]:
    """Accepted PCS power writes after ``since_mono``, looking only at log entries from index ``start`` on."""
    return [
        (r.t_mono, r.setpoints["p_set_w"])
        for r in site.write_log(PCS)[start:]
        if r.accepted and "p_set_w" in r.setpoints and r.t_mono > since_mono
    ]


def _site_file(directory: Path, broker_port: int, cycle_ms: int, poll_ms: int) -> Path:
    key_file = directory / "command.key"
    key_file.write_bytes(KEY)
    meter_port, battery_port = _free_port(), _free_port()

    def tcp(port: int, unit: int) -> dict[str, Any]:
        return {"type": "modbus_tcp", "host": "127.0.0.1", "port": port, "unit": unit, "timeout_ms": 300}

    data = {
        "site": {"id": SITE_ID, "timezone": "UTC", "grid": {"import_limit_kw": 100, "export_limit_kw": 50}},
        "devices": [
            {
                "id": "grid_meter",
                "kind": "meter",
                "role": "grid",
                "driver": "zoe_meter",
                "transport": tcp(meter_port, 1),
                "poll_ms": poll_ms,
            },
            {
                "id": PCS,
                "kind": "pcs",
                "driver": "zoe_pcs",
                "bms": "battery_bms",
                "rated_power_kw": 50,
                "transport": tcp(battery_port, 1),
                "poll_ms": poll_ms,
            },
            {
                "id": "battery_bms",
                "kind": "bms",
                "driver": "zoe_bms",
                "capacity_kwh": 100,
                "transport": tcp(battery_port, 2),
                "poll_ms": 1000,
            },
        ],
        "control": {"cycle_ms": cycle_ms},
        "northbound": {
            "mqtt": {"host": "127.0.0.1", "port": broker_port, "reconnect_min_s": 0.1, "reconnect_max_s": 1.0},
            "command_key_file": str(key_file),
            "telemetry_interval_s": 1,
        },
        "storage": {"path": str(directory / "zoe.db")},
        "runtime": {"socket_path": str(directory / "zoe.sock"), "log_level": "warning"},
    }
    path = directory / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def _broker(mosquitto: str, directory: Path, nodelay: bool) -> AsyncIterator[int]:
    port = _free_port()
    conf = directory / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nuser {getpass.getuser()}\nallow_anonymous true\n"
        "max_queued_messages 0\nmax_inflight_messages 0\nlog_type error\n"
        + ("set_tcp_nodelay true\n" if nodelay else "")
    )
    process = _spawn([mosquitto, "-c", str(conf)], directory / "broker.log")
    try:
        await _until(lambda: _listening(port), 10.0, process, f"mosquitto on port {port}")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.asynccontextmanager
async def _daemon(site_path: Path, directory: Path, trace_path: Path | None) -> AsyncIterator[subprocess.Popen[bytes]]:
    log_path = directory / "daemon.log"
    if trace_path is None:
        argv = [sys.executable, "-m", "zoe_ems", "run", "--config", str(site_path)]
    else:
        argv = [sys.executable, str(HERE), "--traced-daemon", str(site_path), str(trace_path)]
    process = _spawn(argv, log_path)
    try:
        yield process
    except BaseException:
        _progress("daemon log tail:\n" + log_path.read_text(errors="replace")[-3000:])
        raise
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _until(predicate: Any, timeout_s: float, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if process.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.01)


STAGES = ("received", "validated", "inputs_changed", "cycle_started", "link_asked", "write_started")


def _run_traced_daemon(site_path: Path, trace_path: Path) -> int:
    """The daemon with monotonic stamps at each stage of the setpoint path; the trace is written at exit."""
    from zoe_ems.northbound.commands import CommandProcessor
    from zoe_ems.northbound.validation import CommandValidator
    from zoe_ems.runtime.bridges import WakingNorthbound
    from zoe_ems.runtime.control_loop import ControlLoop
    from zoe_ems.runtime.daemon import Daemon
    from zoe_ems.runtime.logging import configure_logging
    from zoe_ems.site.poller import DeviceLink

    events: list[tuple[str, float, Any]] = []
    handle, validate, ack = CommandProcessor.handle, CommandValidator.validate, WakingNorthbound.ack
    run_once, set_setpoints, maybe_write = ControlLoop.run_once, DeviceLink.set_setpoints, DeviceLink._maybe_write

    async def traced_handle(self: CommandProcessor, payload: bytes) -> None:
        events.append(("received", time.monotonic(), None))
        await handle(self, payload)

    async def traced_validate(self: CommandValidator, payload: bytes) -> Any:
        outcome = await validate(self, payload)
        events.append(("validated", time.monotonic(), None))
        return outcome

    def traced_ack(self: WakingNorthbound, command_id: str | None, status: str, **kwargs: Any) -> None:
        if status == "accepted":
            events.append(("inputs_changed", time.monotonic(), command_id))
        ack(self, command_id, status, **kwargs)

    def traced_run_once(self: ControlLoop) -> Any:
        events.append(("cycle_started", time.monotonic(), None))
        return run_once(self)

    def traced_set_setpoints(self: DeviceLink, setpoints: Any) -> None:
        if self.config.id == PCS and "p_set_w" in setpoints:
            events.append(("link_asked", time.monotonic(), float(setpoints["p_set_w"])))
        set_setpoints(self, setpoints)

    async def traced_maybe_write(self: DeviceLink) -> None:
        if self.config.id == PCS and "p_set_w" in self._desired:
            events.append(("write_started", time.monotonic(), self._desired["p_set_w"]))
        await maybe_write(self)

    CommandProcessor.handle = traced_handle  # type: ignore[method-assign]
    CommandValidator.validate = traced_validate  # type: ignore[method-assign]
    WakingNorthbound.ack = traced_ack  # type: ignore[method-assign]
    ControlLoop.run_once = traced_run_once  # type: ignore[method-assign]
    DeviceLink.set_setpoints = traced_set_setpoints  # type: ignore[method-assign]
    DeviceLink._maybe_write = traced_maybe_write  # type: ignore[method-assign]
    config = load_site_config(site_path)
    configure_logging(config.runtime.log_level, config.runtime.log_format)
    code = asyncio.run(Daemon(config, site_path).run())
    trace_path.write_text(json.dumps(events))
    return code


def _breakdown(samples: list[Sample], events: list[list[Any]]) -> dict[str, Any]:
    """Per-stage durations (ms percentiles): each stage is the first matching stamp after the previous one."""
    by_stage: dict[str, list[tuple[float, Any]]] = {stage: [] for stage in STAGES}
    for name, t, value in events:
        by_stage[name].append((t, value))
    legs: dict[str, list[float]] = {}
    for command_id, t0, target_w, t_arrival in samples:
        previous, name_before = t0, "publish"
        stamps: dict[str, float] = {}
        for stage in STAGES:
            wants_value = stage in ("link_asked", "write_started")
            hit = next(
                (
                    t
                    for t, value in by_stage[stage]
                    if t >= previous
                    and (stage != "inputs_changed" or value == command_id)
                    and (not wants_value or abs(float(value) - target_w) < 1.0)
                ),
                None,
            )
            if hit is None or hit > t_arrival:
                break
            legs.setdefault(f"{name_before}->{stage}", []).append((hit - previous) * 1000.0)
            previous, name_before = hit, stage
            stamps[stage] = hit
        else:
            legs.setdefault(f"{name_before}->arrived", []).append((t_arrival - previous) * 1000.0)
            daemon_ms = (stamps["write_started"] - stamps["received"]) * 1000.0
            legs.setdefault("daemon_total(received->write_started)", []).append(daemon_ms)
    return {
        leg: {"n": len(values), "p50_ms": _ms(values, 0.5), "p99_ms": _ms(values, 0.99), "max_ms": _ms(values, 1.0)}
        for leg, values in legs.items()
    }


def _spawn(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a process whose output goes to ``log_path`` (a quick, non-waiting call)."""
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file)


def _no_nagle(client: aiomqtt.Client) -> None:
    """TCP_NODELAY on the publisher's socket: paho leaves Nagle on, so a PUBLISH sent right after one of this
    client's PUBACKs (it subscribes at QoS 1) waits for the broker's delayed ACK, ~40 ms that would be charged
    to the EMS."""
    sock = client._client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ms(values: list[float], q: float) -> float | None:
    return round(_pct(values, q), 2) if values else None


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
