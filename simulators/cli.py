"""``zoe-ems simulate``: serve every loopback/RTU device of a site file as a simulated device.

Owns the process-level behaviour of the simulator: loading the site file, printing what listens
where, reading run-time commands from standard input and exiting 0 on SIGTERM/SIGINT.
It never starts the EMS daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import TextIO

from simulators.commands import CommandError, apply_command
from simulators.site import SimulatedSite, SiteBuildError


async def run_simulate(
    config_path: Path,
    speed: float = 1.0,
    *,
    seed: int = 0,
    realistic: bool = True,
    commands: bool = True,
    out: TextIO | None = None,
) -> int:
    """Serve the site file's simulated devices until SIGTERM/SIGINT; 0 then, 1 on a bad site file."""
    from zoe_ems.config import ConfigError, load_site_config

    stdout = out or sys.stdout
    try:
        config = load_site_config(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    try:
        site = SimulatedSite.from_config(config, speed=speed, seed=seed, realistic=realistic)
    except (SiteBuildError, ValueError) as exc:
        print(f"{config_path}: {exc}", file=sys.stderr)
        return 1
    if not site.models:
        print(f"{config_path}: no device on loopback or on an RTU line: nothing to simulate", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        try:
            await site.start()
        except (OSError, RuntimeError, SiteBuildError) as exc:
            print(f"{config_path}: cannot start the simulated site: {exc}", file=sys.stderr)
            return 1
        try:
            print(f"simulating site {config.site.id} at {speed:g}x real time", file=stdout)
            for listing in site.listings():
                print(listing, file=stdout)
            if site.skipped:
                print(f"not simulated (not on loopback): {', '.join(site.skipped)}", file=stdout)
            stdout.flush()
            reader = asyncio.create_task(_read_commands(site, stdout)) if commands else None
            await stop.wait()
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        finally:
            await site.stop()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    return 0


async def _read_commands(site: SimulatedSite, out: TextIO) -> None:
    """Apply command lines from standard input (a pipe or a terminal) until EOF."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (ValueError, OSError, AttributeError):
        return  # stdin is a regular file, closed, or not a pipe/tty: no run-time commands
    while line := await reader.readline():
        text = line.decode("utf-8", errors="replace").strip()
        if not text:
            continue
        try:
            answer = apply_command(site, text)
        except CommandError as exc:
            answer = f"error: {exc}"
        print(answer, file=out, flush=True)
