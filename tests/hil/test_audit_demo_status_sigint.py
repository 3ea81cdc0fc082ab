"""Audit of issue 2 §7 / issue 3 §6–7 with real processes: `zoe-ems demo` prints a live line per second
(SOC, grid, PV, load, EV, heat pump, binding controller), `zoe-ems status` (text) shows the binding chain
of the running daemon, and SIGINT (Ctrl-C) shuts the demo down cleanly with exit 0.

Never sleeps for synchronization: every wait reads a process pipe or polls with a deadline.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from pathlib import Path

import yaml
from hil_helpers import free_ports

REPO = Path(__file__).resolve().parents[2]
EXIT_NOT_RUNNING = 3
LIVE_LINE = re.compile(
    r"^\d\d:\d\d:\d\d SOC +(?P<soc>[\d.]+)% \| grid +(?P<grid>-?[\d.]+) kW \| PV +(?P<pv>-?[\d.]+) \| "
    r"load +(?P<load>-?[\d.]+) \| batt +-?[\d.]+ \| EV +(?P<ev>-?[\d.]+) \| HP SG(?P<hp>[1-4]) \| (?P<binding>.+)$"
)


def demo_on_free_ports(directory: Path, socket_path: Path) -> Path:
    """configs/demo.yaml on free loopback ports, its database in ``directory``, a short status socket."""
    data = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    original = sorted({device["transport"]["port"] for device in data["devices"]})
    ports = dict(zip(original, free_ports(len(original)), strict=True))
    for device in data["devices"]:
        device["transport"]["port"] = ports[device["transport"]["port"]]
    data["storage"]["path"] = str(directory / "zoe.db")
    data["runtime"] = {"socket_path": str(socket_path)}
    path = directory / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


async def zoe_ems(*args: str, timeout_s: float = 30.0) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zoe_ems", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_demo_prints_live_lines_status_shows_the_binding_chain_and_ctrl_c_exits_0(
    tmp_path: Path, short_dir: Path
) -> None:
    socket_path = short_dir / "zoe.sock"
    config = demo_on_free_ports(tmp_path, socket_path)
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zoe_ems", "demo", "--config", str(config),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert demo.stdout is not None
    try:
        header = (await asyncio.wait_for(demo.stdout.readline(), timeout=30.0)).decode()
        assert "demo-site" in header, header
        live: list[re.Match[str]] = []
        other: list[str] = []
        deadline = time.monotonic() + 60.0
        # Live lines whose binding text names a controller (the first lines may precede the first cycle).
        while not any(":" in m["binding"] and "battery" in m["binding"] for m in live[-1:]) or len(live) < 3:
            assert time.monotonic() < deadline, f"no live line with a binding controller; got {live} / {other}"
            raw = await asyncio.wait_for(demo.stdout.readline(), timeout=max(0.1, deadline - time.monotonic()))
            assert raw, "demo closed its output"
            text = raw.decode().rstrip("\n")
            match = LIVE_LINE.match(text)
            (live.append(match) if match else other.append(text))
        last = live[-1]
        assert 0.0 <= float(last["soc"]) <= 100.0
        pv, load, ev = (float(last[k]) for k in ("pv", "load", "ev"))
        assert ev >= 0.0, "EV consumption is positive (passive sign convention)"
        assert load >= 0.0, f"load is the balance grid - pv - battery - ev - heat pump: {last.string}"
        assert pv <= 0.0, "PV produces: negative (passive sign convention)"
        assert re.search(r"battery -?[\d.]+ kW: \w+ (bound|preferred)", last["binding"]), last["binding"]

        # `zoe-ems status` (text) reads the running daemon over its socket and shows the chain.
        code, out, err = await zoe_ems("status", "--config", str(config))
        assert code == 0, f"status of a running daemon exits 0: {code} {err}"
        chain = [line.strip() for line in out.splitlines() if line.strip().startswith("battery ")]
        assert chain, f"no battery chain line in status:\n{out}"
        assert re.match(r"battery -?[\d.]+ kW: (\w+ (bound|preferred) .+|default)$", chain[0]), chain[0]
        assert "grid_meter (meter/grid) online" in out, out

        demo.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(demo.wait(), timeout=20.0) == 0, "Ctrl-C: clean shutdown, exit 0"
        assert not socket_path.exists(), "the status socket is removed on shutdown"
        code, _, _ = await zoe_ems("status", "--config", str(config))
        assert code == EXIT_NOT_RUNNING
    finally:
        if demo.returncode is None:
            demo.kill()
            await demo.wait()
