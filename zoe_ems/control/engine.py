"""The control engine: snapshot + inputs → controllers → arbiter → envelope → setpoints, once per cycle.

Pure and synchronous: time comes only from ``now_mono`` and ``inputs.now_utc``; the small state it keeps
(last setpoints for the ramp and PV probing, controller hysteresis, SG-Ready timers) lives in the instance.
A controller that raises is skipped for the cycle with an alarm. When the grid meter is stale the engine
switches to the fail-safe decision. It never performs I/O; the daemon writes the returned setpoints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from drivers.points import sg_ready_relays
from zoe_ems.config import SiteConfig
from zoe_ems.control.arbiter import AssetSpec, Resolution, arbitrate
from zoe_ems.control.contact import LoadLimitContact
from zoe_ems.control.controllers import (
    BackupReserve,
    Context,
    Controller,
    DrEvent,
    EvCharging,
    ExportLimit,
    LoadLimit,
    ManualSetpoint,
    PeakShaving,
    ScheduleFollower,
    SelfConsumption,
    SgReady,
)
from zoe_ems.control.decision import Decision
from zoe_ems.control.distribute import UnitShare, distribute
from zoe_ems.control.envelope import EnvelopeParams, Limit, UnitLimit, fleet_limit, grid_limit, unit_limit
from zoe_ems.control.inputs import InputsView
from zoe_ems.control.record import (
    AssetRecord,
    BoundRecord,
    ControllerStatus,
    DecisionRecord,
    SgRecord,
    format_kw,
)
from zoe_ems.control.sg import RankedRequest, SgGuard, arbitrate_sg
from zoe_ems.control.siteview import EvUnit, PvUnit, SiteModel, SiteView
from zoe_ems.control.types import BATTERY, Alarm, Proposal, Severity, ev_asset, pv_asset
from zoe_ems.frequency.responder import reserved_w
from zoe_ems.site.points import Snapshot

TOL_W = 1e-3
PV_UNLIMITED_FRACTION = 0.999
"""A PV value within this fraction of the available power is written as "no limit"."""


class ControlEngine:
    """One instance per site; call ``step`` once per control cycle."""

    def __init__(self, config: SiteConfig, extra_controllers: Sequence[Controller] = ()) -> None:
        problems = validate_control_config(config)
        if problems:
            raise ValueError("; ".join(problems))
        self._config = config
        control = config.control
        self._model = SiteModel(config)
        self._tz = ZoneInfo(config.site.timezone)
        grid = config.site.grid
        service_charge_w, service_discharge_w = reserved_w(control.ffr, control.fcr, control.dc)
        self.params = EnvelopeParams(
            soc_min=control.soc_min,
            soc_max=control.soc_max,
            backup_soc=control.backup_reserve.reserve_soc if control.backup_reserve.enabled else None,
            ramp_w_per_s=control.ramp_kw_per_s * 1000.0 if control.ramp_kw_per_s is not None else None,
            reserve_up_w=control.reserve.up_kw * 1000.0 + service_discharge_w,
            reserve_down_w=control.reserve.down_kw * 1000.0 + service_charge_w,
            import_limit_w=grid.import_limit_w,
            export_limit_w=grid.export_limit_w,
            fuse_a=grid.fuse_a,
            voltage_v=grid.nominal_voltage_v,
        )
        self.controllers: list[Controller] = _build_controllers(config) + list(extra_controllers)
        self._ev_enabled = control.ev_charging.enabled
        self._sg_enabled = control.sg_ready.enabled
        self._sg_guard: SgGuard | None = None
        contact = control.load_limit.contact
        self.load_limit_contact = (
            LoadLimitContact(contact) if control.load_limit.enabled and contact is not None else None
        )
        self._unit_cmd: dict[str, float] = {}
        self._pv_limit: dict[str, float] = {}
        self._last_mono: float | None = None
        self._had_plan = False
        self.hard_limits: dict[str, tuple[float, float]] = {}
        self.grid_headroom_w: tuple[float, float] = (0.0, 0.0)
        """(import, export) headroom at the connection point left by the last cycle, for the fast path."""
        """Per PCS: the hard envelope (rating, BMS, SOC window, faults) of the last cycle, for the fast path."""

    # -- public --------------------------------------------------------------------------------------------------

    def step(self, snapshot: Snapshot, inputs: InputsView, now_mono: float) -> Decision:
        """One control cycle."""
        dt = self._config.control.cycle_ms / 1000.0 if self._last_mono is None else now_mono - self._last_mono
        self._last_mono = now_mono
        if self._sg_guard is None:
            self._sg_guard = SgGuard(self._config.control.sg_ready, self._tz, now_mono)
        view = self._model.build(snapshot, now_mono, self._pv_limit)
        alarms: list[Alarm] = []
        for unit in view.batteries:
            for code, message in unit.faults:
                severity = Severity.CRITICAL if code == "BMS_ALARM" else Severity.WARNING
                device = unit.bms_id if code.startswith("BMS") else unit.pcs_id
                alarms.append(Alarm(code=code, severity=severity, message=message, device_id=device))
        if self.load_limit_contact is not None:
            inputs = self.load_limit_contact.apply(snapshot, inputs, alarms)
        unit_limits = {
            u.pcs_id: unit_limit(u, self.params, self._unit_cmd.get(u.pcs_id, u.p_w if u.online else None), dt)
            for u in view.batteries
        }
        self.hard_limits = {pcs_id: (ul.hard.min_w, ul.hard.max_w) for pcs_id, ul in unit_limits.items()}
        fleet = fleet_limit(unit_limits.values(), self.params)
        if not view.grid_ok:
            return self._failsafe(view, inputs, unit_limits, fleet, alarms)
        grid_env = grid_limit(self.params, inputs.envelopes, view.grid_w, view.phase_p_w)
        ctx = Context(view=view, inputs=inputs, now_mono=now_mono, fleet=fleet, grid=grid_env, tz=self._tz)
        proposals, statuses = self._collect(ctx, alarms)
        self._plan_alarm(inputs, alarms)
        assets = self._assets(view, fleet)
        resolution = arbitrate(assets, view.base_w, grid_env, proposals)
        self.grid_headroom_w = (
            max(0.0, grid_env.max_w - resolution.grid_w),
            max(0.0, resolution.grid_w - grid_env.min_w),
        )
        units = self._distribute(view, unit_limits, resolution.values.get(BATTERY, 0.0))
        setpoints: dict[str, dict[str, float]] = {}
        self._battery_setpoints(view, units, setpoints)
        self._pv_setpoints(view.pvs, resolution.values, setpoints)
        if self._ev_enabled:
            self._ev_setpoints(view.evs, resolution.values, setpoints)
        sg_records = self._sg(view, proposals, setpoints) if self._sg_enabled else ()
        record = DecisionRecord(
            ts_mono=now_mono,
            ts_utc=inputs.now_utc,
            mode="normal",
            grid_measured_w=view.grid_w,
            grid_predicted_w=resolution.grid_w,
            grid_range_w=resolution.grid_range,
            assets=tuple(resolution.records),
            units=tuple(units.items()),
            heat_pumps=tuple(sg_records),
            controllers=tuple(statuses),
            bounds=tuple(_bound_records(resolution)),
        )
        return Decision(setpoints=setpoints, record=record, alarms=alarms)

    # -- cycle parts ---------------------------------------------------------------------------------------------

    def _collect(self, ctx: Context, alarms: list[Alarm]) -> tuple[list[Proposal], list[ControllerStatus]]:
        proposals: list[Proposal] = []
        statuses: list[ControllerStatus] = []
        for controller in self.controllers:
            try:
                made = controller.propose(ctx)
            except Exception as exc:  # a buggy controller must not stop the cycle
                statuses.append(ControllerStatus(controller.name, controller.priority, "failed", repr(exc)))
                alarms.append(
                    Alarm(
                        code="CONTROLLER_FAILED",
                        severity=Severity.WARNING,
                        message=f"controller {controller.name} raised {exc!r}; skipped this cycle",
                    )
                )
                continue
            statuses.append(ControllerStatus(controller.name, controller.priority, "ok" if made else "idle"))
            for proposal in made:
                proposals.append(proposal)
                alarms.extend(proposal.alarms)
        return proposals, statuses

    def _plan_alarm(self, inputs: InputsView, alarms: list[Alarm]) -> None:
        if not self._config.control.schedule.enabled:
            return
        active = inputs.plan is not None and inputs.plan.at(inputs.now_utc) is not None
        if active:
            self._had_plan = True
            return
        if self._had_plan or self._config.optimizer.enabled:
            alarms.append(
                Alarm(
                    code="PLAN_MISSING",
                    severity=Severity.WARNING,
                    message="no valid plan for now: falling back to self-consumption",
                )
            )

    def _assets(self, view: SiteView, fleet: Limit) -> list[AssetSpec]:
        assets: list[AssetSpec] = []
        if view.batteries:
            assets.append(AssetSpec(key=BATTERY, limit=fleet, default_w=0.0))
        for pv in view.pvs:
            assets.append(
                AssetSpec(
                    key=pv_asset(pv.device_id),
                    limit=Limit(-pv.available_w, 0.0, f"PV available {format_kw(pv.available_w)}", "PV off"),
                    default_w=-pv.available_w,
                )
            )
        if self._ev_enabled:
            for ev in view.evs:
                top = ev.max_w if ev.connected else 0.0
                reason = f"charger max {ev.max_current_a:g} A × {ev.phases}" if ev.connected else "no car"
                assets.append(
                    AssetSpec(
                        key=ev_asset(ev.device_id),
                        limit=Limit(0.0, top, "no charging", reason),
                        default_w=0.0,
                        min_on_w=ev.min_w,
                    )
                )
        return assets

    def _distribute(self, view: SiteView, limits: dict[str, UnitLimit], fleet_w: float) -> dict[str, float]:
        shares = [
            UnitShare(u.pcs_id, limits[u.pcs_id].final.min_w, limits[u.pcs_id].final.max_w, u.soc)
            for u in view.batteries
        ]
        values = distribute(fleet_w, shares, self.params.soc_min, self.params.soc_max)
        # Guard: whatever happened upstream, no unit leaves its envelope.
        return {unit_id: limits[unit_id].final.clamp(value) for unit_id, value in values.items()}

    def _battery_setpoints(self, view: SiteView, units: dict[str, float], out: dict[str, dict[str, float]]) -> None:
        for unit in view.batteries:
            value = units.get(unit.pcs_id, 0.0)
            if not unit.online or not unit.writable:
                self._unit_cmd.pop(unit.pcs_id, None)
                continue
            out[unit.pcs_id] = {"p_set_w": value}
            self._unit_cmd[unit.pcs_id] = value

    def _pv_setpoints(self, pvs: list[PvUnit], values: dict[str, float], out: dict[str, dict[str, float]]) -> None:
        for pv in pvs:
            value = values.get(pv_asset(pv.device_id), -pv.available_w)
            production = max(0.0, -value)
            probing = pv.at_limit and pv.available_w < pv.rated_w * PV_UNLIMITED_FRACTION
            if production >= pv.available_w * PV_UNLIMITED_FRACTION and pv.measured and not probing:
                self._pv_limit.pop(pv.device_id, None)
                limit = pv.rated_w
            else:
                self._pv_limit[pv.device_id] = production
                limit = production
            out[pv.device_id] = _pv_points(pv, limit, curtailed=pv.device_id in self._pv_limit)

    def _ev_setpoints(self, evs: list[EvUnit], values: dict[str, float], out: dict[str, dict[str, float]]) -> None:
        for ev in evs:
            out[ev.device_id] = _ev_points(ev, values.get(ev_asset(ev.device_id), 0.0))

    def _sg(self, view: SiteView, proposals: list[Proposal], out: dict[str, dict[str, float]]) -> list[SgRecord]:
        assert self._sg_guard is not None
        by_pump: dict[str, list[RankedRequest]] = {}
        for proposal in proposals:
            for request in proposal.sg_ready:
                by_pump.setdefault(request.device_id, []).append(
                    RankedRequest(proposal.controller, proposal.priority, request)
                )
        records = []
        for hp in view.heat_pumps:
            desired, why = arbitrate_sg(by_pump.get(hp.device_id, []))
            record = self._sg_guard.decide(hp.device_id, hp.state, desired, why, view.now_mono, view.now_utc)
            relay1, relay2 = sg_ready_relays(record.state)
            out[hp.device_id] = {"relay1": float(relay1), "relay2": float(relay2)}
            records.append(record)
        return records

    def _failsafe(
        self,
        view: SiteView,
        inputs: InputsView,
        unit_limits: dict[str, UnitLimit],
        fleet: Limit,
        alarms: list[Alarm],
    ) -> Decision:
        """Grid meter stale or in error: battery zero (or hold), PV capped so the export limit holds, EVs paused."""
        fs = self._config.control.failsafe
        self.grid_headroom_w = (0.0, 0.0)  # grid unknown: no frequency response on top of the fail-safe state
        meters = ", ".join(view.grid_meter_ids) or "(none configured)"
        alarms.append(
            Alarm(
                code="GRID_METER_STALE",
                severity=Severity.CRITICAL,
                message=f"grid meter {meters} stale or in error: fail-safe (battery {fs.grid_meter_loss_battery}, "
                "PV capped to the export limit)",
                device_id=view.grid_meter_ids[0] if view.grid_meter_ids else None,
            )
        )
        wanted = {
            u.pcs_id: (self._unit_cmd.get(u.pcs_id, 0.0) if fs.grid_meter_loss_battery == "hold" else 0.0)
            for u in view.batteries
        }
        units = {unit_id: unit_limits[unit_id].final.clamp(value) for unit_id, value in wanted.items()}
        setpoints: dict[str, dict[str, float]] = {}
        self._battery_setpoints(view, units, setpoints)
        battery_w = sum(units.values())
        export_w = grid_limit(self.params, inputs.envelopes).min_w * -1.0
        # PV may produce at most the export limit plus what the battery absorbs (less what it discharges).
        pv_budget = max(0.0, export_w + min(0.0, battery_w))
        rated_total = sum(pv.rated_w for pv in view.pvs if not math.isinf(pv.rated_w))
        records = []
        for pv in view.pvs:
            share = pv_budget * pv.rated_w / rated_total if rated_total > 0 else 0.0
            limit = min(pv.rated_w, share)
            self._pv_limit[pv.device_id] = limit
            setpoints[pv.device_id] = _pv_points(pv, limit, curtailed=True)
            records.append(
                AssetRecord(pv_asset(pv.device_id), -limit, ("failsafe: grid meter lost, PV ≤ export limit",))
            )
        if self._ev_enabled:
            for ev in view.evs:
                value = ev.min_w if fs.grid_meter_loss_ev == "minimum" and ev.connected else 0.0
                setpoints[ev.device_id] = _ev_points(ev, value)
                records.append(
                    AssetRecord(
                        ev_asset(ev.device_id), value, (f"failsafe: grid meter lost, EV {fs.grid_meter_loss_ev}",)
                    )
                )
        sg_records: list[SgRecord] = []
        if self._sg_enabled and self._sg_guard is not None:
            for hp in view.heat_pumps:
                sg_record = self._sg_guard.decide(
                    hp.device_id, hp.state, 2, "failsafe: grid meter lost", view.now_mono, view.now_utc
                )
                relay1, relay2 = sg_ready_relays(sg_record.state)
                setpoints[hp.device_id] = {"relay1": float(relay1), "relay2": float(relay2)}
                sg_records.append(sg_record)
        battery_record = AssetRecord(
            BATTERY, battery_w, (f"failsafe: grid meter lost, battery {fs.grid_meter_loss_battery}",)
        )
        record = DecisionRecord(
            ts_mono=view.now_mono,
            ts_utc=inputs.now_utc,
            mode="failsafe",
            grid_measured_w=None,
            grid_predicted_w=math.nan,
            grid_range_w=(-export_w, math.inf),
            assets=(battery_record, *records) if view.batteries else tuple(records),
            units=tuple(units.items()),
            heat_pumps=tuple(sg_records),
            controllers=tuple(ControllerStatus(c.name, c.priority, "idle", "fail-safe") for c in self.controllers),
        )
        return Decision(setpoints=setpoints, record=record, alarms=alarms)


def validate_control_config(config: SiteConfig) -> list[str]:
    """Cross-checks of `control:` against `devices:` (for check-config): each problem names its field."""
    problems = []
    kinds = {d.id: d.kind.value for d in config.devices}
    for charger_id in config.control.ev_charging.chargers:
        if charger_id not in kinds:
            problems.append(f"control.ev_charging.chargers.{charger_id}: no device with id {charger_id!r}")
        elif kinds[charger_id] != "ev_charger":
            problems.append(
                f"control.ev_charging.chargers.{charger_id}: device {charger_id!r} is a {kinds[charger_id]}, "
                "not an ev_charger"
            )
    contact = config.control.load_limit.contact
    if contact is not None:
        if contact.device not in kinds:
            problems.append(f"control.load_limit.contact.device: no device with id {contact.device!r}")
        elif kinds[contact.device] != "digital_io":
            problems.append(
                f"control.load_limit.contact.device: device {contact.device!r} is a {kinds[contact.device]}, "
                "not a digital_io"
            )
    return problems


def _build_controllers(config: SiteConfig) -> list[Controller]:
    control = config.control
    peak = PeakShaving(control.peak_shaving, config.site.grid.import_limit_w)
    candidates: list[tuple[bool, Controller]] = [
        (control.peak_shaving.enabled, peak),
        (control.export_limit.enabled, ExportLimit(control.export_limit, config.site.grid.export_limit_w)),
        (control.load_limit.enabled, LoadLimit(control.load_limit)),
        (control.dr_event.enabled, DrEvent(control.dr_event)),
        (control.manual.enabled, ManualSetpoint(control.manual)),
        (control.backup_reserve.enabled, BackupReserve(control.backup_reserve)),
        (control.schedule.enabled, ScheduleFollower(control.schedule)),
        (control.ev_charging.enabled, EvCharging(control.ev_charging)),
        (control.self_consumption.enabled, SelfConsumption(control.self_consumption)),
        (control.sg_ready.enabled, SgReady(control.sg_ready, peak.limit_w)),
    ]
    return [controller for enabled, controller in candidates if enabled]


def _pv_points(pv: PvUnit, limit_w: float, *, curtailed: bool) -> dict[str, float]:
    """PV limit as watts and as a fraction of the rating (only the fraction when uncurtailed with no rating known)."""
    rated_known = pv.rated_w > 0 and not math.isinf(pv.rated_w)
    if not curtailed:
        return {"p_limit_w": pv.rated_w, "p_limit_pct": 1.0} if rated_known else {"p_limit_pct": 1.0}
    points = {"p_limit_w": max(0.0, limit_w)}
    if rated_known:
        points["p_limit_pct"] = min(1.0, max(0.0, limit_w) / pv.rated_w)
    return points


def _ev_points(ev: EvUnit, value_w: float) -> dict[str, float]:
    current = value_w / (ev.phases * ev.voltage_v)
    if current < ev.min_current_a - 1e-6:
        return {"i_limit_a": 0.0, "enable": 0.0}
    current = min(ev.max_current_a, max(ev.min_current_a, math.floor(current * 10.0 + 1e-6) / 10.0))
    return {"i_limit_a": current, "enable": 1.0}


def _bound_records(resolution: Resolution) -> list[BoundRecord]:
    return [
        BoundRecord(b.controller, b.priority, b.asset, b.min_w, b.max_w, b.reason, b.feasible)
        for b in resolution.bounds
    ]
