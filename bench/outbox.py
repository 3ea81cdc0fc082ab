"""Outbox benchmark: append throughput, and drain of a 24-hour backlog (86,400 messages at 1 s telemetry)
to a mosquitto broker on loopback with zero loss.

    python bench/outbox.py [--json] [--quick] [--rate MSG_PER_S]

Progress goes to stderr; the last line of stdout is one JSON object. Targets: append >= 20,000 msg/s,
drain <= 120 s, lost == 0. Needs the mosquitto binary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt

from zoe_ems.northbound.publisher import OutboxPublisher
from zoe_ems.storage.outbox import Outbox

TOPIC = "zoe/bench-site/telemetry"
KEY = b"bench-key-0123456789abcdef"
TELEMETRY_DATA = {
    "grid_kw": 152.0, "battery_kw": -80.0, "pv_kw": -120.5, "load_kw": 312.5, "ev_kw": 40.0, "soc": 0.63,
    "frequency_hz": 49.998, "available_charge_kw": 170.0, "available_discharge_kw": 250.0, "mode": "auto",
    "active_command_id": "c-000123", "response_status": "responding",
}  # fmt: skip


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def telemetry(index: int) -> dict[str, Any]:
    return {"v": 1, "site_id": "bench-site", "ts": f"2026-11-22T10:{index % 60:02d}:00.000Z", "data": TELEMETRY_DATA}


async def bench_append(directory: Path, count: int) -> dict[str, float]:
    outbox = Outbox(directory / "append.db")
    outbox.open()
    start = time.perf_counter()
    loop_time = 0.0
    for index in range(count):
        t0 = time.perf_counter()
        outbox.append(TOPIC, "telemetry", telemetry(index))
        loop_time += time.perf_counter() - t0
        if index % 5000 == 4999:
            await asyncio.sleep(0)  # let the loop breathe as a daemon would
    await outbox.flush()
    elapsed = time.perf_counter() - start
    outbox.close()
    return {
        "append_messages": count,
        "append_s": round(elapsed, 3),
        "append_msg_per_s": round(count / elapsed),
        "append_loop_us_per_msg": round(loop_time / count * 1e6, 2),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SUBSCRIBER = """
import json, sys
import paho.mqtt.client as mqtt
out = open(sys.argv[2], "w")
def on_connect(client, userdata, flags, reason, properties):
    client.subscribe(sys.argv[3], qos=1)
def on_subscribe(client, userdata, mid, reasons, properties):
    print("subscribed", flush=True)
def on_message(client, userdata, message):
    out.write(str(json.loads(message.payload)["seq"]) + "\\n")
    out.flush()
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-sub")
client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
client.connect("127.0.0.1", int(sys.argv[1]))
client.loop_forever()
"""


def start_broker(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(mosquitto).exists():
        raise SystemExit("the mosquitto binary is required (apt-get install mosquitto)")
    port = free_port()
    conf = directory / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n"
        f"max_inflight_messages 0\nuser {getpass.getuser()}\n"
    )
    broker = subprocess.Popen([mosquitto, "-c", str(conf)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return broker, port
        if time.monotonic() > deadline:
            raise SystemExit("mosquitto did not start")
        time.sleep(0.05)


def start_subscriber(port: int, out: Path) -> subprocess.Popen[str]:
    """A subscriber in its own process (own core) writing one received seq per line."""
    process = subprocess.Popen(
        [sys.executable, "-c", SUBSCRIBER, str(port), str(out), TOPIC], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "subscribed":
        raise SystemExit("the benchmark subscriber did not subscribe")
    return process


def received_seqs(out: Path, expected: int, timeout_s: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while True:
        lines = out.read_text().split()
        if len(lines) >= expected or time.monotonic() > deadline:
            return [int(x) for x in lines]
        time.sleep(0.2)


async def bench_drain(directory: Path, port: int, count: int, rate: float, max_in_flight: int) -> dict[str, Any]:
    outbox = Outbox(directory / "drain.db", quota_bytes=10**10)
    outbox.open()
    log(f"filling the outbox with {count} messages")
    for index in range(count):
        outbox.append(TOPIC, "telemetry", telemetry(index))
    await outbox.flush()
    publisher = OutboxPublisher(outbox, KEY, historical_rate_per_s=rate, max_in_flight=max_in_flight)
    client = aiomqtt.Client("127.0.0.1", port, identifier="bench-pub", max_inflight_messages=max_in_flight)
    client.pending_calls_threshold = max_in_flight + 10
    async with client:
        start = time.perf_counter()
        task = asyncio.create_task(publisher.run(client))
        last_report = start
        while publisher.published_total < count:
            await asyncio.sleep(0.2)
            if task.done():
                task.result()
            if time.perf_counter() - last_report > 10:
                last_report = time.perf_counter()
                log(f"  {publisher.published_total}/{count} acknowledged after {last_report - start:.0f} s")
        drain_s = time.perf_counter() - start
        await asyncio.sleep(0.3)  # let the last batch of deletes reach the writer
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    remaining = (await outbox.stats()).rows
    outbox.close()
    return {
        "drain_messages": count,
        "drain_s": round(drain_s, 2),
        "drain_msg_per_s": round(count / drain_s),
        "historical_rate_limit_per_s": rate,
        "outbox_rows_left": remaining,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print only the JSON result on stdout")
    parser.add_argument("--quick", action="store_true", help="reduced run (under a minute)")
    parser.add_argument("--rate", type=float, default=1000.0, help="historical replay rate (msg/s), as configured")
    parser.add_argument("--max-in-flight", type=int, default=64)
    args = parser.parse_args()
    append_count = 50_000 if args.quick else 200_000
    drain_count = 10_000 if args.quick else 86_400
    result: dict[str, Any] = {"benchmark": "outbox", "quick": args.quick}
    with tempfile.TemporaryDirectory(prefix="zoe-outbox-bench-") as tmp:
        directory = Path(tmp)
        log(f"append: {append_count} messages")
        result.update(asyncio.run(bench_append(directory, append_count)))
        log(f"  {result['append_msg_per_s']} msg/s")
        broker, port = start_broker(directory)
        out = directory / "received.txt"
        subscriber = start_subscriber(port, out)
        try:
            log(f"drain: {drain_count} messages at <= {args.rate:.0f} msg/s")
            result.update(asyncio.run(bench_drain(directory, port, drain_count, args.rate, args.max_in_flight)))
            seqs = received_seqs(out, drain_count)
        finally:
            subscriber.terminate()
            subscriber.wait(timeout=10)
            broker.terminate()
            broker.wait(timeout=10)
    unique = set(seqs)
    result["received_total"] = len(seqs)
    result["received_unique"] = len(unique)
    result["lost"] = len(set(range(1, drain_count + 1)) - unique)
    result["targets"] = {"append_msg_per_s": 20_000, "drain_s": None if args.quick else 120, "lost": 0}
    result["pass"] = (
        result["append_msg_per_s"] >= 20_000 and result["lost"] == 0 and (args.quick or result["drain_s"] <= 120)
    )
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
