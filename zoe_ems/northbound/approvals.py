"""Commands waiting for a local operator (semi_auto) and commands logged in manual mode, in SQLite.

The CLI decides directly in the database (``decide``), so `zoe-ems approve ID` / `zoe-ems reject ID`
work whether or not the daemon is running and survive restarts; the daemon polls for decisions.
This module stores and reports; it never validates or applies a command.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

ApprovalState = Literal["pending", "approved", "rejected", "timeout", "logged"]
DecisionOutcome = Literal["approved", "rejected", "not_found", "already_decided"]


@dataclass(frozen=True, kw_only=True)
class PendingCommand:
    """One command held for an operator (or logged in manual mode)."""

    command_id: str
    command_type: str
    summary: str
    received_utc: float
    expires_utc: float
    state: ApprovalState
    decided_utc: float | None
    decided_by: str | None
    raw: dict[str, Any]


def decide(db_path: Path, command_id: str, *, approve: bool, operator: str = "cli") -> DecisionOutcome:
    """Approve or reject a pending command (for `zoe-ems approve|reject ID`).

    Returns ``approved``/``rejected`` when the decision was recorded, ``not_found`` for an unknown id,
    ``already_decided`` when it was decided, timed out or is only logged. The daemon acts on it within ~1 s.
    """
    store = ApprovalStore(db_path)
    try:
        return store.decide(command_id, approve=approve, operator=operator)
    finally:
        store.close()


def list_commands(db_path: Path, *, states: tuple[ApprovalState, ...] = ("pending",)) -> list[PendingCommand]:
    """Commands in the given states, oldest first (for `zoe-ems status`)."""
    store = ApprovalStore(db_path)
    try:
        return store.list_commands(states)
    finally:
        store.close()


class ApprovalStore:
    """SQLite table ``command_approvals``; each call is one short transaction (thread-safe)."""

    def __init__(self, db_path: Path) -> None:
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False, timeout=10.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS command_approvals (
                command_id TEXT PRIMARY KEY,
                command_type TEXT NOT NULL,
                summary TEXT NOT NULL,
                received REAL NOT NULL,
                expires REAL NOT NULL,
                state TEXT NOT NULL,
                decided REAL,
                decided_by TEXT,
                handled INTEGER NOT NULL DEFAULT 0,
                raw TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS northbound_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            """
        )

    def add(
        self,
        *,
        command_id: str,
        command_type: str,
        summary: str,
        raw: dict[str, Any],
        expires_utc: float,
        state: ApprovalState = "pending",
    ) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO command_approvals "
                "(command_id, command_type, summary, received, expires, state, handled, raw) VALUES (?,?,?,?,?,?,?,?)",
                (
                    command_id,
                    command_type,
                    summary,
                    time.time(),
                    expires_utc,
                    state,
                    int(state != "pending"),
                    json.dumps(raw, ensure_ascii=False),
                ),
            )

    def decide(self, command_id: str, *, approve: bool, operator: str) -> DecisionOutcome:
        state: DecisionOutcome = "approved" if approve else "rejected"
        with self._lock:
            updated = self._conn.execute(
                "UPDATE command_approvals SET state = ?, decided = ?, decided_by = ? "
                "WHERE command_id = ? AND state = 'pending'",
                (state, time.time(), operator, command_id),
            ).rowcount
            if updated:
                return state
            exists = self._conn.execute(
                "SELECT 1 FROM command_approvals WHERE command_id = ?", (command_id,)
            ).fetchone()
            return "already_decided" if exists else "not_found"

    def take_decisions(self) -> list[PendingCommand]:
        """Operator decisions the daemon has not acted on yet; marks them handled."""
        with self._lock:
            rows = self._select("WHERE handled = 0 AND state IN ('approved', 'rejected')", ())
            if rows:
                marks = ",".join("?" for _ in rows)
                self._conn.execute(
                    f"UPDATE command_approvals SET handled = 1 WHERE command_id IN ({marks})",
                    [r.command_id for r in rows],
                )
            return rows

    def time_out(self, now_utc: float) -> list[PendingCommand]:
        """Pending commands whose approval window passed; marks them timed out."""
        with self._lock:
            rows = self._select("WHERE state = 'pending' AND expires <= ?", (now_utc,))
            for row in rows:
                self._conn.execute(
                    "UPDATE command_approvals SET state = 'timeout', decided = ?, decided_by = 'timeout', handled = 1 "
                    "WHERE command_id = ? AND state = 'pending'",
                    (now_utc, row.command_id),
                )
            return rows

    def list_commands(self, states: tuple[ApprovalState, ...] = ("pending",)) -> list[PendingCommand]:
        with self._lock:
            marks = ",".join("?" for _ in states)
            return self._select(f"WHERE state IN ({marks})", states)

    def held(self, *, logged_limit: int) -> tuple[list[PendingCommand], list[PendingCommand]]:
        """(every pending command oldest first, the ``logged_limit`` most recently logged newest first)."""
        with self._lock:
            pending = self._select("WHERE state = 'pending'", ())
            logged = self._select("WHERE state = 'logged'", (), newest_first=True, limit=logged_limit)
            return pending, logged

    def purge(self, before_utc: float) -> int:
        """Forget decided, timed-out and logged commands that expired before ``before_utc``; returns how many."""
        with self._lock:
            return int(
                self._conn.execute(
                    "DELETE FROM command_approvals WHERE state != 'pending' AND handled = 1 AND expires < ?",
                    (before_utc,),
                ).rowcount
            )

    def pending_count(self) -> int:
        with self._lock:
            return int(
                self._conn.execute("SELECT COUNT(*) FROM command_approvals WHERE state = 'pending'").fetchone()[0]
            )

    def get_state(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM northbound_state WHERE key = ?", (key,)).fetchone()
            return None if row is None else str(row[0])

    def set_state(self, key: str, value: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO northbound_state (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _select(
        self, where: str, params: tuple[Any, ...], *, newest_first: bool = False, limit: int = -1
    ) -> list[PendingCommand]:
        order = "DESC" if newest_first else "ASC"
        cursor = self._conn.execute(
            "SELECT command_id, command_type, summary, received, expires, state, decided, decided_by, raw "
            f"FROM command_approvals {where} ORDER BY received {order} LIMIT ?",
            (*params, limit),
        )
        return [
            PendingCommand(
                command_id=r[0],
                command_type=r[1],
                summary=r[2],
                received_utc=float(r[3]),
                expires_utc=float(r[4]),
                state=r[5],
                decided_utc=None if r[6] is None else float(r[6]),
                decided_by=r[7],
                raw=json.loads(r[8]),
            )
            for r in cursor
        ]
