"""Response logging on a real SQLite file: 1 s normally, every sample from 10 s before to 15 min after."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from zoe_ems.frequency.response_log import ResponseLogger, ResponseSample, export_csv
from zoe_ems.storage.database import Database


def sample(ts: float, active: bool = False) -> ResponseSample:
    return ResponseSample(
        ts=ts,
        f_hz=49.6 if active else 50.0,
        response_w=-1000.0 if active else 0.0,
        setpoint_w=None,
        pcs_p_w=None,
        active=active,
        services="ffr:armed",
    )


async def test_dense_around_activation_and_one_per_second_otherwise(tmp_path: Path) -> None:
    db = Database(tmp_path / "f.db")
    logger = ResponseLogger(db)
    await logger.start()
    t0 = 1_800_000_000.0
    period = 0.05  # 20 Hz
    n_quiet = 600  # 30 s quiet
    for i in range(n_quiet):
        logger.add(sample(t0 + i * period))
    t_act = t0 + n_quiet * period
    for i in range(40):  # 2 s active
        logger.add(sample(t_act + i * period, active=True))
    for i in range(40, 400):  # 18 s after, inactive but inside the 15 min window
        logger.add(sample(t_act + i * period))
    await logger.flush()
    text = db.run_sync(lambda c: export_csv(c, t0 - 1, t0 + 10_000))
    await db.close()
    rows = list(csv.DictReader(io.StringIO(text)))
    stamps = [r["utc"] for r in rows]
    assert len(stamps) == len(set(stamps))
    quiet_rows = [r for r in rows if r["utc"] < "2027-01-15T08:00:20"]
    # 1 s cadence during the first 20 s of quiet (the last 10 s before the trigger are dense)
    assert 19 <= len(quiet_rows) <= 21
    dense = [r for r in rows if r["utc"] >= "2027-01-15T08:00:20"]
    assert len(dense) == 200 + 40 + 360  # 10 s pre-trigger at 20 Hz + activation + after
    assert any(r["active"] == "1" for r in rows)


async def test_export_of_an_empty_database_has_only_the_header(tmp_path: Path) -> None:
    db = Database(tmp_path / "f.db")
    text = db.run_sync(lambda c: export_csv(c, 0, 1e10))
    await db.close()
    assert text.strip() == "utc,f_hz,response_w,setpoint_w,pcs_p_w,active,services"
