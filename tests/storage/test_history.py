"""History recorder on a real SQLite file: on-change sampling, batching, retention, resampling."""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path

from drivers.points import DeviceKind
from zoe_ems.site.points import DeviceState, PointValue, Quality, Snapshot
from zoe_ems.storage.database import Database
from zoe_ems.storage.history import HistoryRecorder, Sample, query_series, resample_mean


def snap(ts: float, p_w: float, quality: Quality = Quality.FRESH) -> Snapshot:
    pv = PointValue(value=p_w, unit="W", ts_mono=ts, ts_utc=ts, quality=quality)
    state = DeviceState(device_id="grid", kind=DeviceKind.METER, role="grid", online=True, points={"p_w": pv})
    return Snapshot(ts_mono=ts, ts_utc=ts, devices={"grid": state})


async def test_unchanged_values_are_stored_once_per_heartbeat(tmp_path: Path) -> None:
    db = Database(tmp_path / "h.db")
    recorder = HistoryRecorder(db, heartbeat_s=60.0)
    await recorder.start()
    base = time.time() - 1000.0
    for t in range(0, 120):
        recorder.sample(snap(base + t, 500.0))
    recorder.sample(snap(base + 121.0, 700.0))
    await recorder.flush()
    rows = db.run_sync(lambda c: query_series(c, "grid", "p_w", 0, 2e9))
    await db.close()
    assert [r.ts - base for r in rows] == [0.0, 60.0, 121.0]
    assert rows[-1].value == 700.0


async def test_rows_survive_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    db = Database(path)
    recorder = HistoryRecorder(db)
    await recorder.start()
    recorder.sample(snap(time.time(), 1.0))
    recorder.record_decision(time.time(), {"battery": "-5 kW: peak_shaving"})
    await recorder.flush()
    await db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM history").fetchone()[0] == 1
        assert conn.execute("SELECT record FROM decisions").fetchone()[0] == '{"battery":"-5 kW: peak_shaving"}'
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_retention_deletes_rows_older_than_the_window(tmp_path: Path) -> None:
    db = Database(tmp_path / "h.db")
    recorder = HistoryRecorder(db, retention_s=3600.0)
    await recorder.start()
    recorder.sample(snap(1.0, 1.0))  # 1970: far outside retention
    await recorder.flush()
    rows = db.run_sync(lambda c: query_series(c, "grid", "p_w", 0, 2e9))
    await db.close()
    assert rows == []


def test_resample_mean_is_time_weighted_and_nan_where_unknown() -> None:
    samples = [Sample(0.0, "g", "p", 100.0, "fresh"), Sample(30.0, "g", "p", 200.0, "fresh")]
    means = resample_mean(samples, 0.0, 120.0, 60.0)
    assert means[0] == 150.0
    assert means[1] == 200.0
    early = resample_mean(samples, -120.0, 0.0, 60.0)
    assert all(math.isnan(v) for v in early)


async def test_decisions_are_stored_when_what_binds_changes_not_every_cycle(tmp_path: Path) -> None:
    db = Database(tmp_path / "h.db")
    recorder = HistoryRecorder(db, heartbeat_s=60.0)
    await recorder.start()
    base = time.time()

    def record(ts: float, value_kw: float, binding: str) -> dict[str, object]:
        asset = {"asset": "battery", "binding": [binding], "preferred": f"self_consumption {value_kw} kW"}
        return {"record": {"ts_utc": ts, "mode": "normal", "assets": [asset]}, "alarms": []}

    for i in range(100):  # 50 s of cycles, measurements changing, same binding
        recorder.record_decision(base + i * 0.5, record(base + i * 0.5, float(i), "envelope"))
    recorder.record_decision(base + 51, record(base + 51, 3.0, "peak_shaving bound max import 60 kW"))
    recorder.record_decision(base + 120, record(base + 120, 3.0, "peak_shaving bound max import 60 kW"))
    await recorder.flush()
    rows = db.run_sync(lambda c: c.execute("SELECT ts FROM decisions ORDER BY ts").fetchall())
    await db.close()
    assert [round(ts - base) for (ts,) in rows] == [0, 51, 120]
