"""Canonical point catalogue: the typed points each device kind exposes, with SI unit and access.

Every driver (YAML profile or SunSpec) maps its registers onto these names, so controllers and the
process image never see vendor register names. Powers follow the passive sign convention
(positive = into the device from the site bus). This module holds data only; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DeviceKind(StrEnum):
    """Kinds of device the EMS knows."""

    METER = "meter"
    PCS = "pcs"
    BMS = "bms"
    PV_INVERTER = "pv_inverter"
    EV_CHARGER = "ev_charger"
    SG_READY = "sg_ready"
    DIGITAL_IO = "digital_io"


class MeterRole(StrEnum):
    """What a meter measures."""

    GRID = "grid"
    PV = "pv"
    LOAD = "load"
    EV = "ev"


class Access(StrEnum):
    """Whether the EMS may write a point."""

    RO = "ro"
    RW = "rw"


@dataclass(frozen=True, kw_only=True)
class PointSpec:
    """One canonical point of a device kind."""

    name: str
    """Canonical name, e.g. ``p_w``."""
    unit: str
    """SI unit (``W``, ``var``, ``Wh``, ``V``, ``A``, ``Hz``, ``1`` for fractions, ``""`` for enums)."""
    access: Access = Access.RO
    """``rw`` points are setpoints the EMS writes."""
    description: str = ""
    power: bool = False
    """True for power-like points whose sign is converted to the passive convention."""


def _p(name: str, unit: str, description: str, *, rw: bool = False, power: bool = False) -> PointSpec:
    return PointSpec(name=name, unit=unit, access=Access.RW if rw else Access.RO, description=description, power=power)


_PHASES = ("l1", "l2", "l3")

_METER: list[PointSpec] = [
    _p("p_w", "W", "total active power", power=True),
    *[_p(f"p_{ph}_w", "W", f"active power phase {ph.upper()}", power=True) for ph in _PHASES],
    _p("q_var", "var", "total reactive power", power=True),
    _p("e_import_wh", "Wh", "energy imported (into the device) total"),
    _p("e_export_wh", "Wh", "energy exported (out of the device) total"),
    *[_p(f"u_{ph}_v", "V", f"voltage phase {ph.upper()} to neutral") for ph in _PHASES],
    *[_p(f"i_{ph}_a", "A", f"current phase {ph.upper()}") for ph in _PHASES],
    _p("f_hz", "Hz", "grid frequency"),
]

_PCS: list[PointSpec] = [
    _p("p_w", "W", "measured AC active power (positive = charging)", power=True),
    _p("q_var", "var", "measured reactive power", power=True),
    _p("p_set_w", "W", "active power setpoint (positive = charge)", rw=True, power=True),
    _p("q_set_var", "var", "reactive power setpoint", rw=True, power=True),
    _p("p_max_charge_w", "W", "device's current charge power limit"),
    _p("p_max_discharge_w", "W", "device's current discharge power limit (positive number)"),
    _p("rated_p_w", "W", "nameplate active power rating"),
    _p("soc", "1", "state of charge 0..1 (storage inverters reporting SOC themselves)"),
    _p("state", "", "operating state (0 off, 1 standby, 2 running, 3 fault)"),
    _p("alarm", "", "alarm bitfield, 0 = no alarm"),
    _p("heartbeat", "", "heartbeat/watchdog register written by the EMS", rw=True),
    _p("f_hz", "Hz", "grid frequency seen by the PCS"),
]

_BMS: list[PointSpec] = [
    _p("soc", "1", "state of charge 0..1"),
    _p("soh", "1", "state of health 0..1"),
    _p("u_v", "V", "battery DC voltage"),
    _p("i_a", "A", "battery DC current (positive = charging)", power=True),
    _p("i_max_charge_a", "A", "charge current limit"),
    _p("i_max_discharge_a", "A", "discharge current limit (positive number)"),
    _p("p_max_charge_w", "W", "charge power limit"),
    _p("p_max_discharge_w", "W", "discharge power limit (positive number)"),
    _p("capacity_wh", "Wh", "usable energy capacity"),
    _p("t_c", "degC", "cell temperature"),
    _p("alarm", "", "alarm bitfield, 0 = no alarm"),
]

_PV: list[PointSpec] = [
    _p("p_w", "W", "AC active power (negative = producing)", power=True),
    _p("p_limit_pct", "1", "active power limit as fraction 0..1 of rated power", rw=True),
    _p("p_limit_w", "W", "active power limit in W (positive)", rw=True),
    _p("rated_p_w", "W", "nameplate active power rating"),
    _p("e_total_wh", "Wh", "lifetime energy produced"),
    _p("state", "", "operating state"),
    _p("f_hz", "Hz", "grid frequency seen by the inverter"),
]

_EV: list[PointSpec] = [
    _p("state", "", "0 available, 1 car connected, 2 charging, 3 fault"),
    _p("p_w", "W", "charging power (positive = into the car)", power=True),
    *[_p(f"i_{ph}_a", "A", f"current phase {ph.upper()}") for ph in _PHASES],
    _p("i_limit_a", "A", "charging current limit per phase; 0 pauses", rw=True),
    _p("phases", "", "phases in use (1 or 3)"),
    _p("e_session_wh", "Wh", "energy delivered this session"),
    _p("enable", "", "1 charging allowed, 0 paused", rw=True),
]

_SG: list[PointSpec] = [
    _p("relay1", "", "SG-Ready relay 1 (coil)", rw=True),
    _p("relay2", "", "SG-Ready relay 2 (coil)", rw=True),
    _p("p_w", "W", "heat pump electrical power", power=True),
    _p("t_storage_c", "degC", "storage tank temperature"),
]

_DIO: list[PointSpec] = [
    *[_p(f"di{n}", "", f"digital input {n}: 1 contact closed, 0 open") for n in range(1, 5)],
]

CATALOGUE: dict[DeviceKind, dict[str, PointSpec]] = {
    DeviceKind.METER: {p.name: p for p in _METER},
    DeviceKind.PCS: {p.name: p for p in _PCS},
    DeviceKind.BMS: {p.name: p for p in _BMS},
    DeviceKind.PV_INVERTER: {p.name: p for p in _PV},
    DeviceKind.EV_CHARGER: {p.name: p for p in _EV},
    DeviceKind.SG_READY: {p.name: p for p in _SG},
    DeviceKind.DIGITAL_IO: {p.name: p for p in _DIO},
}


def point_spec(kind: DeviceKind, name: str) -> PointSpec:
    """The catalogue entry for ``name`` on ``kind``; KeyError names both when unknown."""
    try:
        return CATALOGUE[kind][name]
    except KeyError:
        raise KeyError(f"device kind {kind.value!r} has no point {name!r}") from None


def sg_ready_state(relay1: bool, relay2: bool) -> int:
    """SG-Ready operating state 1..4 from the two relays (1:0 block, 0:0 normal, 0:1 recommend, 1:1 force)."""
    if relay1 and not relay2:
        return 1
    if not relay1 and not relay2:
        return 2
    if not relay1 and relay2:
        return 3
    return 4


def sg_ready_relays(state: int) -> tuple[bool, bool]:
    """Relay positions (relay1, relay2) for SG-Ready state 1..4."""
    table = {1: (True, False), 2: (False, False), 3: (False, True), 4: (True, True)}
    if state not in table:
        raise ValueError(f"SG-Ready state must be 1..4, got {state}")
    return table[state]
