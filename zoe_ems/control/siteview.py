"""What the controllers see: the snapshot turned into battery units, PV, EV, heat pumps and the site balance.

Built once per cycle from the process-image snapshot and the site configuration. Only FRESH values are
trusted. Balance: grid = base + battery + controllable PV + controllable EV (base holds the uncontrolled
load, uncontrolled PV and the heat pumps). Pure computation; never performs I/O or decides setpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from drivers.points import DeviceKind, MeterRole, sg_ready_state
from zoe_ems.config import SiteConfig
from zoe_ems.config.devices import DeviceConfig
from zoe_ems.site.points import DeviceState, Snapshot

INF = float("inf")
DEFAULT_EV_MAX_CURRENT_A = 16.0
DEFAULT_EV_PHASES = 3


@dataclass(slots=True)
class BatteryUnit:
    """One PCS with its BMS (or a storage inverter reporting SOC itself)."""

    pcs_id: str
    bms_id: str | None
    writable: bool
    online: bool
    p_w: float
    """Measured AC power (0 when unknown)."""
    soc: float | None
    capacity_wh: float | None
    rated_w: float
    """PCS rating (inf when unknown)."""
    charge_limit_w: float
    """Device-reported charge limit: min of PCS and BMS limits (inf when none reported)."""
    discharge_limit_w: float
    """Device-reported discharge limit, positive number (inf when none reported)."""
    faults: list[tuple[str, str]] = field(default_factory=list)
    """(code, message) of conditions that forbid commanding power to this unit."""


@dataclass(slots=True)
class PvUnit:
    """A PV inverter whose production can be limited."""

    device_id: str
    p_w: float
    """Measured power, negative when producing (0 when unknown)."""
    rated_w: float
    available_w: float
    """Estimated production available if not curtailed (positive)."""
    measured: bool
    at_limit: bool = False
    """Producing at the limit the EMS set last cycle: ``available_w`` is a probe, not a measurement."""


@dataclass(slots=True)
class EvUnit:
    """An EV charger the EMS commands."""

    device_id: str
    p_w: float
    connected: bool
    phases: int
    voltage_v: float
    min_current_a: float
    max_current_a: float
    session_wh: float | None

    @property
    def min_w(self) -> float:
        return self.min_current_a * self.phases * self.voltage_v

    @property
    def max_w(self) -> float:
        return self.max_current_a * self.phases * self.voltage_v


@dataclass(slots=True)
class HeatPump:
    """An SG-Ready heat pump (two relays)."""

    device_id: str
    p_w: float
    state: int | None
    """Current SG-Ready state 1..4 read from the relays, None when unknown."""


@dataclass(slots=True)
class SiteView:
    """The site at one instant, in the terms the controllers use."""

    now_mono: float
    now_utc: float
    grid_ok: bool
    """True when every grid meter is online with a FRESH total power."""
    grid_w: float
    phase_p_w: tuple[float, float, float] | None
    batteries: list[BatteryUnit]
    pvs: list[PvUnit]
    evs: list[EvUnit]
    heat_pumps: list[HeatPump]
    grid_meter_ids: list[str]

    @property
    def battery_w(self) -> float:
        return sum(u.p_w for u in self.batteries)

    @property
    def pv_w(self) -> float:
        return sum(p.p_w for p in self.pvs)

    @property
    def ev_w(self) -> float:
        return sum(e.p_w for e in self.evs)

    @property
    def base_w(self) -> float:
        """Grid power not explained by the controllable assets (load, uncontrolled PV, heat pumps)."""
        return self.grid_w - self.battery_w - self.pv_w - self.ev_w

    @property
    def house_w(self) -> float:
        """Grid power without battery and EV: load + PV + heat pumps (negative = PV surplus)."""
        return self.grid_w - self.battery_w - self.ev_w

    @property
    def fleet_capacity_wh(self) -> float:
        return sum(u.capacity_wh or 0.0 for u in self.batteries if u.soc is not None)

    @property
    def fleet_soc(self) -> float | None:
        """Capacity-weighted SOC of the units that report one (plain mean when capacities are unknown)."""
        known = [u for u in self.batteries if u.soc is not None]
        if not known:
            return None
        capacity = sum(u.capacity_wh or 0.0 for u in known)
        if capacity > 0:
            return sum((u.soc or 0.0) * (u.capacity_wh or 0.0) for u in known) / capacity
        return sum(u.soc or 0.0 for u in known) / len(known)


class SiteModel:
    """Static knowledge of the site (device roles, ratings) that turns snapshots into SiteViews quickly."""

    def __init__(self, config: SiteConfig) -> None:
        self._config = config
        self._voltage_v = config.site.grid.nominal_voltage_v
        self._probe = config.control.export_limit.pv_probe_fraction
        devices = config.devices
        self.grid_meters = [d.id for d in devices if d.kind is DeviceKind.METER and d.role is MeterRole.GRID]
        self.pcs = [d for d in devices if d.kind is DeviceKind.PCS]
        self.pv = [d for d in devices if d.kind is DeviceKind.PV_INVERTER]
        self.ev = [d for d in devices if d.kind is DeviceKind.EV_CHARGER]
        self.sg = [d for d in devices if d.kind is DeviceKind.SG_READY]
        self._by_id: dict[str, DeviceConfig] = {d.id: d for d in devices}

    def device(self, device_id: str) -> DeviceConfig:
        return self._by_id[device_id]

    def build(self, snapshot: Snapshot, now_mono: float, pv_limits_w: Mapping[str, float]) -> SiteView:
        """The SiteView of ``snapshot``; ``pv_limits_w`` holds the PV limits commanded last cycle."""
        devices = snapshot.devices
        grid_ok, grid_w, phases = self._grid(devices)
        return SiteView(
            now_mono=now_mono,
            now_utc=snapshot.ts_utc,
            grid_ok=grid_ok,
            grid_w=grid_w,
            phase_p_w=phases,
            batteries=[self._battery(d, devices) for d in self.pcs],
            pvs=[
                self._pv(d, devices[d.id], pv_limits_w.get(d.id))
                for d in self.pv
                if d.id in devices and devices[d.id].online and not d.read_only
            ],
            evs=[
                self._ev(d, devices[d.id])
                for d in self.ev
                if d.id in devices and devices[d.id].online and not d.read_only
            ],
            heat_pumps=[
                self._heat_pump(devices[d.id])
                for d in self.sg
                if d.id in devices and devices[d.id].online and not d.read_only
            ],
            grid_meter_ids=self.grid_meters,
        )

    def _grid(self, devices: Mapping[str, DeviceState]) -> tuple[bool, float, tuple[float, float, float] | None]:
        if not self.grid_meters:
            return False, 0.0, None
        total = 0.0
        phases = [0.0, 0.0, 0.0]
        phases_ok = True
        for meter_id in self.grid_meters:
            state = devices.get(meter_id)
            p = state.value("p_w") if state is not None and state.online else None
            if state is None or p is None:
                return False, 0.0, None
            total += p
            for index, name in enumerate(("l1", "l2", "l3")):
                p_phase = state.value(f"p_{name}_w")
                if p_phase is None:
                    current = state.value(f"i_{name}_a")
                    voltage = state.value(f"u_{name}_v") or self._voltage_v
                    p_phase = None if current is None else abs(current) * voltage * (1.0 if p >= 0 else -1.0)
                if p_phase is None:
                    phases_ok = False
                else:
                    phases[index] += p_phase
        return True, total, (phases[0], phases[1], phases[2]) if phases_ok else None

    def _battery(self, pcs_cfg: DeviceConfig, devices: Mapping[str, DeviceState]) -> BatteryUnit:
        pcs = devices.get(pcs_cfg.id)
        bms = devices.get(pcs_cfg.bms) if pcs_cfg.bms is not None else None
        faults: list[tuple[str, str]] = []
        pcs_online = pcs is not None and pcs.online
        if not pcs_online:
            faults.append(("PCS_OFFLINE", f"PCS {pcs_cfg.id} unreachable: no command sent"))
        pcs_alarm = pcs.value("alarm") if pcs is not None else None
        pcs_state = pcs.value("state") if pcs is not None else None
        if pcs_online and ((pcs_alarm is not None and pcs_alarm != 0) or pcs_state == 3):
            faults.append(("PCS_ALARM", f"PCS {pcs_cfg.id} in alarm/fault (alarm={pcs_alarm}, state={pcs_state})"))
        charge_limit = INF
        discharge_limit = INF
        rated = (pcs_cfg.rated_power_kw or 0.0) * 1000.0 or INF
        capacity_kwh = pcs_cfg.capacity_kwh
        soc: float | None = None
        if pcs is not None:
            rated = _positive(pcs.value("rated_p_w"), rated)
            charge_limit = _positive(pcs.value("p_max_charge_w"), charge_limit, allow_zero=True)
            discharge_limit = _positive(pcs.value("p_max_discharge_w"), discharge_limit, allow_zero=True)
            soc = pcs.value("soc")
        if pcs_cfg.bms is not None:
            bms_cfg = self._by_id[pcs_cfg.bms]
            capacity_kwh = bms_cfg.capacity_kwh or capacity_kwh
            soc = None
            if bms is None or not bms.online:
                faults.append(("BMS_OFFLINE", f"BMS {pcs_cfg.bms} unreachable: battery {pcs_cfg.id} idle"))
            else:
                soc = bms.value("soc")
                bms_alarm = bms.value("alarm")
                if bms_alarm is not None and bms_alarm != 0:
                    faults.append(("BMS_ALARM", f"BMS {pcs_cfg.bms} alarm {int(bms_alarm)}: battery {pcs_cfg.id} idle"))
                charge_limit = min(charge_limit, _positive(bms.value("p_max_charge_w"), INF, allow_zero=True))
                discharge_limit = min(discharge_limit, _positive(bms.value("p_max_discharge_w"), INF, allow_zero=True))
                voltage = bms.value("u_v")
                if voltage is not None and voltage > 0:
                    i_charge = bms.value("i_max_charge_a")
                    i_discharge = bms.value("i_max_discharge_a")
                    if i_charge is not None:
                        charge_limit = min(charge_limit, max(0.0, i_charge) * voltage)
                    if i_discharge is not None:
                        discharge_limit = min(discharge_limit, max(0.0, i_discharge) * voltage)
                capacity_wh = bms.value("capacity_wh")
                if capacity_wh is not None and capacity_wh > 0:
                    capacity_kwh = capacity_wh / 1000.0
        if soc is None and not any(code in ("PCS_OFFLINE", "BMS_OFFLINE") for code, _ in faults):
            faults.append(("SOC_UNKNOWN", f"battery {pcs_cfg.id}: no fresh SOC, battery idle"))
        measured = pcs.value("p_w") if pcs is not None and pcs_online else None
        return BatteryUnit(
            pcs_id=pcs_cfg.id,
            bms_id=pcs_cfg.bms,
            writable=not pcs_cfg.read_only,
            online=pcs_online,
            p_w=measured if measured is not None else 0.0,
            soc=None if soc is None else min(1.0, max(0.0, soc)),
            capacity_wh=None if capacity_kwh is None else capacity_kwh * 1000.0,
            rated_w=rated,
            charge_limit_w=charge_limit,
            discharge_limit_w=discharge_limit,
            faults=faults,
        )

    def _pv(self, cfg: DeviceConfig, state: DeviceState, last_limit_w: float | None) -> PvUnit:
        rated = _positive(state.value("rated_p_w"), (cfg.rated_power_kw or 0.0) * 1000.0)
        p = state.value("p_w")
        if p is None:
            # Unknown production: assume the worst case (full rating) so an export limit still holds.
            return PvUnit(device_id=cfg.id, p_w=0.0, rated_w=rated, available_w=rated, measured=False)
        produced = max(0.0, -p)
        available = produced
        at_limit = False
        if last_limit_w is not None and rated > 0 and last_limit_w < rated * 0.999 and produced >= 0.9 * last_limit_w:
            # At its limit: more may be available; probe upwards a little each cycle.
            available = min(rated, max(produced, last_limit_w) + self._probe * rated)
            at_limit = True
        return PvUnit(
            device_id=cfg.id,
            p_w=min(0.0, p),
            rated_w=max(rated, produced),
            available_w=available,
            measured=True,
            at_limit=at_limit,
        )

    def _ev(self, cfg: DeviceConfig, state: DeviceState) -> EvUnit:
        phases_value = state.value("phases")
        phases = int(phases_value) if phases_value in (1.0, 3.0) else (cfg.phases or DEFAULT_EV_PHASES)
        max_current = cfg.max_current_a
        if max_current is None:
            max_current = (
                cfg.rated_power_kw * 1000.0 / (phases * self._voltage_v)
                if cfg.rated_power_kw is not None
                else DEFAULT_EV_MAX_CURRENT_A
            )
        ev_state = state.value("state")
        p = state.value("p_w")
        return EvUnit(
            device_id=cfg.id,
            p_w=max(0.0, p) if p is not None else 0.0,
            connected=ev_state in (1.0, 2.0),
            phases=phases,
            voltage_v=self._voltage_v,
            min_current_a=cfg.min_current_a,
            max_current_a=max(max_current, cfg.min_current_a),
            session_wh=state.value("e_session_wh"),
        )

    def _heat_pump(self, state: DeviceState) -> HeatPump:
        relay1 = state.value("relay1")
        relay2 = state.value("relay2")
        hp_state = None if relay1 is None or relay2 is None else sg_ready_state(bool(relay1), bool(relay2))
        p = state.value("p_w")
        return HeatPump(device_id=state.device_id, p_w=p if p is not None else 0.0, state=hp_state)


def _positive(value: float | None, default: float, *, allow_zero: bool = False) -> float:
    if value is None or value < 0 or (value == 0 and not allow_zero):
        return default
    return value
