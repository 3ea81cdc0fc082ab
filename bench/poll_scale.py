"""Poll scale: 10, 50, 100 and 200 simulated meters polled at 1 Hz over Modbus TCP by the real daemon.

For each size, a site file with N `zoe_meter` meters (poll_ms 1000; 10 unit ids per simulated TCP endpoint,
so 200 devices use 20 endpoints; the first meter is the grid meter, the others load meters) is served by
`python -m zoe_ems simulate --config F` in one process and polled by `python -m zoe_ems run --config F` in
another. Once every device is online, the benchmark measures for a fixed time, from the daemon:
missed poll deadlines and poll-interval p99 (`zoe-ems status --json`: `links.<id>.missed_deadlines`,
`interval_p99_s`), the CPU use of the daemon process in % of one core and its RSS (psutil).

Targets (issue 2): 200 devices with no missed deadlines, <= 25 % of one core, RSS <= 150 MB.

    python bench/poll_scale.py [--json] [--quick] [--duration S] [--sizes 10,50,100,200]

Progress goes to stderr; with --json the last stdout line is one JSON object. Never edits the product.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import yaml

from zoe_ems.runtime.status_socket import request

SIZES = (10, 50, 100, 200)
UNITS_PER_ENDPOINT = 10
POLL_MS = 1000
FULL_DURATION_S = 60.0
QUICK_DURATION_S = 8.0
QUICK_SIZES = (10, 200)
TARGET_DEVICES = 200
TARGET_CPU_PCT = 25.0
TARGET_RSS_MB = 150.0


def main() -> int:
    args = _arguments()
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else (QUICK_SIZES if args.quick else SIZES)
    duration_s = args.duration if args.duration is not None else (QUICK_DURATION_S if args.quick else FULL_DURATION_S)
    results = [_measure_or_report(n, duration_s) for n in sizes]
    report = {
        "benchmark": "poll_scale",
        "quick": bool(args.quick),
        "duration_s": duration_s,
        "poll_ms": POLL_MS,
        "units_per_endpoint": UNITS_PER_ENDPOINT,
        "results": results,
        "targets": {
            "devices": TARGET_DEVICES,
            "missed_deadlines": 0,
            "daemon_cpu_pct_one_core_max": TARGET_CPU_PCT,
            "daemon_rss_mb_max": TARGET_RSS_MB,
        },
        "targets_met": _targets_met(results),
        "machine": _machine(),
    }
    if args.json:
        print(json.dumps(report))
    else:
        for row in results:
            if "error" in row:
                print(f"{row['devices']:>4} devices: FAILED: {row['error']}")
                continue
            print(
                f"{row['devices']:>4} devices: missed {row['missed_deadlines']}, failures {row['failures']}, "
                f"poll ratio {row['poll_ratio']}, interval p99 max {row['interval_p99_s_max']} s, "
                f"CPU {row['daemon_cpu_pct_one_core']} %, RSS {row['daemon_rss_mb']} MB"
            )
        print(f"targets met: {report['targets_met']}")
    return 0


@dataclass
class _Run:
    directory: Path
    config: Path
    socket: Path
    device_ids: list[str]


async def measure(devices: int, duration_s: float) -> dict[str, Any]:
    """One size: start simulator and daemon, wait until all devices are online, measure for ``duration_s``."""
    run = _prepare(devices)
    _progress(f"{devices} devices: starting simulator and daemon ({run.config})")
    simulator = await _spawn("simulate", run, stdout=asyncio.subprocess.PIPE)
    daemon: asyncio.subprocess.Process | None = None
    try:
        await _wait_listening(simulator, devices, run)
        daemon = await _spawn("run", run, stdout=asyncio.subprocess.DEVNULL)
        online_after_s = await _wait_online(run, daemon, timeout_s=60.0 + devices * 0.2)
        _progress(f"{devices} devices: all online after {online_after_s:.1f} s; measuring {duration_s:g} s")
        daemon_ps, simulator_ps = psutil.Process(daemon.pid), psutil.Process(simulator.pid)
        before = await _status_cli(run)
        cpu0, sim_cpu0, t0 = _cpu_s(daemon_ps), _cpu_s(simulator_ps), time.monotonic()
        rss_max = daemon_ps.memory_info().rss
        while time.monotonic() - t0 < duration_s:
            await asyncio.sleep(min(1.0, max(0.0, duration_s - (time.monotonic() - t0))))
            rss_max = max(rss_max, daemon_ps.memory_info().rss)
        cpu1, sim_cpu1, t1 = _cpu_s(daemon_ps), _cpu_s(simulator_ps), time.monotonic()
        rss = daemon_ps.memory_info().rss
        after = await _status_cli(run)
        return _row(devices, run, before, after, t1 - t0, cpu1 - cpu0, sim_cpu1 - sim_cpu0, rss, rss_max)
    finally:
        for process in (daemon, simulator):
            if process is not None:
                await _terminate(process)
        shutil.rmtree(run.directory, ignore_errors=True)


# --- private helpers ---------------------------------------------------------------------------------


def _measure_or_report(devices: int, duration_s: float) -> dict[str, Any]:
    """One size; a failure becomes a row with ``error`` so the other sizes still report."""
    try:
        return asyncio.run(measure(devices, duration_s))
    except Exception as exc:
        _progress(f"{devices} devices: FAILED: {exc}")
        return {"devices": devices, "error": str(exc)[-2000:]}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, {QUICK_DURATION_S:g} s each")
    parser.add_argument("--duration", type=float, default=None, help="measurement seconds per size")
    parser.add_argument("--sizes", default=None, help="comma-separated device counts, e.g. 10,200")
    return parser.parse_args()


def _prepare(devices: int) -> _Run:
    directory = Path(tempfile.mkdtemp(prefix="zoe-poll-scale-", dir="/tmp"))
    endpoints = _free_ports((devices + UNITS_PER_ENDPOINT - 1) // UNITS_PER_ENDPOINT)
    entries: list[dict[str, Any]] = []
    for index in range(devices):
        port = endpoints[index // UNITS_PER_ENDPOINT]
        unit = index % UNITS_PER_ENDPOINT + 1
        entries.append(
            {
                "id": "grid_meter" if index == 0 else f"meter_{index:03d}",
                "kind": "meter",
                "role": "grid" if index == 0 else "load",
                "driver": "zoe_meter",
                "transport": {"type": "modbus_tcp", "host": "127.0.0.1", "port": port, "unit": unit, "timeout_ms": 500},
                "poll_ms": POLL_MS,
            }
        )
    socket_path = directory / "zoe.sock"
    site = {
        "site": {
            "id": f"poll-scale-{devices}",
            "timezone": "UTC",
            "grid": {"import_limit_kw": 400, "export_limit_kw": 100},
        },
        "devices": entries,
        "storage": {"path": str(directory / "zoe.db")},
        "runtime": {"socket_path": str(socket_path), "log_format": "json", "log_level": "warning"},
    }
    config = directory / "site.yaml"
    config.write_text(yaml.safe_dump(site, sort_keys=False), encoding="utf-8")
    return _Run(directory=directory, config=config, socket=socket_path, device_ids=[e["id"] for e in entries])


async def _spawn(command: str, run: _Run, *, stdout: int) -> asyncio.subprocess.Process:
    log = (run.directory / f"{command}.stderr").open("wb")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "zoe_ems",
            command,
            "--config",
            str(run.config),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout,
            stderr=log,
        )
    finally:
        log.close()


async def _wait_listening(simulator: asyncio.subprocess.Process, devices: int, run: _Run) -> None:
    """Read the simulator's listing until every device is listed (banner + one line per device)."""
    assert simulator.stdout is not None
    listed = 0
    async with asyncio.timeout(60.0 + devices * 0.2):
        while listed <= devices:
            line = await simulator.stdout.readline()
            if not line:
                code = await simulator.wait()
                errors = (run.directory / "simulate.stderr").read_text(encoding="utf-8", errors="replace")[-2000:]
                raise RuntimeError(f"simulator exited with {code} before listing all devices:\n{errors}")
            listed += 1
    # Keep draining its stdout so the simulator never blocks on a full pipe.
    asyncio.get_running_loop().create_task(_drain(simulator.stdout))


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


