"""Status socket: JSON request/reply over a real Unix socket, errors for bad requests."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path
from typing import Any

import pytest

from zoe_ems.runtime.status_socket import StatusServer, request


async def test_registered_handler_answers_and_socket_is_group_only(tmp_path: Path) -> None:
    server = StatusServer(tmp_path / "s.sock")

    async def status(req: dict[str, Any]) -> dict[str, Any]:
        return {"site": "demo", "echo": req.get("x")}

    server.register("status", status)
    await server.start()
    try:
        reply = await request(server.path, {"cmd": "status", "x": 7})
        assert reply == {"ok": True, "site": "demo", "echo": 7}
        assert stat.S_IMODE(server.path.stat().st_mode) == 0o660
        unknown = await request(server.path, {"cmd": "nope"})
        assert unknown["ok"] is False and "nope" in unknown["error"]
    finally:
        await server.stop()
    assert not server.path.exists()


async def test_malformed_request_gets_an_error_reply(tmp_path: Path) -> None:
    server = StatusServer(tmp_path / "s.sock")
    await server.start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(server.path))
        writer.write(b"{not json\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 5.0)
        writer.close()
        assert b"not JSON" in line
    finally:
        await server.stop()


async def test_request_to_a_missing_daemon_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        await request(tmp_path / "absent.sock", {"cmd": "status"})
