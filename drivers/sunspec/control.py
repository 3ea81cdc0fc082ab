"""SunSpec power control: which model carries a canonical setpoint and which points to write, in order.

Precedence: storage power ``p_set_w`` via 704 (WSetEna, WSetMod=watts, WSet) else 124 (StorCtl_Mod,
InWRte/OutWRte in % of WChaMax); PV curtailment ``p_limit_pct``/``p_limit_w`` via 704 (WMaxLimPctEna,
WMaxLimPct) else 123 (WMaxLim_Ena, WMaxLimPct). Every plan first sets the reversion timer (so a silent
EMS makes the device fall back to its own behaviour) and always re-asserts the enable flag.
``setpoint_from_storage_rates`` reads a 124 setpoint back. Pure planning: engineering values per SunSpec
point; the driver encodes and writes them. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum

from drivers.points import DeviceKind
from drivers.sunspec.mapping import SignConvention
from drivers.sunspec.values import SunSpecValue


class ControlPath(StrEnum):
    """The SunSpec mechanism used for a setpoint."""

    DER_WSET = "704.WSet"
    STORAGE_124 = "124.InOutWRte"
    DER_LIMIT = "704.WMaxLimPct"
    INVERTER_LIMIT_123 = "123.WMaxLimPct"


class ControlError(ValueError):
    """A setpoint cannot be expressed on this device; the message says why."""


@dataclass(frozen=True)
class WriteStep:
    """Points of one model written together (the driver merges contiguous registers into one request)."""

    model_id: int
    values: tuple[tuple[str, SunSpecValue], ...]


@dataclass(frozen=True, kw_only=True)
class ControlContext:
    """What the planner needs to know about the device."""

    implemented: Callable[[int, str], bool]
    """Whether optional point (model id, point) is implemented (read as non-sentinel at connect)."""
    revert_timeout_s: float
    setpoint_sign: SignConvention
    w_cha_max_w: float | None = None
    """Model 124 WChaMax: the 100 % reference of InWRte and OutWRte."""
    rated_w: float | None = None
    """Reference for p_limit_w (WMax / WRtg / configured rating)."""


def power_path(kind: DeviceKind, models: Collection[int]) -> ControlPath | None:
    """Mechanism for ``p_set_w`` (storage inverters only), or None when the device has none."""
    if kind is not DeviceKind.PCS:
        return None
    if 704 in models:
        return ControlPath.DER_WSET
    if 124 in models:
        return ControlPath.STORAGE_124
    return None


def limit_path(kind: DeviceKind, models: Collection[int]) -> ControlPath | None:
    """Mechanism for ``p_limit_pct`` / ``p_limit_w`` (PV inverters only), or None."""
    if kind is not DeviceKind.PV_INVERTER:
        return None
    if 704 in models:
        return ControlPath.DER_LIMIT
    if 123 in models:
        return ControlPath.INVERTER_LIMIT_123
    return None


def plan_power_setpoint(path: ControlPath, p_set_w: float, ctx: ControlContext) -> list[WriteStep]:
    """Writes for a storage power setpoint ``p_set_w`` (W, passive: positive = charge)."""
    # Power as the device counts it: positive = discharge/export for an "active" device.
    p_device = -p_set_w if ctx.setpoint_sign == "active" else p_set_w
    revert = _revert_seconds(ctx.revert_timeout_s)
    if path is ControlPath.DER_WSET:
        steps = [
            _optional(ctx, 704, (("WSetEnaRvrt", 0), ("WSetRvrtTms", revert))),
            WriteStep(704, (("WSetEna", 1), ("WSetMod", 1), ("WSet", p_device))),
        ]
        return [s for s in steps if s.values]
    if path is ControlPath.STORAGE_124:
        reference = ctx.w_cha_max_w
        if reference is None or reference <= 0:
            raise ControlError("model 124 WChaMax is not available, so InWRte/OutWRte percentages cannot be set")
        # InWRte / OutWRte have fixed meanings in SunSpec (in = charging): the sign override does not apply.
        pct_discharge = -100.0 * p_set_w / reference
        if abs(pct_discharge) > 100.0 + 1e-9:
            raise ControlError(f"setpoint {p_set_w} W exceeds model 124 WChaMax {reference} W")
        # Window [charge >= x, charge <= x]: InWRte caps charging, OutWRte caps discharging; a negative
        # cap forces the opposite direction, so both together hold the power at exactly p_set_w.
        steps = [
            _optional(ctx, 124, (("InOutWRte_RvrtTms", revert),)),
            WriteStep(124, (("OutWRte", pct_discharge), ("InWRte", -pct_discharge))),
            WriteStep(124, (("StorCtl_Mod", 0b11),)),
        ]
        return [s for s in steps if s.values]
    raise ControlError(f"{path.value} does not carry a power setpoint")


def plan_power_limit(path: ControlPath, limit_fraction: float, ctx: ControlContext) -> list[WriteStep]:
    """Writes for a PV active-power limit as a fraction 0..1 of rated power."""
    if not 0.0 <= limit_fraction <= 1.0:
        raise ControlError(f"p_limit_pct must be within 0..1, got {limit_fraction}")
    pct = 100.0 * limit_fraction
    revert = _revert_seconds(ctx.revert_timeout_s)
    if path is ControlPath.DER_LIMIT:
        steps = [
            _optional(ctx, 704, (("WMaxLimPctEnaRvrt", 0), ("WMaxLimPctRvrtTms", revert))),
            WriteStep(704, (("WMaxLimPctEna", 1), ("WMaxLimPct", pct))),
        ]
        return [s for s in steps if s.values]
    if path is ControlPath.INVERTER_LIMIT_123:
        steps = [
            _optional(ctx, 123, (("WMaxLimPct_RvrtTms", revert),)),
            WriteStep(123, (("WMaxLimPct", pct),)),
            WriteStep(123, (("WMaxLim_Ena", 1),)),
        ]
        return [s for s in steps if s.values]
    raise ControlError(f"{path.value} does not carry a power limit")


def limit_fraction_from_watts(p_limit_w: float, rated_w: float | None) -> float:
    """``p_limit_w`` as a fraction of the rating (clipped at 1.0: a limit above rating is no limit)."""
    if rated_w is None or rated_w <= 0:
        raise ControlError("p_limit_w needs the rated power (120 WRtg, 702 WMaxRtg, 121 WMax or rated_power_w)")
    if p_limit_w < 0:
        raise ControlError(f"p_limit_w must be >= 0, got {p_limit_w}")
    return min(1.0, p_limit_w / rated_w)


def setpoint_from_storage_rates(
    mode: int | None,
    in_pct: float | None,
    out_pct: float | None,
    w_cha_max_w: float | None,
    *,
    tolerance_pct: float = 0.0,
) -> float | None:
    """Read-back of a model 124 power setpoint: the power (W, passive: positive = charge) held by
    ``InWRte`` / ``OutWRte`` (% of ``WChaMax``), or None when the registers do not hold one power.

    That needs ``StorCtl_Mod`` with both the charge and the discharge bit set and ``InWRte`` = -``OutWRte``
    (within ``tolerance_pct``, e.g. one register step), as ``plan_power_setpoint`` writes them; a band
    between two different caps, or a single active cap, is a limit rather than a setpoint.
    """
    if mode is None or mode & 0b11 != 0b11:
        return None
    if in_pct is None or out_pct is None or w_cha_max_w is None or w_cha_max_w <= 0:
        return None
    if abs(in_pct + out_pct) > tolerance_pct + 1e-9:
        return None
    charge_pct = (in_pct - out_pct) / 2.0  # both rates name the same power; average away rounding
    return charge_pct / 100.0 * w_cha_max_w


def plan_release(models: Collection[int], kind: DeviceKind) -> list[WriteStep]:
    """Writes that hand control back to the device (enable flags off)."""
    steps: list[WriteStep] = []
    if kind is DeviceKind.PCS:
        if 704 in models:
            steps.append(WriteStep(704, (("WSetEna", 0),)))
        if 124 in models:
            steps.append(WriteStep(124, (("StorCtl_Mod", 0),)))
    if kind is DeviceKind.PV_INVERTER:
        if 704 in models:
            steps.append(WriteStep(704, (("WMaxLimPctEna", 0),)))
        if 123 in models:
            steps.append(WriteStep(123, (("WMaxLim_Ena", 0),)))
    return steps


# --- private helpers ----------------------------------------------------------------------------


def _revert_seconds(timeout_s: float) -> int:
    if timeout_s <= 0:
        raise ControlError(f"reversion timeout must be > 0 s, got {timeout_s}")
    return max(1, round(timeout_s))


def _optional(ctx: ControlContext, model_id: int, values: tuple[tuple[str, SunSpecValue], ...]) -> WriteStep:
    return WriteStep(model_id, tuple((name, v) for name, v in values if ctx.implemented(model_id, name)))
