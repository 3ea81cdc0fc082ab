"""One SQLite database file (WAL) with a dedicated writer thread; all file I/O happens off the event loop.

Callers submit functions that receive the connection; they run one at a time on the storage thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating directories) a SQLite file in WAL mode with durable-enough settings for a gateway."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Database:
    """A SQLite file served by one worker thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{path.name}")
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self.path)
        return self._conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the storage thread and return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._connection()))

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Same as ``run`` for code outside the event loop (CLI, tests)."""
        return self._executor.submit(lambda: fn(self._connection())).result()

    async def close(self) -> None:
        """Close the connection and stop the thread."""

        def _close(_: sqlite3.Connection) -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        if self._conn is not None:
            await self.run(_close)
        self._executor.shutdown(wait=True)
