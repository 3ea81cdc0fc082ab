"""Test helpers for the control engine: site files built in code and a tiny plant that produces snapshots.

The plant is an ideal site: setpoints act at once, the grid meter measures the exact balance
grid = load + battery + PV + EV + heat pump. Tests set its physical state by hand, take a snapshot, step the
engine and (for closed-loop tests) apply the setpoints and advance time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drivers.points import DeviceKind
from zoe_ems.config import SiteConfig
from zoe_ems.control.inputs import InputsView
from zoe_ems.site.points import DeviceState, PointValue, Quality, Snapshot

T0_UTC = 1_790_000_000.0  # 2026-09-21, a fixed wall clock for tests
VOLTAGE = 230.0


def site_config(
    *,
    import_kw: float = 100.0,
    export_kw: float = 50.0,
    batteries: int = 1,
    battery_kw: float = 50.0,
    battery_kwh: float = 100.0,
    pvs: int = 1,
    pv_kw: float = 60.0,
    evs: int = 0,
    hps: int = 0,
    fuse_a: float | None = None,
    control: dict[str, Any] | None = None,
    optimizer: dict[str, Any] | None = None,
) -> SiteConfig:
    """A site with one grid meter and the given devices (ids: grid, pcs1/bms1, pv1, ev1, hp1, ...)."""
    unit = iter(range(1, 200))

    def transport() -> dict[str, Any]:
        return {"type": "modbus_tcp", "host": "127.0.0.1", "port": 1502, "unit": next(unit)}

    devices: list[dict[str, Any]] = [
        {"id": "grid", "kind": "meter", "role": "grid", "driver": "x", "transport": transport()}
    ]
    for i in range(1, batteries + 1):
        devices.append(
            {"id": f"bms{i}", "kind": "bms", "driver": "x", "transport": transport(), "capacity_kwh": battery_kwh}
        )
        devices.append(
            {
                "id": f"pcs{i}",
                "kind": "pcs",
                "driver": "x",
                "transport": transport(),
                "rated_power_kw": battery_kw,
                "bms": f"bms{i}",
            }
        )
    for i in range(1, pvs + 1):
        devices.append(
            {"id": f"pv{i}", "kind": "pv_inverter", "driver": "x", "transport": transport(), "rated_power_kw": pv_kw}
        )
    for i in range(1, evs + 1):
        devices.append(
            {
                "id": f"ev{i}",
                "kind": "ev_charger",
                "driver": "x",
                "transport": transport(),
                "phases": 3,
                "max_current_a": 16.0,
            }
        )
    for i in range(1, hps + 1):
        devices.append({"id": f"hp{i}", "kind": "sg_ready", "driver": "x", "transport": transport()})
    grid: dict[str, Any] = {"import_limit_kw": import_kw, "export_limit_kw": export_kw}
    if fuse_a is not None:
        grid["fuse_a"] = fuse_a
    data: dict[str, Any] = {
        "site": {"id": "test-site", "timezone": "Europe/Berlin", "grid": grid},
        "devices": devices,
        "control": control or {},
    }
    if optimizer is not None:
        data["optimizer"] = optimizer
    return SiteConfig(**data)


@dataclass
class Battery:
    p_w: float = 0.0
    soc: float = 0.5
    capacity_wh: float = 100_000.0
    p_max_charge_w: float | None = None
    p_max_discharge_w: float | None = None
    bms_alarm: int = 0
    pcs_alarm: int = 0


@dataclass
class Ev:
    connected: bool = True
    p_w: float = 0.0
    phases: int = 3
    session_wh: float = 0.0


@dataclass
class HeatPump:
    relay1: bool = False
    relay2: bool = False
    p_w: float = 0.0
    p_on_w: float = 3000.0


@dataclass
class Plant:
    """Ideal physics of a test site."""

    config: SiteConfig
    load_w: float = 0.0
    t_mono: float = 1000.0
    pv_available_w: dict[str, float] = field(default_factory=dict)
    pv_limit_w: dict[str, float] = field(default_factory=dict)
    batteries: dict[str, Battery] = field(default_factory=dict)
    evs: dict[str, Ev] = field(default_factory=dict)
    hps: dict[str, HeatPump] = field(default_factory=dict)
    offline: set[str] = field(default_factory=set)
    stale: set[str] = field(default_factory=set)
    phase_p_w: tuple[float, float, float] | None = None
    pcs_response: float = 1.0
    """Fraction of the step to a new PCS setpoint done per apply (1.0 = at once)."""

    def __post_init__(self) -> None:
        for dev in self.config.devices:
            if dev.kind is DeviceKind.PCS:
                self.batteries.setdefault(dev.id, Battery())
            elif dev.kind is DeviceKind.PV_INVERTER:
                self.pv_available_w.setdefault(dev.id, 0.0)
            elif dev.kind is DeviceKind.EV_CHARGER:
                self.evs.setdefault(dev.id, Ev(connected=False))
            elif dev.kind is DeviceKind.SG_READY:
                self.hps.setdefault(dev.id, HeatPump())

    @property
    def t_utc(self) -> float:
        return T0_UTC + self.t_mono

    def pv_w(self, pv_id: str) -> float:
        return -min(self.pv_available_w[pv_id], self.pv_limit_w.get(pv_id, float("inf")))

    def hp_w(self, hp: HeatPump) -> float:
        state_on = {(True, False): 0.0, (False, False): 0.5, (False, True): 0.8, (True, True): 1.0}
        return hp.p_on_w * state_on[(hp.relay1, hp.relay2)] if hp.p_w == 0.0 else hp.p_w

    @property
    def grid_w(self) -> float:
        return (
            self.load_w
            + sum(b.p_w for b in self.batteries.values())
            + sum(self.pv_w(pv) for pv in self.pv_available_w)
            + sum(e.p_w for e in self.evs.values())
            + sum(self.hp_w(h) for h in self.hps.values())
        )

    def snapshot(self) -> Snapshot:
        devices: dict[str, DeviceState] = {}
        for dev in self.config.devices:
            points: dict[str, float | None] = {}
            if dev.kind is DeviceKind.METER:
                points["p_w"] = self.grid_w
                if self.phase_p_w is not None:
                    points.update({f"p_l{i + 1}_w": p for i, p in enumerate(self.phase_p_w)})
            elif dev.kind is DeviceKind.PCS:
                bat = self.batteries[dev.id]
                points.update(p_w=bat.p_w, alarm=float(bat.pcs_alarm), state=2.0)
            elif dev.kind is DeviceKind.BMS:
                bat = self.batteries["pcs" + dev.id.removeprefix("bms")]
                points.update(
                    soc=bat.soc,
                    alarm=float(bat.bms_alarm),
                    capacity_wh=bat.capacity_wh,
                    p_max_charge_w=bat.p_max_charge_w,
                    p_max_discharge_w=bat.p_max_discharge_w,
                )
            elif dev.kind is DeviceKind.PV_INVERTER:
                points["p_w"] = self.pv_w(dev.id)
            elif dev.kind is DeviceKind.EV_CHARGER:
                ev = self.evs[dev.id]
                points.update(
                    p_w=ev.p_w, state=2.0 if ev.connected else 0.0, phases=float(ev.phases), e_session_wh=ev.session_wh
                )
            elif dev.kind is DeviceKind.SG_READY:
                hp = self.hps[dev.id]
                points.update(relay1=float(hp.relay1), relay2=float(hp.relay2), p_w=self.hp_w(hp))
            quality = Quality.STALE if dev.id in self.stale else Quality.FRESH
            devices[dev.id] = DeviceState(
                device_id=dev.id,
                kind=dev.kind,
                role=dev.role.value if dev.role is not None else None,
                online=dev.id not in self.offline,
                points={
                    name: PointValue(value=value, unit="", ts_mono=self.t_mono, ts_utc=self.t_utc, quality=quality)
                    for name, value in points.items()
                },
            )
        return Snapshot(ts_mono=self.t_mono, ts_utc=self.t_utc, devices=devices)

    def apply(self, setpoints: dict[str, dict[str, float]]) -> None:
        """Devices follow their setpoints at once."""
        for device_id, points in setpoints.items():
            if device_id in self.offline:
                continue
            if "p_set_w" in points:
                bat = self.batteries[device_id]
                bat.p_w += (points["p_set_w"] - bat.p_w) * self.pcs_response
            if "p_limit_w" in points:
                self.pv_limit_w[device_id] = points["p_limit_w"]
            if "i_limit_a" in points:
                ev = self.evs[device_id]
                on = points.get("enable", 1.0) > 0 and ev.connected
                ev.p_w = points["i_limit_a"] * ev.phases * VOLTAGE if on else 0.0
            if "relay1" in points:
                hp = self.hps[device_id]
                hp.relay1, hp.relay2 = points["relay1"] > 0, points["relay2"] > 0

    def advance(self, dt_s: float) -> None:
        """Time passes: SOC and EV session energy integrate."""
        for bat in self.batteries.values():
            bat.soc = min(1.0, max(0.0, bat.soc + bat.p_w * dt_s / 3600.0 / bat.capacity_wh))
        for ev in self.evs.values():
            ev.session_wh += ev.p_w * dt_s / 3600.0
        self.t_mono += dt_s

    def inputs(self, **kwargs: Any) -> InputsView:
        return InputsView(now_utc=self.t_utc, **kwargs)
