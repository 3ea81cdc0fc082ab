"""Glue between the daemon's layers: telemetry from the process image, grid history for DR baselines,
alarm de-duplication into northbound events, frequency-service orders into the responder, and a wake-up
of the control loop when a command changed the control inputs.

Each piece is small and pure apart from the SQLite read in ``SqliteGridHistory`` (run in a worker thread
by its caller). Nothing here writes to devices.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import structlog

from drivers.points import DeviceKind
from zoe_ems.config import SiteConfig
from zoe_ems.frequency.orders import ServiceConfigs, apply_orders
from zoe_ems.frequency.responder import FrequencyResponder, reserved_w
from zoe_ems.northbound.frequency_services import FrequencyServiceRegistry
from zoe_ems.northbound.service import NorthboundService
from zoe_ems.northbound.telemetry import TelemetryData
from zoe_ems.site.points import Snapshot
from zoe_ems.storage.history import query_series, resample_mean

log = structlog.get_logger(__name__)

INPUT_CHANGING_ACKS = frozenset({"accepted", "superseded", "expired", "completed"})
"""Ack statuses sent right after the command processor changed the control inputs."""


class WakingNorthbound(NorthboundService):
    """The northbound link, plus a control cycle at once after every ack that says the inputs changed.

    Without it a setpoint waits for the next cycle of the timer (up to ``control.cycle_ms``).
    """

    on_inputs_changed: Callable[[], None] | None = None

    def ack(self, command_id: str | None, status: str, *, code: str | None = None, reason: str = "") -> None:
        super().ack(command_id, status, code=code, reason=reason)
        if status in INPUT_CHANGING_ACKS and self.on_inputs_changed is not None:
            self.on_inputs_changed()


def _total(snapshot: Snapshot, kind: DeviceKind, point: str, role: str | None = None) -> float | None:
    values = [d.value(point) for d in snapshot.of_kind(kind, role)]
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def telemetry_from(
    snapshot: Snapshot,
    hard_limits: dict[str, tuple[float, float]],
    actions: Iterable[str],
    frequency: tuple[bool, str] | None = None,
) -> TelemetryData:
    """The realtime telemetry packet's data from one snapshot (W, passive convention)."""
    grid = _total(snapshot, DeviceKind.METER, "p_w", "grid")
    battery = _total(snapshot, DeviceKind.PCS, "p_w")
    pv = _total(snapshot, DeviceKind.PV_INVERTER, "p_w")
    if pv is None:
        pv = _total(snapshot, DeviceKind.METER, "p_w", "pv")
    ev = _total(snapshot, DeviceKind.EV_CHARGER, "p_w")
    heat = _total(snapshot, DeviceKind.SG_READY, "p_w")
    load = None
    if grid is not None:
        load = grid - sum(v for v in (battery, pv, ev, heat) if v is not None)
    socs = [d.value("soc") for d in snapshot.of_kind(DeviceKind.BMS)]
    if not any(s is not None for s in socs):
        socs = [d.value("soc") for d in snapshot.of_kind(DeviceKind.PCS)]
    known_socs = [s for s in socs if s is not None]
    f_hz = None
    for meter in snapshot.of_kind(DeviceKind.METER, "grid"):
        f_hz = meter.value("f_hz")
    return TelemetryData(
        grid_w=grid,
        battery_w=battery,
        pv_w=pv,
        load_w=load,
        ev_w=ev,
        soc=sum(known_socs) / len(known_socs) if known_socs else None,
        frequency_hz=f_hz,
        available_charge_w=_finite(sum(high for _, high in hard_limits.values())) if hard_limits else None,
        available_discharge_w=_finite(sum(-low for low, _ in hard_limits.values())) if hard_limits else None,
        frequency_available=frequency[0] if frequency is not None else None,
        frequency_reason=frequency[1] if frequency is not None and not frequency[0] else None,
        actions=tuple(actions),
    )


def _finite(value: float) -> float | None:
    """None for an unknown (infinite) capability: JSON has no Infinity."""
    return value if math.isfinite(value) else None


class SqliteGridHistory:
    """Grid-meter power averages from the history table (for DR baselines); opens its own read connection."""

    def __init__(self, db_path: Path, grid_meter_ids: list[str]) -> None:
        self._path = db_path
        self._meters = grid_meter_ids

    def grid_power_average_w(self, start_utc: float, end_utc: float) -> float | None:
        if not self._meters or end_utc <= start_utc or not self._path.exists():
            return None
        total = 0.0
        with contextlib.closing(sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=10.0)) as conn:
            for meter in self._meters:
                # include the last sample before the window: values are held until they change
                samples = query_series(conn, meter, "p_w", start_utc - 3600.0, end_utc)
                mean = resample_mean(samples, start_utc, end_utc, end_utc - start_utc)
                if not mean or mean[0] != mean[0]:  # NaN: nothing known
                    return None
                total += mean[0]
        return total


class AlarmTracker:
    """Turns per-cycle alarm lists into raised/cleared transitions."""

    def __init__(self) -> None:
        self.active: dict[tuple[str, str | None], dict[str, Any]] = {}

    def update(self, alarms: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(raised, cleared) since the last call; alarms are dicts with code, severity, message, device_id."""
        current = {(a["code"], a.get("device_id")): a for a in alarms}
        raised = [a for key, a in current.items() if key not in self.active]
        cleared = [a for key, a in self.active.items() if key not in current]
        self.active = current
        return raised, cleared


class FrequencyOrders:
    """Applies `frequency_service` orders on top of the site file's service settings while they are active.

    Each ordered service is built with full validation (``zoe_ems.frequency.orders``). An order that does not
    give a valid service (the command validator should already have rejected it) is logged with the field it
    got wrong and skipped: that service keeps the site file's settings, and the loop goes on. The responder
    keeps every service whose settings did not change, so a rebuild never resets an FFR activation under way.
    """

    def __init__(self, config: SiteConfig, responder: FrequencyResponder, registry: FrequencyServiceRegistry) -> None:
        control = config.control
        self._base = ServiceConfigs(ffr=control.ffr, fcr=control.fcr, dc=control.dc)
        self._responder = responder
        self._registry = registry
        self._applied: tuple[tuple[str, str], ...] = ()
        self.problems: dict[str, str] = {}
        """Command id → why its order was not applied (for status and tests)."""

    def refresh(self, now_utc: float, on_reserve: Callable[[float, float], None]) -> bool:
        """Re-arm the responder when the set of active orders changed; returns True on a change."""
        active = self._registry.active(now_utc)
        key = tuple(sorted((name, entry.command_id) for name, entry in active.items()))
        if key == self._applied:
            return False
        self._applied = key
        orders = [(entry.command_id, entry.order) for entry in active.values()]
        configs, problems = apply_orders(self._base, orders)
        for command_id, reason in problems.items():
            if command_id not in self.problems:
                log.error("frequency_service order not applied", command_id=command_id, reason=reason)
        self.problems = problems
        responder = self._responder
        responder.ffr, responder.fcr, responder.dc = configs.ffr, configs.fcr, configs.dc
        responder.rebuild()
        charge_w, discharge_w = reserved_w(configs.ffr, configs.fcr, configs.dc)
        on_reserve(charge_w, discharge_w)
        return True


def with_reserve(params: Any, base_up_w: float, base_down_w: float, charge_w: float, discharge_w: float) -> Any:
    """EnvelopeParams with the frequency-service headroom replaced."""
    return dataclasses.replace(params, reserve_up_w=base_up_w + discharge_w, reserve_down_w=base_down_w + charge_w)
