"""Which SunSpec points feed which canonical point, per device kind (data, no I/O).

Each canonical point lists its sources in order of preference; the driver uses the first source whose
model the device has and whose value is implemented. Sign handling: SunSpec inverters, storage and
batteries report power positive when it leaves the device ("active"), meters positive on import into
the metered side ("passive"); ``POWER``/``SETPOINT`` conversions turn that into the passive convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from drivers.points import DeviceKind
from drivers.profile import PollClass

SignConvention = Literal["passive", "active"]

METER_MODELS: tuple[int, ...] = (201, 202, 203, 204, 211, 212, 213, 214)
INVERTER_MODELS: tuple[int, ...] = (101, 102, 103, 111, 112, 113)

DEFAULT_POWER_SIGN: dict[DeviceKind, SignConvention] = {
    DeviceKind.METER: "passive",
    DeviceKind.PV_INVERTER: "active",
    DeviceKind.PCS: "active",
    DeviceKind.BMS: "active",
}
"""How SunSpec devices of each kind sign measured power (and battery current)."""

DEFAULT_SETPOINT_SIGN: SignConvention = "active"
"""SunSpec setpoints (704 WSet) are positive for export / discharge."""


class Conversion(StrEnum):
    """How a SunSpec engineering value becomes a canonical value."""

    VALUE = "value"
    POWER = "power"
    """Measured power or current: negated when the device convention is active."""
    SETPOINT = "setpoint"
    """Read-back setpoint: negated when the setpoint convention is active."""
    PERCENT = "percent"
    """Percent to fraction 0..1."""
    INVERTER_STATE = "inverter_state"
    """Models 101-113 ``St`` to 0 off, 1 standby, 2 running, 3 fault."""
    DER_STATE = "der_state"
    """Model 701 ``InvSt`` to 0 off, 1 standby, 2 running, 3 fault."""
    STORAGE_RATES_124 = "storage_rates_124"
    """Model 124 ``InWRte`` / ``OutWRte`` (% of ``WChaMax``) holding one power while ``StorCtl_Mod`` has the
    charge and discharge bits set: that power in W (positive = charge); computed by the driver from ``needs``."""


@dataclass(frozen=True)
class Source:
    """One SunSpec point that can supply a canonical point."""

    models: tuple[int, ...]
    point: str
    conversion: Conversion = Conversion.VALUE
    conditions: tuple[tuple[str, int], ...] = ()
    """Points of the same model that must hold these values for ``point`` to apply (an unimplemented
    condition point counts as holding); otherwise the canonical value is ``otherwise``."""
    otherwise: float | None = None
    needs: tuple[str, ...] = ()
    """Other points of the same model that the conversion reads (read in the same pass as ``point``)."""


@dataclass(frozen=True)
class CanonicalSource:
    """A canonical point, when to poll it, and its sources in order of preference."""

    name: str
    poll: PollClass
    sources: tuple[Source, ...]


INVERTER_STATE_MAP: dict[int, int] = {1: 0, 2: 1, 3: 1, 4: 2, 5: 2, 6: 1, 7: 3, 8: 1}
DER_STATE_MAP: dict[int, int] = {0: 0, 1: 1, 2: 1, 3: 2, 4: 2, 5: 1, 6: 3, 7: 1}


def mapping_for(kind: DeviceKind, power_sign: SignConvention) -> tuple[CanonicalSource, ...]:
    """The canonical mapping of ``kind``; a meter whose power sign is flipped also swaps its energies."""
    table = _MAPPINGS.get(kind)
    if table is None:
        raise ValueError(f"SunSpec driver does not support device kind {kind.value!r}")
    if kind is DeviceKind.METER and power_sign == "active":
        swapped = {"e_import_wh": "TotWhExp", "e_export_wh": "TotWhImp"}
        return tuple(
            CanonicalSource(c.name, c.poll, (Source(METER_MODELS, swapped[c.name]),)) if c.name in swapped else c
            for c in table
        )
    return table


def supported_kinds() -> frozenset[DeviceKind]:
    """Device kinds the SunSpec driver maps."""
    return frozenset(_MAPPINGS)


# --- tables -------------------------------------------------------------------------------------

_F = PollClass.FAST
_N = PollClass.NORMAL
_S = PollClass.SLOW
_INV = INVERTER_MODELS
_MET = METER_MODELS
_PHASES = (("l1", "A"), ("l2", "B"), ("l3", "C"))


def _c(name: str, poll: PollClass, *sources: Source) -> CanonicalSource:
    return CanonicalSource(name, poll, sources)


_METER: tuple[CanonicalSource, ...] = (
    _c("p_w", _F, Source(_MET, "W", Conversion.POWER)),
    *[_c(f"p_{ph}_w", _N, Source(_MET, f"Wph{x}", Conversion.POWER)) for ph, x in _PHASES],
    _c("q_var", _N, Source(_MET, "VAR", Conversion.POWER)),
    _c("e_import_wh", _N, Source(_MET, "TotWhImp")),
    _c("e_export_wh", _N, Source(_MET, "TotWhExp")),
    *[_c(f"u_{ph}_v", _N, Source(_MET, f"PhVph{x}")) for ph, x in _PHASES],
    *[_c(f"i_{ph}_a", _N, Source(_MET, f"Aph{x}")) for ph, x in _PHASES],
    _c("f_hz", _F, Source(_MET, "Hz")),
)

_PV: tuple[CanonicalSource, ...] = (
    _c("p_w", _F, Source(_INV, "W", Conversion.POWER), Source((701,), "W", Conversion.POWER)),
    _c(
        "p_limit_pct",
        _N,
        Source((704,), "WMaxLimPct", Conversion.PERCENT, (("WMaxLimPctEna", 1),), 1.0),
        Source((123,), "WMaxLimPct", Conversion.PERCENT, (("WMaxLim_Ena", 1),), 1.0),
    ),
    _c(
        "rated_p_w",
        _S,
        Source((120,), "WRtg"),
        Source((702,), "WMaxRtg"),
        Source((121,), "WMax"),
        Source((702,), "WMax"),
    ),
    _c("e_total_wh", _N, Source(_INV, "WH"), Source((701,), "TotWhInj")),
    _c("state", _N, Source(_INV, "St", Conversion.INVERTER_STATE), Source((701,), "InvSt", Conversion.DER_STATE)),
    _c("f_hz", _F, Source(_INV, "Hz"), Source((701,), "Hz")),
)

_PCS: tuple[CanonicalSource, ...] = (
    _c("p_w", _F, Source((701,), "W", Conversion.POWER), Source(_INV, "W", Conversion.POWER)),
    _c("q_var", _N, Source((701,), "Var", Conversion.POWER), Source(_INV, "VAr", Conversion.POWER)),
    _c(
        "p_set_w",
        _N,
        Source((704,), "WSet", Conversion.SETPOINT, (("WSetEna", 1), ("WSetMod", 1)), None),
        Source((124,), "InWRte", Conversion.STORAGE_RATES_124, needs=("OutWRte", "StorCtl_Mod", "WChaMax")),
    ),
    _c(
        "p_max_charge_w",
        _S,
        Source((702,), "WChaRteMax"),
        Source((702,), "WChaRteMaxRtg"),
        Source((124,), "WChaMax"),
        Source((802,), "WChaRteMax"),
    ),
    _c(
        "p_max_discharge_w",
        _S,
        Source((702,), "WDisChaRteMax"),
        Source((702,), "WDisChaRteMaxRtg"),
        Source((124,), "WChaMax"),
        Source((802,), "WDisChaRteMax"),
    ),
    _c(
        "rated_p_w",
        _S,
        Source((702,), "WMaxRtg"),
        Source((120,), "WRtg"),
        Source((702,), "WMax"),
        Source((121,), "WMax"),
    ),
    _c(
        "soc",
        _N,
        Source((713,), "SoC", Conversion.PERCENT),
        Source((802,), "SoC", Conversion.PERCENT),
        Source((124,), "ChaState", Conversion.PERCENT),
    ),
    _c("state", _N, Source((701,), "InvSt", Conversion.DER_STATE), Source(_INV, "St", Conversion.INVERTER_STATE)),
    _c("alarm", _N, Source((701,), "Alrm"), Source(_INV, "Evt1")),
    _c("f_hz", _F, Source((701,), "Hz"), Source(_INV, "Hz")),
)

_BMS: tuple[CanonicalSource, ...] = (
    _c(
        "soc",
        _N,
        Source((802,), "SoC", Conversion.PERCENT),
        Source((713,), "SoC", Conversion.PERCENT),
        Source((124,), "ChaState", Conversion.PERCENT),
    ),
    _c("soh", _S, Source((802,), "SoH", Conversion.PERCENT), Source((713,), "SoH", Conversion.PERCENT)),
    _c("u_v", _N, Source((802,), "V"), Source((124,), "InBatV")),
    _c("i_a", _N, Source((802,), "A", Conversion.POWER)),
    _c("i_max_charge_a", _N, Source((802,), "AChaMax")),
    _c("i_max_discharge_a", _N, Source((802,), "ADisChaMax")),
    _c(
        "p_max_charge_w",
        _S,
        Source((802,), "WChaRteMax"),
        Source((702,), "WChaRteMax"),
        Source((124,), "WChaMax"),
    ),
    _c("p_max_discharge_w", _S, Source((802,), "WDisChaRteMax"), Source((702,), "WDisChaRteMax")),
    _c("capacity_wh", _S, Source((802,), "WHRtg"), Source((713,), "WHRtg")),
    _c("alarm", _N, Source((802,), "Evt1")),
)

_MAPPINGS: dict[DeviceKind, tuple[CanonicalSource, ...]] = {
    DeviceKind.METER: _METER,
    DeviceKind.PV_INVERTER: _PV,
    DeviceKind.PCS: _PCS,
    DeviceKind.BMS: _BMS,
}
