"""Plausibility limits of the canonical points: what a healthy device can report at all.

A reading outside them (a SOC of 250 %, a PCS power of 1 GW, a frequency of 0 Hz, NaN or infinity) is never
taken as a fresh value: the process image stores it with ERROR quality and raises a ``POINT_IMPLAUSIBLE``
alarm naming the point and the value. The limits follow from each point's unit in the catalogue
(``drivers.points.CATALOGUE``), with a few points narrowed by name. Powers are bounded by a multiple of the
device's rating when it is known (site file or the device's own ``rated_p_w``), else by an absolute bound.
This module holds data and pure functions only; no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.points import CATALOGUE, DeviceKind, PointSpec

RATED_MULTIPLE = 2.0
"""A power-like point may reach this multiple of the device's rating (overload, transients, sign mix-ups)."""
ABSOLUTE_POWER_W = 1e8
"""Bound of power-like points when no rating is known (100 MW: beyond any site this EMS drives)."""
FRACTION_TOLERANCE = 0.02
"""Fractions (SOC, limits) may read this much outside 0..1 (rounding, calibration)."""
RATED_KINDS = frozenset({DeviceKind.PCS, DeviceKind.PV_INVERTER})
"""Kinds whose power points scale with the device's own rating."""


@dataclass(frozen=True, slots=True)
class Limit:
    """Plausible range of one point."""

    low: float = -math.inf
    high: float = math.inf
    power: bool = False
    """A power-like point: |value| within ``ABSOLUTE_POWER_W``, or ``RATED_MULTIPLE`` x rating when ``rated``."""
    rated: bool = False
    """The bound scales with the device's rating when it is known."""
    max_step: float | None = None
    """Largest change between two consecutive readings less than ``step_window_s`` apart (spike filter)."""
    step_window_s: float = 10.0


_FINITE = Limit()
_BY_UNIT: dict[str, Limit] = {
    "1": Limit(low=-FRACTION_TOLERANCE, high=1.0 + FRACTION_TOLERANCE),
    "Hz": Limit(low=45.0, high=65.0),
    "V": Limit(low=0.0, high=1_000.0),
    "A": Limit(low=-1e5, high=1e5),
    "Wh": Limit(low=0.0, high=1e13),
    "degC": Limit(low=-60.0, high=200.0),
}
_BY_NAME: dict[str, Limit] = {
    "soc": Limit(low=-FRACTION_TOLERANCE, high=1.0 + FRACTION_TOLERANCE, max_step=0.25),
    "soh": Limit(low=0.0, high=1.1),
}
_BY_KIND_NAME: dict[tuple[DeviceKind, str], Limit] = {
    (DeviceKind.BMS, "u_v"): Limit(low=0.0, high=2_000.0),  # battery DC voltage
}


def limit_of(kind: DeviceKind, spec: PointSpec) -> Limit:
    """The plausibility limit of one catalogue point."""
    if (kind, spec.name) in _BY_KIND_NAME:
        return _BY_KIND_NAME[(kind, spec.name)]
    if spec.name in _BY_NAME:
        return _BY_NAME[spec.name]
    if spec.unit in ("W", "var"):
        return Limit(power=True, rated=kind in RATED_KINDS and spec.name != "rated_p_w")
    return _BY_UNIT.get(spec.unit, _FINITE)


LIMITS: dict[DeviceKind, dict[str, Limit]] = {
    kind: {name: limit_of(kind, spec) for name, spec in points.items()} for kind, points in CATALOGUE.items()
}
"""Plausibility limit of every catalogue point, per device kind."""


def implausible(
    kind: DeviceKind,
    name: str,
    value: object,
    *,
    rated_w: float | None = None,
    previous: tuple[float, float] | None = None,
    now_s: float = 0.0,
) -> str | None:
    """Why ``value`` cannot be a real reading of ``kind.name`` (None when plausible).

    ``previous`` is the last reading of the point as (value, monotonic time) for the spike filter; ``None``
    values (not implemented) and strings are not judged here.
    """
    if value is None or isinstance(value, str | bool):
        return None
    if not isinstance(value, int | float):
        return f"not a number ({type(value).__name__})"
    number = float(value)
    if not math.isfinite(number):
        return "not a finite number"
    limit = LIMITS.get(kind, {}).get(name)
    if limit is None:
        return None
    if limit.power:
        if limit.rated and rated_w is not None and rated_w > 0:
            bound, source = RATED_MULTIPLE * rated_w, f"{RATED_MULTIPLE:g} x rating {rated_w:g} W"
        else:
            bound, source = ABSOLUTE_POWER_W, "absolute bound"
        if abs(number) > bound:
            return f"beyond ±{bound:g} ({source})"
    if number < limit.low or number > limit.high:
        return f"outside {limit.low:g}..{limit.high:g}"
    if limit.max_step is not None and previous is not None:
        last, last_s = previous
        if math.isfinite(last) and now_s - last_s <= limit.step_window_s and abs(number - last) > limit.max_step:
            return f"jumped from {last:g} (more than {limit.max_step:g} between two readings)"
    return None
