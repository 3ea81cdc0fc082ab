"""Optimizer wiring: history on SQLite for forecasts, site state from the process image, the planner's
plans into the control inputs, history and the northbound link, forecast quality, and `zoe-ems plan`.

History reads (forecasts, peaks, forecast scoring) run in the planner's worker thread with their own read-only
connection; writes (`store_plans`) run on the storage thread. A plan from the optimizer never replaces a
`schedule` command that is still valid. Nothing here writes devices.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import structlog

from drivers.points import DeviceKind, MeterRole
from zoe_ems.config import SiteConfig
from zoe_ems.control.inputs import ControlInputs, SchedulePlan
from zoe_ems.optimizer.forecast import ForecastTracker
from zoe_ems.optimizer.problem import ModelSpec, MpcInputs, PlanSkipped
from zoe_ems.optimizer.series import TimeSeries
from zoe_ems.optimizer.site import SiteInputsBuilder, SiteState, batteries_from_config
from zoe_ems.optimizer.summary import plan_to_dict
from zoe_ems.optimizer.tariffs import Tariff
from zoe_ems.site.image import ProcessImage
from zoe_ems.site.points import Snapshot
from zoe_ems.storage.history import query_series, resample_mean

if TYPE_CHECKING:
    from zoe_ems.optimizer.planner import PlannerService

log = structlog.get_logger(__name__)

PLANS_SCHEMA = """
CREATE TABLE IF NOT EXISTS plans (ts REAL NOT NULL, plan TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS plans_ts ON plans (ts);
CREATE TABLE IF NOT EXISTS forecast_quality (
    ts REAL NOT NULL,
    series TEXT NOT NULL,
    mae_w REAL NOT NULL,
    samples INTEGER NOT NULL,
    forecasts INTEGER NOT NULL,
    mean_actual_w REAL
);
CREATE INDEX IF NOT EXISTS forecast_quality_ts ON forecast_quality (ts);
"""

FORECAST_KEEP = 200
"""Issued forecasts remembered per series for scoring (about two days of 15-min plans)."""


class SqliteHistorySource:
    """``load_w`` and ``pv_w`` step averages from the point history (passive convention), read-only.

    load = grid - batteries - PV - EV chargers - heat pumps (SG-Ready), clipped at 0. A step without grid
    meter history is NaN; any other device without history in a step counts as 0 W there. ``pv_w`` sums the
    PV inverters (or PV meters when there are no inverters) and is NaN where one of them has no history (a
    partial sum would bias the clear-sky scaling low); 0 on a site without PV.
    """

    def __init__(self, db_path: Path, config: SiteConfig) -> None:
        self._path = db_path
        devices = config.devices
        self._grid = [d.id for d in devices if d.kind is DeviceKind.METER and d.role is MeterRole.GRID]
        pv_inverters = [d.id for d in devices if d.kind is DeviceKind.PV_INVERTER]
        pv_meters = [d.id for d in devices if d.kind is DeviceKind.METER and d.role is MeterRole.PV]
        self._pv = pv_inverters or pv_meters
        chargers = [d.id for d in devices if d.kind is DeviceKind.EV_CHARGER]
        ev_meters = [d.id for d in devices if d.kind is DeviceKind.METER and d.role is MeterRole.EV]
        self._others = [d.id for d in devices if d.kind in (DeviceKind.PCS, DeviceKind.SG_READY)]
        self._others += chargers or ev_meters

    def series(self, name: str, start_utc: float, end_utc: float, step_s: float) -> np.ndarray:
        """Step averages of ``load_w`` or ``pv_w`` on [start_utc, end_utc); NaN where unknown."""
        n = max(0, math.ceil((end_utc - start_utc) / step_s))
        if n == 0 or name not in ("load_w", "pv_w"):
            return np.full(n, np.nan)
        try:
            with self._connect() as conn:
                if name == "pv_w":
                    pv: np.ndarray = np.minimum(self._sum(conn, self._pv, start_utc, end_utc, step_s), 0.0)
                    return pv
                if not self._grid:
                    return np.full(n, np.nan)
                grid = self._sum(conn, self._grid, start_utc, end_utc, step_s)
                others = self._sum(conn, self._others + self._pv, start_utc, end_utc, step_s, missing_as_zero=True)
        except sqlite3.Error:
            return np.full(n, np.nan)
        load: np.ndarray = grid - others
        clipped: np.ndarray = np.maximum(load, 0.0)
        return clipped

    def mean_import_w(self, start_utc: float, end_utc: float) -> float | None:
        """Average grid import over [start_utc, end_utc) (None when nothing is known)."""
        if not self._grid or end_utc <= start_utc:
            return None
        try:
            with self._connect() as conn:
                grid = self._sum(conn, self._grid, start_utc, end_utc, end_utc - start_utc)
        except sqlite3.Error:
            return None
        return None if grid.size == 0 or np.isnan(grid[0]) else float(max(grid[0], 0.0))

    def peak_since_w(self, start_utc: float, end_utc: float, step_s: float = 900.0) -> float:
        """Highest step-average grid import since ``start_utc`` (0 when nothing is known)."""
        if not self._grid:
            return 0.0
        try:
            with self._connect() as conn:
                grid = self._sum(conn, self._grid, start_utc, end_utc, step_s)
        except sqlite3.Error:
            return 0.0
        known = grid[~np.isnan(grid)]
        return float(max(0.0, known.max())) if known.size else 0.0

    # -- private --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._path.exists():
            raise sqlite3.OperationalError(f"no database at {self._path}")
        conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=10.0)
        try:
            yield conn
        finally:
            conn.close()

    def _sum(
        self,
        conn: sqlite3.Connection,
        ids: list[str],
        start: float,
        end: float,
        step: float,
        missing_as_zero: bool = False,
    ) -> np.ndarray:
        n = max(0, math.ceil((end - start) / step))
        total = np.zeros(n)
        for device_id in ids:
            samples = query_series(conn, device_id, "p_w", start - 3600.0, end)
            values = np.asarray(resample_mean(samples, start, end, step))
            total = total + (np.nan_to_num(values, nan=0.0) if missing_as_zero else values)
        return total


class Planning:
    """The optimizer as the daemon runs it: planner, inputs from the site, plans out, forecast quality."""

    def __init__(
        self,
        config: SiteConfig,
        image: ProcessImage,
        inputs: ControlInputs,
        on_event: Callable[[str, str, dict[str, Any]], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.image = image
        self.inputs = inputs
        self._on_event = on_event
        self._clock = clock
        self.history = SqliteHistorySource(config.storage.path, config)
        self.tariff = Tariff(config.optimizer.tariff, config.site.timezone)
        self._batteries = batteries_from_config(config)
        self._pcs_ids = [d.id for d in config.devices if d.kind is DeviceKind.PCS]
        self._peak_w = 0.0
        self._peak_checked = -math.inf
        self._frequency_reserve_w: tuple[float, float] | None = None
        self.builder = SiteInputsBuilder(config, self.tariff, self._state, self.history)
        self.tracker = ForecastTracker(keep=FORECAST_KEEP)
        self._tracker_seeded = False
        self.forecast_quality: dict[str, dict[str, float]] = {}
        """Latest forecast scores per series (``load_w``, ``pv_w``): mae_w, samples, forecasts, mean_actual_w."""
        # Imported here: the solver stack (cvxpy, OSQP, scipy) is loaded only on sites that run the optimizer.
        from zoe_ems.optimizer.planner import PlannerService

        opt = config.optimizer
        self.planner: PlannerService = PlannerService(
            source=_TrackingSource(self),
            on_plan=self._on_plan,
            on_alarm=self._on_alarm,
            clock=clock,
            max_plan_age_s=opt.plan_max_age_s,
            soc_deviation=opt.replan_soc_deviation,
        )
        self.pending_records: list[tuple[float, str]] = []

    # -- inputs to the planner ---------------------------------------------------------------

    def fleet_soc(self) -> float | None:
        """Capacity-weighted SOC of all batteries; None when any battery's SOC is unknown or stale."""
        snapshot = self.image.snapshot()
        socs = [self._soc_of(pcs_id, snapshot) for pcs_id in self._pcs_ids]
        capacity = [b.capacity_wh for b in self._batteries]
        if not socs or sum(capacity) <= 0 or any(s is None for s in socs):
            return None
        known = [s for s in socs if s is not None]
        return float(sum(s * c for s, c in zip(known, capacity, strict=False)) / sum(capacity))

    def on_prices(self, start_utc: float, step_s: float, buy: list[float], sell: list[float]) -> None:
        self.tariff.set_command_prices(start_utc, step_s, buy, sell)
        self.planner.request_replan("prices")

    def set_frequency_reserve(self, charge_w: float, discharge_w: float) -> None:
        """The power the armed frequency services hold now (after a `frequency_service` command); re-plans."""
        reserve = (float(charge_w), float(discharge_w))
        if reserve != self._frequency_reserve_w:
            self._frequency_reserve_w = reserve
            self.planner.request_replan("frequency services")

    # -- outputs -----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any] | None:
        """`zoe-ems plan --json`: the current plan per interval with prices, forecasts, expected cost and the
        forecast quality measured so far."""
        latest = self.planner.latest
        if latest is None:
            return None
        summary = plan_to_dict(latest.inputs, latest.solution, latest.capacity_wh)
        summary["forecast_quality"] = dict(self.forecast_quality)
        return summary

    def status(self) -> dict[str, Any]:
        """The optimizer's part of `zoe-ems status`."""
        planner = self.planner
        latest = planner.latest
        return {
            "has_plan": latest is not None,
            "plan_start": latest.plan.start_utc if latest is not None else None,
            "status": latest.solution.status if latest is not None else None,
            "failures": planner.failures,
            "alarm": planner.alarm_active,
            "last_error": planner.last_error or None,
            "skipped": planner.skip_reason or None,
            "forecast_quality": dict(self.forecast_quality),
        }

    def take_records(self) -> list[tuple[float, str]]:
        records, self.pending_records = self.pending_records, []
        return records

    # -- private --------------------------------------------------------------------------------

    def _soc_of(self, pcs_id: str, snapshot: Snapshot) -> float | None:
        """The battery's SOC (its BMS first, then the PCS), None when unknown, stale or not finite."""
        device = self.config.device(pcs_id)
        for source in (device.bms, pcs_id):
            state = snapshot.devices.get(source) if source else None
            soc = state.value("soc") if state is not None else None
            if soc is not None and math.isfinite(soc):
                return soc
        return None

    def _socs(self) -> list[float]:
        """Every battery's SOC; raises PlanSkipped naming the batteries whose SOC is unknown or stale (the planner
        must not plan from a made-up state)."""
        snapshot = self.image.snapshot()
        socs = {pcs_id: self._soc_of(pcs_id, snapshot) for pcs_id in self._pcs_ids}
        unknown = [pcs_id for pcs_id, soc in socs.items() if soc is None]
        if unknown:
            raise PlanSkipped(f"battery SOC unknown or stale: {', '.join(unknown)}")
        return [soc for soc in socs.values() if soc is not None]

    def _state(self) -> SiteState:
        """Runs in the planner's worker thread (reads history). Raises PlanSkipped when a SOC is unknown."""
        socs = self._socs()
        now = self._clock()
        if now - self._peak_checked > 300.0:
            self._peak_checked = now
            tz = ZoneInfo(self.config.site.timezone)
            local = datetime.fromtimestamp(now, tz)
            if self.config.optimizer.tariff.billing_period == "day":
                period_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
            else:
                period_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            self._peak_w = self.history.peak_since_w(period_start.timestamp(), now, step_s=self.config.optimizer.step_s)
        step = self.config.optimizer.step_s
        step_start = math.floor(now / step) * step
        return SiteState(
            soc=socs,
            peak_so_far_w=self._peak_w,
            envelopes=tuple(self.inputs.envelopes),
            measured_utc=now,
            elapsed_import_w=self.history.mean_import_w(step_start, now) if now - step_start >= 1.0 else None,
            frequency_reserve_w=self._frequency_reserve_w,
        )

    def _track_forecasts(self, issued_utc: float) -> None:
        """Worker thread: remember the forecasts just built and score the earlier ones against history."""
        if not self._tracker_seeded:
            self._tracker_seeded = True
            for name, forecast in stored_forecasts(self.config.storage.path, issued_utc, keep=FORECAST_KEEP):
                self.tracker.record(name, forecast)
        for name, forecast in self.builder.last_forecasts.items():
            self.tracker.record(name, forecast)
        # Only steps whose history has been flushed to SQLite are scored.
        cutoff = issued_utc - self.config.storage.flush_interval_s - 5.0
        quality: dict[str, dict[str, float]] = {}
        for name in ("load_w", "pv_w"):
            score = self.tracker.evaluate(name, self.history, cutoff)
            if score is not None:
                quality[name] = {
                    "mae_w": round(score.mae_w, 1),
                    "samples": score.samples,
                    "forecasts": score.forecasts,
                    "mean_actual_w": round(score.mean_actual_w, 1),
                }
        self.forecast_quality = quality

    def _on_plan(self, plan: SchedulePlan) -> None:
        now = self._clock()
        current = self.inputs.plan
        if current is not None and current.source != "optimizer" and current.end_utc > now:
            log.info("optimizer plan not applied: a schedule command is active", command=current.source)
        else:
            self.inputs.with_plan(plan)
        summary = self.summary()
        if summary is not None:
            self.pending_records.append((now, json.dumps(summary, separators=(",", ":"))))
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


def store_plans(conn: sqlite3.Connection, *, records: list[tuple[float, str]]) -> None:
    """Append plan summaries to the `plans` table and their forecast scores to `forecast_quality`."""
    conn.executescript(PLANS_SCHEMA)
    quality_rows: list[tuple[float, str, float, int, int, float | None]] = []
    for ts, text in records:
        try:
            quality = json.loads(text).get("forecast_quality") or {}
        except (ValueError, AttributeError):
            continue
        for series, score in quality.items():
            quality_rows.append(
                (ts, series, score["mae_w"], score["samples"], score["forecasts"], score.get("mean_actual_w"))
            )
    with conn:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO plans (ts, plan) VALUES (?, ?)", records)
        conn.executemany(
            "INSERT INTO forecast_quality (ts, series, mae_w, samples, forecasts, mean_actual_w)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            quality_rows,
        )


def forecast_quality_history(conn: sqlite3.Connection, since_utc: float = 0.0) -> list[dict[str, Any]]:
    """Stored forecast scores since ``since_utc``, oldest first (empty before the first plan)."""
    try:
        rows = conn.execute(
            "SELECT ts, series, mae_w, samples, forecasts, mean_actual_w FROM forecast_quality WHERE ts >= ?"
            " ORDER BY ts, series",
            (since_utc,),
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    keys = ("ts", "series", "mae_w", "samples", "forecasts", "mean_actual_w")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def stored_forecasts(db_path: Path, before_utc: float, keep: int) -> list[tuple[str, TimeSeries]]:
    """Load and PV forecasts of the newest ``keep`` stored plans (to keep scoring across restarts)."""
    if not db_path.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10.0)) as conn:
            rows = conn.execute(
                "SELECT plan FROM plans WHERE ts < ? ORDER BY ts DESC LIMIT ?", (before_utc, keep)
            ).fetchall()
    except sqlite3.Error:
        return []
    result: list[tuple[str, TimeSeries]] = []
    for (text,) in reversed(rows):
        try:
            summary = json.loads(text)
            start = datetime.strptime(summary["start"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
            step = float(summary["step_s"])
            intervals = summary["intervals"]
            load = np.array([row["load_kw"] * 1000.0 for row in intervals], dtype=float)
            pv = np.array([row["pv_kw"] * 1000.0 for row in intervals], dtype=float)
        except (ValueError, KeyError, TypeError):
            continue
        result.append(("load_w", TimeSeries(start, step, load)))
        result.append(("pv_w", TimeSeries(start, step, pv)))
    return result


class _TrackingSource:
    """The planner's InputsSource: the site inputs builder, plus forecast tracking after each build."""

    def __init__(self, planning: Planning) -> None:
        self._planning = planning

    def spec(self) -> ModelSpec:
        return self._planning.builder.spec()

    def build(self, spec: ModelSpec, start_utc: float) -> MpcInputs:
        inputs = self._planning.builder.build(spec, start_utc)
        try:
            self._planning._track_forecasts(self._planning._clock())
        except Exception as exc:  # forecast scoring must never cost a plan
            log.warning("forecast quality not updated", error=str(exc))
        return inputs
