"""What the daemon hands the northbound link to publish: one TelemetryData sample per call, in SI units.

The northbound service converts to the protocol's kW and adds mode, active command and response
status. This module only defines the data and the conversion; it never reads devices itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class TelemetryData:
    """A snapshot of the site (passive sign convention, W; None = unknown)."""

    grid_w: float | None = None
    """Connection point: + import, - export."""
    battery_w: float | None = None
    """Battery fleet: + charging, - discharging."""
    pv_w: float | None = None
    """PV: negative while producing."""
    load_w: float | None = None
    ev_w: float | None = None
    soc: float | None = None
    """Fleet state of charge, fraction 0..1."""
    frequency_hz: float | None = None
    available_charge_w: float | None = None
    """Charge power the fleet could still add (>= 0)."""
    available_discharge_w: float | None = None
    """Discharge power the fleet could still deliver (>= 0)."""
    frequency_available: bool | None = None
    """Armed frequency services can be held now (None: no service armed)."""
    frequency_reason: str | None = None
    """Why not, when ``frequency_available`` is False."""
    actions: tuple[str, ...] = ()
    """Short descriptions of what the control loop does now (decision record), for response packets."""


TelemetrySource = Callable[[], TelemetryData]
"""Called on the event loop; must be quick and non-blocking (read the process image)."""


def kw(value_w: float | None) -> float | None:
    """W -> kW rounded to 0.1 W resolution; None stays None."""
    return None if value_w is None else round(value_w / 1000.0, 4)


def telemetry_values(data: TelemetryData) -> dict[str, float | bool | str | None]:
    """The physical part of the telemetry packet's ``data`` object, in kW."""
    return {
        "grid_kw": kw(data.grid_w),
        "battery_kw": kw(data.battery_w),
        "pv_kw": kw(data.pv_w),
        "load_kw": kw(data.load_w),
        "ev_kw": kw(data.ev_w),
        "soc": None if data.soc is None else round(data.soc, 4),
        "frequency_hz": None if data.frequency_hz is None else round(data.frequency_hz, 4),
        "available_charge_kw": kw(data.available_charge_w),
        "available_discharge_kw": kw(data.available_discharge_w),
        "frequency_available": data.frequency_available,
        "frequency_reason": data.frequency_reason,
    }
