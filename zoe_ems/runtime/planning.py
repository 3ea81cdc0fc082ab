"""Optimizer wiring: history on SQLite for forecasts, site state from the process image, the planner's
plans into the control inputs, history and the northbound link, and `zoe-ems plan`.

Forecast history reads run in the planner's worker thread with their own read-only connection. A plan
from the optimizer never replaces a `schedule` command that is still valid. Nothing here writes devices.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import structlog

from drivers.points import DeviceKind, MeterRole
from zoe_ems.config import SiteConfig
from zoe_ems.control.inputs import ControlInputs, SchedulePlan
from zoe_ems.optimizer.planner import PlannerService
from zoe_ems.optimizer.site import SiteInputsBuilder, SiteState, batteries_from_config
from zoe_ems.optimizer.summary import plan_to_dict
from zoe_ems.optimizer.tariffs import Tariff
from zoe_ems.site.image import ProcessImage
from zoe_ems.storage.history import query_series, resample_mean

log = structlog.get_logger(__name__)

PLANS_SCHEMA = """
CREATE TABLE IF NOT EXISTS plans (ts REAL NOT NULL, plan TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS plans_ts ON plans (ts);
"""


class SqliteHistorySource:
    """``load_w`` and ``pv_w`` step averages from the point history (passive convention)."""

    def __init__(self, db_path: Path, config: SiteConfig) -> None:
        self._path = db_path
        devices = config.devices
        self._grid = [d.id for d in devices if d.kind is DeviceKind.METER and d.role is MeterRole.GRID]
        pv_inverters = [d.id for d in devices if d.kind is DeviceKind.PV_INVERTER]
        pv_meters = [d.id for d in devices if d.kind is DeviceKind.METER and d.role is MeterRole.PV]
        self._pv = pv_inverters or pv_meters
        self._others = [d.id for d in devices if d.kind in (DeviceKind.PCS, DeviceKind.EV_CHARGER, DeviceKind.SG_READY)]

    def _sum(self, conn: sqlite3.Connection, ids: list[str], start: float, end: float, step: float) -> np.ndarray:
        n = max(0, math.ceil((end - start) / step))
        total = np.zeros(n)
        for device_id in ids:
            samples = query_series(conn, device_id, "p_w", start - 3600.0, end)
            total = total + np.asarray(resample_mean(samples, start, end, step))
        return total

    def series(self, name: str, start_utc: float, end_utc: float, step_s: float) -> np.ndarray:
        n = max(0, math.ceil((end_utc - start_utc) / step_s))
        if not self._path.exists() or n == 0:
            return np.full(n, np.nan)
        with contextlib.closing(sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=10.0)) as conn:
            try:
                pv = self._sum(conn, self._pv, start_utc, end_utc, step_s) if self._pv else np.zeros(n)
                if name == "pv_w":
                    return np.minimum(pv, 0.0)
                if name == "load_w" and self._grid:
                    grid = self._sum(conn, self._grid, start_utc, end_utc, step_s)
                    others = self._sum(conn, self._others, start_utc, end_utc, step_s) if self._others else np.zeros(n)
                    # Devices without history count as 0 W; an unknown grid meter makes the step unknown.
                    load: np.ndarray = grid - np.nan_to_num(others, nan=0.0) - np.nan_to_num(pv, nan=0.0)
                    clipped: np.ndarray = np.maximum(load, 0.0)
                    return clipped
            except sqlite3.OperationalError:
                return np.full(n, np.nan)
        return np.full(n, np.nan)

    def peak_since_w(self, start_utc: float, end_utc: float, step_s: float = 900.0) -> float:
        """Highest step-average grid import since ``start_utc`` (0 when nothing is known)."""
        if not self._grid:
            return 0.0
        with contextlib.closing(sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=10.0)) as conn:
            try:
                grid = self._sum(conn, self._grid, start_utc, end_utc, step_s)
            except sqlite3.OperationalError:
                return 0.0
        known = grid[~np.isnan(grid)]
        return float(max(0.0, known.max())) if known.size else 0.0


class Planning:
    """The optimizer as the daemon runs it."""

    def __init__(
        self,
        config: SiteConfig,
        image: ProcessImage,
        inputs: ControlInputs,
        on_event: Callable[[str, str, dict[str, Any]], None],
    ) -> None:
        self.config = config
        self.image = image
        self.inputs = inputs
        self._on_event = on_event
        self.history = SqliteHistorySource(config.storage.path, config)
        self.tariff = Tariff(config.optimizer.tariff, config.site.timezone)
        self._batteries = batteries_from_config(config)
        self._pcs_ids = [d.id for d in config.devices if d.kind is DeviceKind.PCS]
        self._peak_w = 0.0
        self._peak_checked = 0.0
        self.builder = SiteInputsBuilder(config, self.tariff, self._state, self.history)
        self.planner = PlannerService(source=self.builder, on_plan=self._on_plan, on_alarm=self._on_alarm)
        self.pending_records: list[tuple[float, str]] = []

    # -- inputs to the planner ---------------------------------------------------------------

    def _soc_of(self, pcs_id: str) -> float:
        device = self.config.device(pcs_id)
        soc = self.image.latest(device.bms, "soc") if device.bms else None
        if soc is None:
            soc = self.image.latest(pcs_id, "soc")
        return soc if soc is not None else self.config.control.soc_min

    def _state(self) -> SiteState:
        now = time.time()
        if now - self._peak_checked > 300.0:
            self._peak_checked = now
            tz = ZoneInfo(self.config.site.timezone)
            month_start = datetime.fromtimestamp(now, tz).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            self._peak_w = self.history.peak_since_w(month_start.timestamp(), now)
        return SiteState(
            soc=[self._soc_of(pcs_id) for pcs_id in self._pcs_ids],
            peak_so_far_w=self._peak_w,
            envelopes=tuple(self.inputs.envelopes),
        )

    def fleet_soc(self) -> float | None:
        socs = [self._soc_of(pcs_id) for pcs_id in self._pcs_ids]
        capacity = [b.capacity_wh for b in self._batteries]
        if not socs or sum(capacity) <= 0:
            return None
        return float(sum(s * c for s, c in zip(socs, capacity, strict=False)) / sum(capacity))

    def on_prices(self, start_utc: float, step_s: float, buy: list[float], sell: list[float]) -> None:
        self.tariff.set_command_prices(start_utc, step_s, buy, sell)
        self.planner.request_replan("prices")

    # -- outputs -----------------------------------------------------------------------------

    def _on_plan(self, plan: SchedulePlan) -> None:
        current = self.inputs.plan
        if current is not None and current.source != "optimizer" and current.end_utc > time.time():
            log.info("optimizer plan not applied: a schedule command is active", command=current.source)
        else:
            self.inputs.with_plan(plan)
        summary = self.summary()
        if summary is not None:
            self.pending_records.append((time.time(), json.dumps(summary, separators=(",", ":"))))
            self._on_event("plan.updated", "info", {k: v for k, v in summary.items() if k != "intervals"})

    def _on_alarm(self, code: str, message: str, active: bool) -> None:
        self._on_event(
            "alarm.raised" if active else "alarm.cleared",
            "warning" if active else "info",
            {
                "code": code.upper(),
                "message": message,
            },
        )

    def summary(self) -> dict[str, Any] | None:
        """`zoe-ems plan --json`: the current plan per interval with prices, forecasts and expected cost."""
        latest = self.planner.latest
        if latest is None:
            return None
        return plan_to_dict(latest.inputs, latest.solution, latest.capacity_wh)

    def take_records(self) -> list[tuple[float, str]]:
        records, self.pending_records = self.pending_records, []
        return records


def store_plans(conn: sqlite3.Connection, *, records: list[tuple[float, str]]) -> None:
    """Append plan summaries to the `plans` table (created on first use)."""
    conn.executescript(PLANS_SCHEMA)
    with conn:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO plans (ts, plan) VALUES (?, ?)", records)
