"""Store-and-forward outbox for outgoing northbound messages (SQLite, WAL, synchronous=FULL).

Owns: per-topic ``seq`` numbering that survives restarts, batched appends committed by one worker
thread (never on the event loop), reads and deletes for the publisher, and the disk quota (dropping
the oldest telemetry first, never acks or events). It never talks to the network and never signs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

DROPPABLE_KINDS: tuple[str, ...] = ("telemetry", "response")
"""Kinds the quota may drop, oldest first. Acks and events are never dropped."""
ROW_OVERHEAD_BYTES = 96
"""Estimated SQLite bytes per row beyond the payload (ids, topic, index entries)."""

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class OutboxRow:
    """One stored message."""

    row_id: int
    topic: str
    seq: int
    kind: str
    payload: str
    """The unsigned message as JSON, ``seq`` included."""
    created_utc: float


@dataclass(frozen=True, kw_only=True)
class DropReport:
    """What the quota dropped in one go."""

    messages: int
    bytes: int
    by_topic: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """topic -> (count, first seq, last seq)."""


@dataclass(frozen=True, kw_only=True)
class OutboxStats:
    rows: int
    bytes: int
    dropped_total: int
    appended_total: int


class Outbox:
    """SQLite outbox. Call :meth:`open` first; :meth:`append` is cheap and safe on the event loop."""

    def __init__(
        self,
        path: Path,
        *,
        quota_bytes: int = 200_000_000,
        on_commit: Callable[[], None] | None = None,
        on_drop: Callable[[DropReport], None] | None = None,
        max_batch: int = 5000,
    ) -> None:
        self.path = Path(path)
        self.quota_bytes = quota_bytes
        self._on_commit = on_commit
        self._on_drop = on_drop
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Append | _Call | _Stop] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._seq: dict[str, int] = {}
        self._bytes = 0
        self._rows = 0
        self._dropped_total = 0
        self._appended_total = 0
        self._closed = False

    # ---- lifecycle --------------------------------------------------------------------------------------

    def open(self) -> None:
        """Open (or create) the database and start the writer thread. Blocks briefly."""
        if self._thread is not None:
            return
        self._closed = False
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="outbox-writer", daemon=True)
        self._thread.start()
        ready.result()

    def close(self) -> None:
        """Commit everything appended so far and stop the writer thread (blocking)."""
        if self._thread is None:
            return
        self._closed = True
        self._queue.put(_Stop())
        self._thread.join()
        self._thread = None

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    # ---- writes -----------------------------------------------------------------------------------------

    def append(self, topic: str, kind: str, message: dict[str, Any]) -> int:
        """Queue ``message`` for ``topic`` and return its ``seq`` (also set in the stored message).

        Call from one thread only (the event loop). The row is durable once the writer thread commits
        its batch, typically within a few milliseconds; :meth:`flush` waits for that.
        """
        if self._closed:
            raise RuntimeError("outbox is closed")
        seq = self._seq.get(topic, 0) + 1
        self._seq[topic] = seq
        stored = dict(message)
        stored["seq"] = seq
        self._queue.put(_Append(topic, kind, seq, stored, time.time()))
        return seq

    def last_seq(self, topic: str) -> int:
        """Last seq handed out for ``topic`` (0 if none)."""
        return self._seq.get(topic, 0)

    async def flush(self) -> None:
        """Wait until everything appended before this call is committed."""
        await self._call(lambda conn: None)

    def flush_blocking(self) -> None:
        self._submit(lambda conn: None).result()

    async def delete(self, row_ids: Iterable[int]) -> None:
        """Delete published rows (after PUBACK)."""
        ids = list(row_ids)
        if ids:
            await self._call(lambda conn: self._delete(conn, ids))

    def delete_nowait(self, row_ids: Iterable[int]) -> None:
        """Queue a delete without waiting; ordered before any later read."""
        ids = list(row_ids)
        if ids:
            self._submit(lambda conn: self._delete(conn, ids))

    # ---- reads ------------------------------------------------------------------------------------------

    async def fetch(self, after_id: int, limit: int, upto_id: int | None = None) -> list[OutboxRow]:
        """Up to ``limit`` rows with ``after_id < row_id <= upto_id`` in row order (= seq order per topic)."""
        return await self._call(lambda conn: self._fetch(conn, after_id, limit, upto_id))

    def fetch_blocking(self, after_id: int, limit: int, upto_id: int | None = None) -> list[OutboxRow]:
        return self._submit(lambda conn: self._fetch(conn, after_id, limit, upto_id)).result()

    async def max_row_id(self) -> int:
        """Highest row id currently stored (0 when empty)."""
        return await self._call(lambda conn: int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()[0]))

    async def stats(self) -> OutboxStats:
        await self.flush()
        return self.stats_nowait()

    def stats_nowait(self) -> OutboxStats:
        return OutboxStats(
            rows=self._rows, bytes=self._bytes, dropped_total=self._dropped_total, appended_total=self._appended_total
        )

    # ---- worker thread ----------------------------------------------------------------------------------

    def _submit(self, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future[T]:
        if self._thread is None:
            raise RuntimeError("outbox is not open")
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put(_Call(fn, fut))
        return fut

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.wrap_future(self._submit(fn))

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(None)
        try:
            self._loop(conn)
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                topic TEXT NOT NULL,
                seq INTEGER NOT NULL,
                kind TEXT NOT NULL,
                payload TEXT NOT NULL,
                created REAL NOT NULL
            );
            CREATE INDEX IF NOT EXISTS outbox_kind_id ON outbox (kind, id);
            CREATE TABLE IF NOT EXISTS outbox_seq (topic TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
            """
        )
        for topic, last_seq in conn.execute("SELECT topic, last_seq FROM outbox_seq"):
            self._seq[str(topic)] = int(last_seq)
        rows, size = conn.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox").fetchone()
        self._rows = int(rows)
        self._bytes = int(size) + ROW_OVERHEAD_BYTES * self._rows
        return conn

    def _loop(self, conn: sqlite3.Connection) -> None:
        while True:
            items: list[_Append | _Call | _Stop] = [self._queue.get()]
            while len(items) < self._max_batch:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            appends: list[_Append] = []
            stop = False
            for item in items:
                if isinstance(item, _Append):
                    appends.append(item)
                    continue
                if appends:
                    self._commit_appends(conn, appends)
                    appends = []
                if isinstance(item, _Stop):
                    stop = True
                    continue
                try:
                    item.future.set_result(item.fn(conn))
                except Exception as exc:
                    item.future.set_exception(exc)
            if appends:
                self._commit_appends(conn, appends)
            if stop:
                return

    def _commit_appends(self, conn: sqlite3.Connection, appends: list[_Append]) -> None:
        rows = [(a.topic, a.seq, a.kind, json.dumps(a.message, ensure_ascii=False), a.created) for a in appends]
        last: dict[str, int] = {}
        for a in appends:
            last[a.topic] = a.seq
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT INTO outbox (topic, seq, kind, payload, created) VALUES (?, ?, ?, ?, ?)", rows)
            conn.executemany(
                "INSERT INTO outbox_seq (topic, last_seq) VALUES (?, ?) "
                "ON CONFLICT(topic) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq)",
                list(last.items()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._rows += len(rows)
        self._appended_total += len(rows)
        self._bytes += sum(len(r[3]) for r in rows) + ROW_OVERHEAD_BYTES * len(rows)
        report = self._enforce_quota(conn) if self._bytes > self.quota_bytes else None
        if self._on_commit is not None:
            self._on_commit()
        if report is not None and self._on_drop is not None:
            self._on_drop(report)

    def _enforce_quota(self, conn: sqlite3.Connection) -> DropReport | None:
        target = int(self.quota_bytes * 0.95)
        excess = self._bytes - target
        placeholders = ",".join("?" for _ in DROPPABLE_KINDS)
        victims: list[tuple[int, str, int, int]] = []
        freed = 0
        cursor = conn.execute(
            f"SELECT id, topic, seq, LENGTH(payload) FROM outbox WHERE kind IN ({placeholders}) ORDER BY id",
            DROPPABLE_KINDS,
        )
        for row_id, topic, seq, size in cursor:
            victims.append((int(row_id), str(topic), int(seq), int(size)))
            freed += int(size) + ROW_OVERHEAD_BYTES
            if freed >= excess:
                break
        cursor.close()
        if not victims:
            log.warning(
                "outbox over quota (%d > %d bytes) but holds only acks and events", self._bytes, self.quota_bytes
            )
            return None
        self._delete(conn, [v[0] for v in victims])
        by_topic: dict[str, tuple[int, int, int]] = {}
        for _, topic, seq, _ in victims:
            count, first, _last = by_topic.get(topic, (0, seq, seq))
            by_topic[topic] = (count + 1, first, seq)
        self._dropped_total += len(victims)
        report = DropReport(messages=len(victims), bytes=freed, by_topic=by_topic)
        log.warning("outbox quota reached: dropped %d oldest telemetry messages (%d bytes)", len(victims), freed)
        return report

    def _delete(self, conn: sqlite3.Connection, ids: list[int]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            removed_rows = 0
            removed_bytes = 0
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" for _ in chunk)
                count, size = conn.execute(
                    f"SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox WHERE id IN ({marks})", chunk
                ).fetchone()
                conn.execute(f"DELETE FROM outbox WHERE id IN ({marks})", chunk)
                removed_rows += int(count)
                removed_bytes += int(size)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._rows -= removed_rows
        self._bytes -= removed_bytes + ROW_OVERHEAD_BYTES * removed_rows

    @staticmethod
    def _fetch(conn: sqlite3.Connection, after_id: int, limit: int, upto_id: int | None) -> list[OutboxRow]:
        upper = upto_id if upto_id is not None else 2**62
        return [
            OutboxRow(row_id=int(r[0]), topic=r[1], seq=int(r[2]), kind=r[3], payload=r[4], created_utc=float(r[5]))
            for r in conn.execute(
                "SELECT id, topic, seq, kind, payload, created FROM outbox "
                "WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
                (after_id, upper, limit),
            )
        ]


@dataclass(frozen=True, slots=True)
class _Append:
    topic: str
    kind: str
    seq: int
    message: dict[str, Any]
    created: float


@dataclass(frozen=True, slots=True)
class _Call:
    fn: Callable[[sqlite3.Connection], Any]
    future: concurrent.futures.Future[Any]


@dataclass(frozen=True, slots=True)
class _Stop:
    pass
