"""Local control socket (Unix domain): `zoe-ems status`, `approve`, `reject` talk to the running daemon.

Protocol: one JSON request line ``{"cmd": "...", ...}``, one JSON reply line. Requests are served by
handlers registered by the daemon; the socket file is mode 0660 so only the service user and its group
(operators) can use it. Never actuates anything on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
MAX_REQUEST_BYTES = 65536


class StatusServer:
    """Serves JSON requests on a Unix socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handlers: dict[str, Handler] = {}
        self._server: asyncio.AbstractServer | None = None

    def register(self, cmd: str, handler: Handler) -> None:
        self._handlers[cmd] = handler

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=MAX_REQUEST_BYTES)
        os.chmod(self.path, 0o660)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=5.0)
            reply = await self._dispatch(line)
            writer.write(json.dumps(reply, default=str).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError) as exc:
            log.debug("status request failed", error=str(exc))
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _dispatch(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except json.JSONDecodeError as exc:
            return {"ok": False, "error": f"request is not JSON: {exc.msg}"}
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            return {"ok": False, "error": "request must be an object with a string 'cmd'"}
        handler = self._handlers.get(request["cmd"])
        if handler is None:
            return {
                "ok": False,
                "error": f"unknown cmd {request['cmd']!r} (known: {', '.join(sorted(self._handlers))})",
            }
        try:
            return {"ok": True, **(await handler(request))}
        except Exception as exc:
            log.exception("status handler failed", cmd=request["cmd"])
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


async def request(path: Path, payload: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
    """Send one request to a daemon's socket; raises OSError/TimeoutError when it is not running."""
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path), limit=2**24), timeout=timeout_s)
    try:
        writer.write(json.dumps(payload).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout=timeout_s)
    finally:
        writer.close()
    if not line:
        raise ConnectionError(f"{path}: daemon closed the connection without a reply")
    reply: dict[str, Any] = json.loads(line)
    return reply
