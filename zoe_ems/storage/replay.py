"""Replay cache of command ids (SQLite): an id is remembered until its command can no longer be valid.

Only answers "was this id seen before?" and records ids; it never decides whether a command is
authentic or acceptable. Each call is a single small transaction; callers on the event loop should
run it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class ReplayCache:
    """Command ids seen, each kept until ``keep_until_utc`` (UNIX seconds)."""

    def __init__(self, db_path: Path) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None, timeout=10.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS replay_cache (command_id TEXT PRIMARY KEY, keep_until REAL NOT NULL)"
        )

    def check_and_record(self, command_id: str, keep_until_utc: float) -> bool:
        """Record ``command_id``; True when it is new, False when it was seen before (a replay)."""
        with self._lock:
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO replay_cache (command_id, keep_until) VALUES (?, ?)",
                (command_id, keep_until_utc),
            )
            return cursor.rowcount == 1

    def seen(self, command_id: str) -> bool:
        """True when ``command_id`` is remembered."""
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM replay_cache WHERE command_id = ?", (command_id,)).fetchone()
            return row is not None

    def purge(self, now_utc: float) -> int:
        """Forget ids whose commands expired; returns how many were forgotten."""
        with self._lock:
            return self._conn.execute("DELETE FROM replay_cache WHERE keep_until < ?", (now_utc,)).rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()
