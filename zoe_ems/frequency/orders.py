"""Frequency-service orders (northbound ``frequency_service``) laid over the site file's service settings.

Builds each ordered service's config with full pydantic validation (never ``model_copy``, which skips it) and
explains an invalid combination naming the command field (``body.trigger_hz``, ``body.min_duration_s``, ...).
Used by the command validator (reject at once) and by the runtime bridge (never arm an invalid service).
Pure: no I/O, no registry, never touches a device.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from zoe_ems.config.frequency import FFR_SUPPORT_S, DcConfig, FcrConfig, FfrConfig

ServiceName = Literal["ffr", "fcr", "dc"]

_Model = TypeVar("_Model", bound=BaseModel)


@dataclass(frozen=True, kw_only=True)
class ServiceOrder:
    """The service parameters of one ``frequency_service`` command (protocol units: kW, Hz, s)."""

    service: ServiceName
    power_kw: float
    trigger_hz: float | None = None
    """ffr: under-frequency trigger (49.7, 49.6 or 49.5 Hz)."""
    over_trigger_hz: float | None = None
    """ffr: when given, the over-frequency mirror (charging) is armed at this trigger (50.3, 50.4 or 50.5 Hz)."""
    deadband_hz: float | None = None
    """fcr / dc: deadband around 50 Hz."""
    full_activation_hz: float | None = None
    """fcr / dc: deviation at which full power is delivered."""
    min_duration_s: float | None = None
    """ffr: minimum support duration; picks the shortest FFR support (5 s or 30 s) that lasts at least this long."""


@dataclass(frozen=True, kw_only=True)
class ServiceConfigs:
    """The three service configs the responder runs."""

    ffr: FfrConfig
    fcr: FcrConfig
    dc: DcConfig


class OrderError(ValueError):
    """An order whose parameters do not give a valid service configuration; the message names the field."""


def apply_order(base: ServiceConfigs, order: ServiceOrder) -> ServiceConfigs:
    """``base`` with ``order``'s service enabled and its parameters applied; raises ``OrderError`` when invalid."""
    if order.service == "ffr":
        return ServiceConfigs(ffr=_ffr(base.ffr, order), fcr=base.fcr, dc=base.dc)
    if order.service == "fcr":
        return ServiceConfigs(ffr=base.ffr, fcr=_fcr(base.fcr, order), dc=base.dc)
    if order.service == "dc":
        return ServiceConfigs(ffr=base.ffr, fcr=base.fcr, dc=_dc(base.dc, order))
    raise OrderError(f"body.service: unknown frequency service {order.service!r}")


def order_problem(base: ServiceConfigs, order: ServiceOrder) -> str | None:
    """Why ``order`` cannot run on top of the site's settings ``base``, naming the command field; None when it can."""
    try:
        apply_order(base, order)
    except OrderError as exc:
        return str(exc)
    return None


def apply_orders(
    base: ServiceConfigs, orders: Iterable[tuple[str, ServiceOrder]]
) -> tuple[ServiceConfigs, dict[str, str]]:
    """Apply ``(source, order)`` pairs in turn; an invalid order is skipped (its service keeps the site file's
    settings) and reported as ``{source: reason}``."""
    configs = base
    problems: dict[str, str] = {}
    for source, order in orders:
        try:
            configs = apply_order(configs, order)
        except OrderError as exc:
            problems[source] = str(exc)
    return configs, problems


def ffr_support_s(min_duration_s: float) -> Literal[5, 30]:
    """The shortest FFR support that lasts at least ``min_duration_s``; ``OrderError`` beyond the longest."""
    for support_s in FFR_SUPPORT_S:
        if min_duration_s <= support_s:
            return 5 if support_s == 5 else 30
    raise OrderError(
        f"body.min_duration_s = {min_duration_s:g} s is longer than the longest FFR support "
        f"({max(FFR_SUPPORT_S)} s; the supports are {' or '.join(f'{s} s' for s in FFR_SUPPORT_S)})"
    )


# ---- private helpers ---------------------------------------------------------------------------------------

_BODY_FIELD = {
    "power_kw": "body.power_kw",
    "low_power_kw": "body.power_kw",
    "high_power_kw": "body.power_kw",
    "trigger_hz": "body.trigger_hz",
    "over_trigger_hz": "body.over_trigger_hz",
    "support_s": "body.min_duration_s",
    "deadband_mhz": "body.deadband_hz",
    "full_activation_mhz": "body.full_activation_hz",
}
"""Config field → the command field that set it."""


def _ffr(base: FfrConfig, order: ServiceOrder) -> FfrConfig:
    update: dict[str, Any] = {"enabled": True, "power_kw": order.power_kw}
    if order.trigger_hz is not None:
        update["trigger_hz"] = order.trigger_hz
    if order.over_trigger_hz is not None:
        update["over_frequency"] = True
        update["over_trigger_hz"] = order.over_trigger_hz
    if order.min_duration_s is not None:
        update["support_s"] = ffr_support_s(order.min_duration_s)
    return _validated(FfrConfig, base, update, order.service)


def _fcr(base: FcrConfig, order: ServiceOrder) -> FcrConfig:
    update: dict[str, Any] = {"enabled": True, "power_kw": order.power_kw}
    update.update(_droop_update(order))
    return _validated(FcrConfig, base, update, order.service)


def _dc(base: DcConfig, order: ServiceOrder) -> DcConfig:
    update: dict[str, Any] = {"enabled": True, "low_power_kw": order.power_kw, "high_power_kw": order.power_kw}
    update.update(_droop_update(order))
    return _validated(DcConfig, base, update, order.service)


def _droop_update(order: ServiceOrder) -> dict[str, Any]:
    update: dict[str, Any] = {}
    if order.deadband_hz is not None:
        update["deadband_mhz"] = _mhz(order.deadband_hz)
    if order.full_activation_hz is not None:
        update["full_activation_mhz"] = _mhz(order.full_activation_hz)
    return update


def _mhz(hz: float) -> float:
    """Hz → mHz without binary noise (0.015 Hz is 15 mHz, not 15.000000000000002)."""
    return round(hz * 1000.0, 6)


def _validated(model: type[_Model], base: _Model, update: dict[str, Any], service: str) -> _Model:
    try:
        return model.model_validate({**base.model_dump(), **update})
    except ValidationError as exc:
        raise OrderError(_explain(exc, update, service)) from None


def _explain(exc: ValidationError, update: dict[str, Any], service: str) -> str:
    """Each pydantic error, with the command field that caused it (or the site-file key it clashes with)."""
    parts: list[str] = []
    for error in exc.errors():
        loc = error["loc"]
        message = str(error["msg"]).removeprefix("Value error, ")
        if loc:
            name = str(loc[0])
            if name in update:
                where = _BODY_FIELD.get(name, "body")
                message += f" (as control.{service}.{name} = {update[name]!r})"
            else:
                where = f"control.{service}.{name} (site file)"
        else:
            # A check across fields (trigger level, DC curve shape): name the ordered fields it mentions.
            named = sorted({_BODY_FIELD[k] for k in update if k in _BODY_FIELD and k in message})
            where = " / ".join(named) if named else "body"
            message += f" (with the site file's control.{service} settings)"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)