async def _wait_online(run: _Run, daemon: asyncio.subprocess.Process, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if daemon.returncode is not None:
            errors = (run.directory / "run.stderr").read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"daemon exited with {daemon.returncode}:\n{errors}")
        try:
            reply = await request(run.socket, {"cmd": "status"})
        except (OSError, TimeoutError, ConnectionError):
            reply = {}
        devices = reply.get("devices") or {}
        if len(devices) == len(run.device_ids) and all(d.get("online") for d in devices.values()):
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise RuntimeError(f"not every device came online within {timeout_s:g} s")


async def _status_cli(run: _Run) -> dict[str, Any]:
    """`zoe-ems status --json --config F`, as an operator would run it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "zoe_ems",
        "status",
        "--json",
        "--config",
        str(run.config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60.0)
    if process.returncode != 0:
        raise RuntimeError(f"zoe-ems status exited {process.returncode}: {err.decode()[-500:]}")
    reply: dict[str, Any] = json.loads(out)
    return reply


def _row(
    devices: int,
    run: _Run,
    before: dict[str, Any],
    after: dict[str, Any],
    elapsed_s: float,
    cpu_s: float,
    simulator_cpu_s: float,
    rss: int,
    rss_max: int,
) -> dict[str, Any]:
    links_before, links_after = before["links"], after["links"]

    def delta(field: str) -> int:
        return sum(int(links_after[d][field]) - int(links_before[d][field]) for d in run.device_ids)

    p99s = [float(links_after[d]["interval_p99_s"]) for d in run.device_ids if links_after[d]["interval_p99_s"]]
    polls = delta("polls")
    between_replies_s = float(after["uptime_s"]) - float(before["uptime_s"])  # the span the poll counts cover
    expected = between_replies_s * 1000.0 / POLL_MS * devices
    control = after.get("control") or {}
    return {
        "devices": devices,
        "endpoints": (devices + UNITS_PER_ENDPOINT - 1) // UNITS_PER_ENDPOINT,
        "measured_s": round(elapsed_s, 2),
        "polls": polls,
        "poll_ratio": round(polls / expected, 4) if expected else None,
        "missed_deadlines": delta("missed_deadlines"),
        "missed_deadlines_total": sum(int(links_after[d]["missed_deadlines"]) for d in run.device_ids),
        "failures": delta("failures"),
        "interval_p99_s_max": round(max(p99s), 4) if p99s else None,
        "interval_p99_s_median": round(statistics.median(p99s), 4) if p99s else None,
        "daemon_cpu_pct_one_core": round(100.0 * cpu_s / elapsed_s, 2),
        "daemon_rss_mb": round(rss / 2**20, 1),
        "daemon_rss_max_mb": round(rss_max / 2**20, 1),
        "simulator_cpu_pct_one_core": round(100.0 * simulator_cpu_s / elapsed_s, 2),
        "control_overruns": control.get("overruns"),
    }


def _targets_met(results: list[dict[str, Any]]) -> bool | None:
    rows = [r for r in results if r["devices"] >= TARGET_DEVICES]
    if not rows:
        return None
    return all(
        "error" not in r
        and r["missed_deadlines"] == 0
        and r["daemon_cpu_pct_one_core"] <= TARGET_CPU_PCT
        and r["daemon_rss_max_mb"] <= TARGET_RSS_MB
        for r in rows
    )


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def _terminate(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=20.0)
        except TimeoutError:
            process.kill()
            await process.wait()


def _free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 (all held open together, so none repeats)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
    }


def _progress(text: str) -> None:
    print(f"[poll_scale] {text}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
