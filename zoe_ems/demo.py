"""`zoe-ems demo`: the simulated site and the daemon in one process, with a live status line per second.

Uses the bundled ``configs/demo.yaml`` unless another site file is given. Logs go to stderr at warning
level so the status line stays readable.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from drivers.points import DeviceKind, sg_ready_state
from zoe_ems.site.points import Snapshot

BUNDLED_DEMO = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"


def status_line(snapshot: Snapshot, decision: dict[str, Any] | None) -> str:
    """One line: time, SOC, grid, PV, load, battery, EV, heat pump state, binding controller."""

    def total(kind: DeviceKind, point: str, role: str | None = None) -> float | None:
        values = [d.value(point) for d in snapshot.of_kind(kind, role)]
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    grid = total(DeviceKind.METER, "p_w", "grid")
    pv = total(DeviceKind.PV_INVERTER, "p_w")
    battery = total(DeviceKind.PCS, "p_w")
    ev = total(DeviceKind.EV_CHARGER, "p_w")
    heat = total(DeviceKind.SG_READY, "p_w")
    socs = [d.value("soc") for d in snapshot.of_kind(DeviceKind.BMS)] or [
        d.value("soc") for d in snapshot.of_kind(DeviceKind.PCS)
    ]
    soc_known = [s for s in socs if s is not None]
    load = None
    if grid is not None:
        load = grid - sum(v for v in (pv, battery, ev, heat) if v is not None)
    hp_state = "-"
    for device in snapshot.of_kind(DeviceKind.SG_READY):
        r1, r2 = device.value("relay1"), device.value("relay2")
        if r1 is not None and r2 is not None:
            hp_state = str(sg_ready_state(bool(r1), bool(r2)))

    def kw(value: float | None) -> str:
        return "   -  " if value is None else f"{value / 1000.0:6.1f}"

    binding = "-"
    record = (decision or {}).get("record") or {}
    for asset in record.get("assets") or []:
        if asset.get("asset") == "battery":
            binding = str(asset.get("text") or "-")
    if record.get("mode") == "failsafe":
        binding = f"FAILSAFE {binding}"
    soc_text = f"{100.0 * sum(soc_known) / len(soc_known):5.1f}%" if soc_known else "  -  "
    stamp = time.strftime("%H:%M:%S", time.localtime(snapshot.ts_utc))
    return (
        f"{stamp} SOC {soc_text} | grid {kw(grid)} kW | PV {kw(pv)} | load {kw(load)} | "
        f"batt {kw(battery)} | EV {kw(ev)} | HP SG{hp_state} | {binding}"
    )


async def run_demo(config_path: Path | None = None, duration_s: float | None = None, out: TextIO | None = None) -> int:
    """Run simulators + daemon until Ctrl-C (or ``duration_s``); returns the exit code."""
    from simulators.site import SimulatedSite
    from zoe_ems.config import ConfigError, load_site_config
    from zoe_ems.runtime.daemon import Daemon
    from zoe_ems.runtime.logging import configure_logging

    stream = out or sys.stdout
    path = config_path or BUNDLED_DEMO
    try:
        config = load_site_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    configure_logging("warning", "console")
    site = SimulatedSite.from_config(config, speed=1.0, realistic=True)
    await site.start()
    try:
        print(f"ZOE-EMS demo: site {config.site.id}, simulated devices:", file=stream)
        for listing in site.listings():
            print(f"  {listing}", file=stream)
        print("Ctrl-C stops. `zoe-ems status --config " + str(path) + "` shows the details.", file=stream)
        daemon = Daemon(config, path)
        task = asyncio.create_task(daemon.run())
        started = time.monotonic()
        while not task.done():
            done, _ = await asyncio.wait({task}, timeout=1.0)
            if done:
                break
            decision = daemon.loop.last_decision
            record = decision.to_dict() if decision is not None else None
            print(status_line(daemon.image.snapshot(), record), file=stream, flush=True)
            if duration_s is not None and time.monotonic() - started >= duration_s:
                daemon.request_stop()
        return task.result()
    finally:
        await site.stop()
