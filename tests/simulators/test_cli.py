"""`run_simulate` in a real subprocess: prints what listens where, takes commands, exits 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from pymodbus.client import AsyncModbusTcpClient
from sim_helpers import basic_site, free_port, site_file

SCRIPT = (
    "import asyncio, sys; from pathlib import Path; from simulators.cli import run_simulate; "
    "sys.exit(asyncio.run(run_simulate(Path(sys.argv[1]), speed=float(sys.argv[2]), realistic=False)))"
)


async def read_line(stream: asyncio.StreamReader) -> str:
    line = await asyncio.wait_for(stream.readline(), timeout=20.0)
    assert line, "simulator closed its output"
    return line.decode().rstrip("\n")


async def test_simulate_lists_devices_switches_faults_from_stdin_and_exits_zero_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    basic_site(tmp_path, port)  # writes tmp_path / "site.yaml"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SCRIPT,
        str(tmp_path / "site.yaml"),
        "10",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        header = await read_line(process.stdout)
        assert "sim-test" in header and "10x" in header
        lines = [await read_line(process.stdout) for _ in range(7)]
        listed = {line.split()[0]: line for line in lines[:6]}
        assert set(listed) == {"grid_meter", "pcs1", "bms1", "pv1", "ev1", "hp1"}
        assert f"127.0.0.1:{port}" in listed["pcs1"] and "unit 2" in listed["pcs1"] and "pcs" in listed["pcs1"]
        assert "remote_meter" in lines[6]

        process.stdin.write(b"fault grid_meter exception 4\n")
        await process.stdin.drain()
        assert "exception 4" in await read_line(process.stdout)
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1.0, retries=0)
        assert await client.connect()
        try:
            response = await client.read_holding_registers(0, count=2, device_id=1)
            assert response.isError() and response.exception_code == 4
        finally:
            client.close()

        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=20.0) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_simulate_reports_a_bad_site_file_and_returns_one(tmp_path: Path) -> None:
    from simulators.cli import run_simulate

    path = site_file(tmp_path, [{"id": "x", "kind": "meter", "driver": "zoe_meter", "transport": {"type": "bad"}}])
    assert await run_simulate(path) == 1
