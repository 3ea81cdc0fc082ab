"""Point history and decision records in SQLite: batched appends, on-change sampling, retention by age.

The recorder samples the process image; a value is stored when it changed or when its last stored
sample is older than ``heartbeat_s``, which keeps a month of 1 Hz history for hundreds of devices small.
Queries serve forecasts, DR baselines and `zoe-ems` exports. Never called with blocking I/O on the loop.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from zoe_ems.site.points import Quality, Snapshot
from zoe_ems.storage.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS history (
    ts REAL NOT NULL,
    device TEXT NOT NULL,
    point TEXT NOT NULL,
    value REAL,
    quality TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_point_ts ON history (device, point, ts);
CREATE INDEX IF NOT EXISTS history_ts ON history (ts);
CREATE TABLE IF NOT EXISTS decisions (
    ts REAL NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_ts ON decisions (ts);
"""


@dataclass(frozen=True, slots=True)
class Sample:
    """One stored point value."""

    ts: float
    device: str
    point: str
    value: float | None
    quality: str


def decision_key(record: dict[str, Any]) -> dict[str, Any]:
    """What makes two decision records different for the history: not timestamps or measured values."""
    inner = record.get("record") or {}
    assets = inner.get("assets") or [] if isinstance(inner, dict) else []
    return {
        "mode": inner.get("mode") if isinstance(inner, dict) else None,
        "binding": [
            (a.get("asset"), a.get("binding"), str(a.get("preferred") or "").split(" ", 1)[0])
            for a in assets
            if isinstance(a, dict)
        ],
        "controllers": inner.get("controllers") if isinstance(inner, dict) else None,
        "alarms": sorted(str(a.get("code")) for a in record.get("alarms") or [] if isinstance(a, dict)),
    }


def init_schema(conn: sqlite3.Connection) -> None:
    """Create the history tables if needed."""
    conn.executescript(SCHEMA)


class HistoryRecorder:
    """Collects samples from snapshots and decision records, and writes them in batches."""

    def __init__(self, db: Database, *, heartbeat_s: float = 60.0, retention_s: float = 30 * 86400.0) -> None:
        self._db = db
        self._heartbeat_s = heartbeat_s
        self._retention_s = retention_s
        self._pending: list[Sample] = []
        self._pending_decisions: list[tuple[float, str]] = []
        self._last: dict[tuple[str, str], tuple[float, float | None, str]] = {}
        self._last_prune = 0.0
        self._last_decision_key = ""
        self._last_decision_ts = -math.inf
        self.rows_written = 0

    async def start(self) -> None:
        await self._db.run(init_schema)

    def sample(self, snapshot: Snapshot) -> int:
        """Queue the points of ``snapshot`` that changed or whose heartbeat is due; returns how many."""
        queued = 0
        for device_id, state in snapshot.devices.items():
            for name, pv in state.points.items():
                if isinstance(pv.value, str):
                    continue
                value = None if pv.value is None else float(pv.value)
                if value is not None and not math.isfinite(value):
                    value = None
                key = (device_id, name)
                last = self._last.get(key)
                quality = pv.quality.value
                if last is not None:
                    last_ts, last_value, last_quality = last
                    unchanged = last_value == value and last_quality == quality
                    if unchanged and snapshot.ts_utc - last_ts < self._heartbeat_s:
                        continue
                self._last[key] = (snapshot.ts_utc, value, quality)
                ts = pv.ts_utc if pv.quality is Quality.FRESH else snapshot.ts_utc
                self._pending.append(Sample(ts, device_id, name, value, quality))
                queued += 1
        return queued

    def record_decision(self, ts_utc: float, record: dict[str, Any]) -> None:
        """Queue a control decision record when what binds changed (mode, bindings, controllers, alarms),
        and at least once per ``heartbeat_s`` — not every cycle, whose measurements always differ."""
        key = json.dumps(decision_key(record), sort_keys=True, separators=(",", ":"))
        if key == self._last_decision_key and ts_utc - self._last_decision_ts < self._heartbeat_s:
            return
        self._last_decision_key, self._last_decision_ts = key, ts_utc
        self._pending_decisions.append((ts_utc, json.dumps(record, sort_keys=True, separators=(",", ":"))))

    async def flush(self) -> int:
        """Write queued rows in one transaction on the storage thread; prune old rows hourly."""
        samples, self._pending = self._pending, []
        decisions, self._pending_decisions = self._pending_decisions, []
        now = time.time()
        prune = now - self._last_prune > 3600.0
        if prune:
            self._last_prune = now
        cutoff = now - self._retention_s

        def _write(conn: sqlite3.Connection) -> int:
            with conn:
                conn.execute("BEGIN")
                conn.executemany(
                    "INSERT INTO history (ts, device, point, value, quality) VALUES (?, ?, ?, ?, ?)",
                    [(s.ts, s.device, s.point, s.value, s.quality) for s in samples],
                )
                conn.executemany("INSERT INTO decisions (ts, record) VALUES (?, ?)", decisions)
                if prune:
                    conn.execute("DELETE FROM history WHERE ts < ?", (cutoff,))
                    conn.execute("DELETE FROM decisions WHERE ts < ?", (cutoff,))
            return len(samples) + len(decisions)

        if not samples and not decisions and not prune:
            return 0
        written = await self._db.run(_write)
        self.rows_written += written
        return written


def query_series(conn: sqlite3.Connection, device: str, point: str, start_utc: float, end_utc: float) -> list[Sample]:
    """Stored samples of one point in [start, end), oldest first."""
    rows = conn.execute(
        "SELECT ts, device, point, value, quality FROM history WHERE device = ? AND point = ? AND ts >= ? AND ts < ?"
        " ORDER BY ts",
        (device, point, start_utc, end_utc),
    ).fetchall()
    return [Sample(*row) for row in rows]


def resample_mean(samples: Sequence[Sample], start_utc: float, end_utc: float, step_s: float) -> list[float]:
    """Time-weighted mean per step of a sample-and-hold series; NaN where nothing is known."""
    steps = max(0, math.ceil((end_utc - start_utc) / step_s))
    out = [math.nan] * steps
    if not samples or steps == 0:
        return out
    sums = [0.0] * steps
    weights = [0.0] * steps
    points = [s for s in samples if s.value is not None and s.quality == Quality.FRESH.value]
    for index, sample in enumerate(points):
        seg_start = max(sample.ts, start_utc)
        seg_end = points[index + 1].ts if index + 1 < len(points) else end_utc
        seg_end = min(seg_end, end_utc, sample.ts + 3600.0)
        t = seg_start
        while t < seg_end:
            k = int((t - start_utc) // step_s)
            if k >= steps:
                break
            boundary = min(start_utc + (k + 1) * step_s, seg_end)
            assert sample.value is not None
            sums[k] += sample.value * (boundary - t)
            weights[k] += boundary - t
            t = boundary
    return [sums[k] / weights[k] if weights[k] > 0 else math.nan for k in range(steps)]


def latest_decisions(conn: sqlite3.Connection, limit: int = 20) -> list[tuple[float, dict[str, object]]]:
    """The newest decision records, newest first."""
    rows = conn.execute("SELECT ts, record FROM decisions ORDER BY ts DESC LIMIT ?", (limit,)).fetchall()
    return [(ts, json.loads(text)) for ts, text in rows]
