"""Value types shared by controllers, the arbiter and the engine: assets, bounds, preferences, proposals, alarms.

Pure data; no logic beyond small helpers. Powers in W, passive sign convention (positive = into the device;
for the grid asset positive = import). Never import device drivers or perform I/O here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

GRID = "grid"
"""The grid connection point (its power is the sum of the site balance)."""
BATTERY = "battery"
"""The battery fleet (all PCS together); distributed over units after arbitration."""

INF = math.inf


def pv_asset(device_id: str) -> str:
    """Asset key of a PV inverter."""
    return f"pv:{device_id}"


def ev_asset(device_id: str) -> str:
    """Asset key of an EV charger."""
    return f"ev:{device_id}"


def asset_group(asset: str) -> str:
    """``battery``, ``pv``, ``ev`` or ``grid`` for an asset key."""
    return asset.split(":", 1)[0]


class Severity(StrEnum):
    """How urgent an alarm is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, kw_only=True, slots=True)
class Alarm:
    """A condition the operator should see (raised every cycle while it lasts)."""

    code: str
    """Stable upper-case identifier, e.g. ``GRID_METER_STALE``."""
    severity: Severity
    message: str
    device_id: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "device_id": self.device_id,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Bound:
    """A hard range for one asset (or the grid connection point) asked by a controller."""

    asset: str
    min_w: float = -INF
    max_w: float = INF
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Preference:
    """A preferred value: for an asset directly, or for the grid reached by moving ``actuators``.

    For ``asset == GRID`` the arbiter moves the actuator groups (``battery``, ``pv``, ``ev``) in order so that
    grid power minus the power of the ``exclude`` groups equals ``value_w``.
    """

    asset: str
    value_w: float
    reason: str = ""
    actuators: tuple[str, ...] = (BATTERY,)
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class SgRequest:
    """SG-Ready wish for one heat pump: states allowed (1 block, 2 normal, 3 recommend, 4 force) and preferred."""

    device_id: str
    allowed: frozenset[int] = frozenset({1, 2, 3, 4})
    preferred: int | None = None
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Proposal:
    """What one controller asks for in one cycle, at one priority (higher number = more important)."""

    controller: str
    priority: int
    bounds: tuple[Bound, ...] = ()
    preferences: tuple[Preference, ...] = ()
    sg_ready: tuple[SgRequest, ...] = ()
    alarms: tuple[Alarm, ...] = field(default=())
