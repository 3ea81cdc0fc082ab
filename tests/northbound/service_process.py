"""A NorthboundService in its own process, for crash tests: python service_process.py CONFIG_JSON DB_PATH.

Publishes telemetry every second and a `test.tick` event every 20 ms so that a SIGKILL lands mid-stream.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from zoe_ems.config import SiteConfig
from zoe_ems.control.inputs import ControlInputs
from zoe_ems.northbound.service import NorthboundService
from zoe_ems.northbound.telemetry import TelemetryData


async def main(config: SiteConfig, db_path: Path) -> None:
    service = NorthboundService(config, ControlInputs(), lambda: TelemetryData(grid_w=1000.0), None, db_path)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    runner = asyncio.create_task(service.run())

    async def ticker() -> None:
        count = 0
        while not stop.is_set():
            if service.connected or count == 0:
                count += 1
                service.event("test.tick", "info", f"tick {count}")
            await asyncio.sleep(0.02)

    ticks = asyncio.create_task(ticker())
    await stop.wait()
    ticks.cancel()
    await service.stop()
    await runner


if __name__ == "__main__":
    asyncio.run(main(SiteConfig(**json.loads(Path(sys.argv[1]).read_text())), Path(sys.argv[2])))
