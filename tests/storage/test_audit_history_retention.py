"""Audit of issue 2 §7 (history): retention by age deletes only what is older than the window — recent
point rows and decision records survive — and the writes run on the storage thread, off the event loop.
Real SQLite file in tmp_path.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from drivers.points import DeviceKind
from zoe_ems.site.points import DeviceState, PointValue, Quality, Snapshot
from zoe_ems.storage.database import Database
from zoe_ems.storage.history import HistoryRecorder


def snap(ts: float, p_w: float) -> Snapshot:
    pv = PointValue(value=p_w, unit="W", ts_mono=ts, ts_utc=ts, quality=Quality.FRESH)
    state = DeviceState(device_id="grid", kind=DeviceKind.METER, role="grid", online=True, points={"p_w": pv})
    return Snapshot(ts_mono=ts, ts_utc=ts, devices={"grid": state})


async def test_retention_keeps_rows_inside_the_window_and_deletes_older_ones(tmp_path: Path) -> None:
    path = tmp_path / "zoe.db"
    db = Database(path)
    recorder = HistoryRecorder(db, heartbeat_s=1.0, retention_s=3600.0)
    await recorder.start()
    now = time.time()
    ages_s = (7200.0, 3700.0, 1800.0, 10.0)
    for age in ages_s:
        recorder.sample(snap(now - age, age))  # a distinct value per row: each is stored
        recorder.record_decision(now - age, {"mode": "normal", "age": age})
    await recorder.flush()
    await db.close()
    with sqlite3.connect(path) as conn:
        kept = sorted(row[0] for row in conn.execute("SELECT value FROM history WHERE device = 'grid'"))
        decisions = conn.execute("SELECT count(*) FROM decisions").fetchone()[0]
    assert kept == [10.0, 1800.0], "rows older than one hour deleted, newer ones kept"
    assert decisions == 2, "decision records follow the same retention"


async def test_database_work_runs_on_the_storage_thread_not_the_event_loop(tmp_path: Path) -> None:
    db = Database(tmp_path / "zoe.db")
    try:
        loop_thread = threading.get_ident()
        worker_thread = await db.run(lambda _conn: threading.get_ident())
        assert worker_thread != loop_thread
        again = await db.run(lambda _conn: threading.get_ident())
        assert again == worker_thread, "one writer thread serializes every write"
    finally:
        await db.close()
