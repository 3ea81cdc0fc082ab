"""A pure-Python null-modem: two pseudo-terminals whose masters are cross-connected.

``PtyLink`` exposes two slave device paths that pyserial can open like serial ports (one for a simulated
device server, one for the EMS); bytes written to one come out of the other. Owns the ptys and the copy
loop on the running event loop. Must never emulate line timing or faults, and never need socat.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import tty
from types import TracebackType


class PtyLink:
    """Async context manager: ``async with PtyLink() as link: open link.a_path and link.b_path``."""

    def __init__(self) -> None:
        self._fds: list[int] = []
        self._pumps: list[_Pump] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.a_path = ""
        self.b_path = ""

    @property
    def bytes_a_to_b(self) -> int:
        """Bytes copied from the A side to the B side so far."""
        return self._pumps[0].copied if self._pumps else 0

    @property
    def bytes_b_to_a(self) -> int:
        """Bytes copied from the B side to the A side so far."""
        return self._pumps[1].copied if self._pumps else 0

    async def __aenter__(self) -> PtyLink:
        self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        """Create both ptys and start copying; must run inside the event loop."""
        self._loop = asyncio.get_running_loop()
        master_a, slave_a = pty.openpty()
        master_b, slave_b = pty.openpty()
        # Keep the slaves open ourselves: a pty master reads EIO while no slave fd is open, which would
        # break the link whenever a client closes and reopens its port.
        self._fds = [master_a, slave_a, master_b, slave_b]
        for slave in (slave_a, slave_b):
            tty.setraw(slave)  # no echo and no line discipline before pyserial configures the port
        for master in (master_a, master_b):
            os.set_blocking(master, False)
        self.a_path = os.ttyname(slave_a)
        self.b_path = os.ttyname(slave_b)
        self._pumps = [_Pump(self._loop, master_a, master_b), _Pump(self._loop, master_b, master_a)]

    def close(self) -> None:
        """Stop copying and close every pty fd (idempotent)."""
        for pump in self._pumps:
            pump.stop()
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []


class _Pump:
    """Copies bytes from one master fd to another without blocking the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, source: int, sink: int) -> None:
        self._loop = loop
        self._source = source
        self._sink = sink
        self._pending = bytearray()
        self._writer_armed = False
        self.copied = 0
        loop.add_reader(source, self._on_readable)

    def stop(self) -> None:
        self._loop.remove_reader(self._source)
        if self._writer_armed:
            self._loop.remove_writer(self._sink)
            self._writer_armed = False

    def _on_readable(self) -> None:
        try:
            data = os.read(self._source, 4096)
        except BlockingIOError:
            return
        except OSError:  # EIO: no slave open on this side; nothing to copy
            return
        if not data:
            return
        self._pending.extend(data)
        self._flush()

    def _flush(self) -> None:
        while self._pending:
            try:
                written = os.write(self._sink, self._pending)
            except BlockingIOError:
                break
            except OSError:
                self._pending.clear()  # the far side is gone; a real line would lose the bytes too
                break
            self.copied += written
            del self._pending[:written]
        if self._pending and not self._writer_armed:
            self._loop.add_writer(self._sink, self._flush)
            self._writer_armed = True
        elif not self._pending and self._writer_armed:
            self._loop.remove_writer(self._sink)
            self._writer_armed = False
