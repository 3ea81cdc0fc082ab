"""Frequency-response evidence in SQLite: 1 s samples always, every sample around activations.

Around every activation (10 s before to 15 min after the last active sample) each fast-path sample
(≥ 10 Hz) is kept: frequency, the response setpoint and the measured PCS power. This is what a TSO asks
for in prequalification; `zoe-ems export-response` writes it as CSV. Writes are batched off the loop.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections import deque
from dataclasses import dataclass

from zoe_ems.storage.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS frequency_log (
    ts REAL NOT NULL,
    f_hz REAL,
    response_w REAL NOT NULL,
    setpoint_w REAL,
    pcs_p_w REAL,
    active INTEGER NOT NULL,
    services TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS frequency_log_ts ON frequency_log (ts);
"""

PRE_TRIGGER_S = 10.0
POST_ACTIVATION_S = 900.0


@dataclass(frozen=True, slots=True)
class ResponseSample:
    """One fast-path sample."""

    ts: float
    """Wall-clock UTC seconds."""
    f_hz: float | None
    response_w: float
    setpoint_w: float | None
    pcs_p_w: float | None
    active: bool
    services: str
    """Per-service state summary, e.g. ``ffr:active;fcr:-12000``."""


class ResponseLogger:
    """Decides which samples to keep and writes them in batches."""

    def __init__(self, db: Database, normal_interval_s: float = 1.0) -> None:
        self._db = db
        self._normal_interval_s = normal_interval_s
        self._pre: deque[tuple[ResponseSample, bool]] = deque()
        """The last 10 s of samples, each with whether it was already kept."""
        self._pending: list[ResponseSample] = []
        self._last_kept_ts = -1e18
        self._dense_until = -1e18
        self.kept = 0

    async def start(self) -> None:
        await self._db.run(lambda conn: conn.executescript(SCHEMA))

    def add(self, sample: ResponseSample) -> None:
        """Offer one sample; keeps it when inside an activation window or when the 1 s slot is due."""
        if sample.active:
            if sample.ts > self._dense_until:
                # A new activation: the pre-trigger buffer becomes evidence too.
                backfill = [s for s, kept in self._pre if not kept]
                self._pending.extend(backfill)
                self.kept += len(backfill)
                self._pre = deque((s, True) for s, _ in self._pre)
            self._dense_until = sample.ts + POST_ACTIVATION_S
        keep = sample.ts <= self._dense_until or sample.ts - self._last_kept_ts >= self._normal_interval_s
        self._pre.append((sample, keep))
        while self._pre and self._pre[0][0].ts < sample.ts - PRE_TRIGGER_S:
            self._pre.popleft()
        if keep:
            self._pending.append(sample)
            self._last_kept_ts = sample.ts
            self.kept += 1

    async def flush(self) -> int:
        rows, self._pending = self._pending, []
        if not rows:
            return 0

        def _write(conn: sqlite3.Connection) -> int:
            ordered = sorted(rows, key=lambda r: r.ts)
            with conn:
                conn.execute("BEGIN")
                conn.executemany(
                    "INSERT INTO frequency_log (ts, f_hz, response_w, setpoint_w, pcs_p_w, active, services)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(r.ts, r.f_hz, r.response_w, r.setpoint_w, r.pcs_p_w, int(r.active), r.services) for r in ordered],
                )
            return len(rows)

        return await self._db.run(_write)


def export_csv(conn: sqlite3.Connection, start_utc: float, end_utc: float) -> str:
    """CSV of the kept samples in [start, end): ISO time, frequency, response, setpoint, measured power."""
    from datetime import UTC, datetime

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["utc", "f_hz", "response_w", "setpoint_w", "pcs_p_w", "active", "services"])
    try:
        rows = conn.execute(
            "SELECT ts, f_hz, response_w, setpoint_w, pcs_p_w, active, services FROM frequency_log"
            " WHERE ts >= ? AND ts < ? ORDER BY ts",
            (start_utc, end_utc),
        ).fetchall()
    except sqlite3.OperationalError:
        rows = []
    for ts, f_hz, response_w, setpoint_w, pcs_p_w, active, services in rows:
        stamp = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        writer.writerow([stamp, f_hz, response_w, setpoint_w, pcs_p_w, active, services])
    return out.getvalue()
