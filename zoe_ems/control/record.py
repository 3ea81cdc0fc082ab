"""Decision record: per cycle, which controller set which bound and why, and who chose each value.

Rendered by `zoe-ems status` as one line per asset ("battery -50 kW: peak_shaving bound max import 300 kW;
schedule preferred -80 kW") and kept in the history as JSON. Data and formatting only; never decides anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def format_kw(value_w: float) -> str:
    """Power for humans: ``-50 kW``, ``4.2 kW``, ``∞``."""
    if math.isinf(value_w):
        return "∞" if value_w > 0 else "-∞"
    kw = round(value_w / 1000.0, 1)
    return f"{kw:g} kW" if kw != 0 else "0 kW"


@dataclass(frozen=True, slots=True)
class AssetRecord:
    """How one asset's value came about."""

    asset: str
    value_w: float
    binding: tuple[str, ...] = ()
    """The bound(s) that stopped the value from going further, as ``controller bound ...`` texts."""
    preferred: str | None = None
    """``controller preferred ...`` of the preference that chose the value, None when nobody did."""
    chain: tuple[str, ...] = ()
    """Every bound proposed for this asset this cycle, in priority order."""

    def render(self) -> str:
        parts = [*self.binding]
        if self.preferred is not None:
            parts.append(self.preferred)
        head = f"{self.asset} {format_kw(self.value_w)}"
        return f"{head}: {'; '.join(parts)}" if parts else f"{head}: default"

    def to_dict(self) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "value_w": _num(self.value_w),
            "binding": list(self.binding),
            "preferred": self.preferred,
            "chain": list(self.chain),
            "text": self.render(),
        }


@dataclass(frozen=True, slots=True)
class SgRecord:
    """SG-Ready decision for one heat pump."""

    device_id: str
    state: int
    reason: str

    def render(self) -> str:
        names = {1: "block", 2: "normal", 3: "recommend", 4: "force"}
        return f"heat pump {self.device_id} {names.get(self.state, '?')} ({self.state}): {self.reason}"


@dataclass(frozen=True, slots=True)
class ControllerStatus:
    """One controller's participation in the cycle."""

    name: str
    priority: int
    status: str
    """``ok``, ``idle`` (nothing to propose) or ``failed`` (raised; skipped this cycle)."""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class BoundRecord:
    """One proposed bound and whether it could be honoured."""

    controller: str
    priority: int
    asset: str
    min_w: float
    max_w: float
    reason: str
    feasible: bool


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """Everything needed to answer "why is the battery not discharging?" for one cycle."""

    ts_mono: float
    ts_utc: float
    mode: str
    """``normal`` or ``failsafe``."""
    grid_measured_w: float | None
    grid_predicted_w: float
    grid_range_w: tuple[float, float]
    assets: tuple[AssetRecord, ...] = ()
    units: tuple[tuple[str, float], ...] = ()
    """Battery fleet value distributed per PCS."""
    heat_pumps: tuple[SgRecord, ...] = ()
    controllers: tuple[ControllerStatus, ...] = ()
    bounds: tuple[BoundRecord, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def lines(self) -> list[str]:
        """Human-readable summary, one line per asset and heat pump."""
        out = [a.render() for a in self.assets]
        out += [h.render() for h in self.heat_pumps]
        out += list(self.notes)
        return out

    def asset(self, key: str) -> AssetRecord:
        """The record of asset ``key``; KeyError when absent."""
        for record in self.assets:
            if record.asset == key:
                return record
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts_mono": self.ts_mono,
            "ts_utc": self.ts_utc,
            "mode": self.mode,
            "grid_measured_w": _num(self.grid_measured_w),
            "grid_predicted_w": _num(self.grid_predicted_w),
            "grid_range_w": [_num(self.grid_range_w[0]), _num(self.grid_range_w[1])],
            "assets": [a.to_dict() for a in self.assets],
            "units": {unit: _num(value) for unit, value in self.units},
            "heat_pumps": [{"device_id": h.device_id, "state": h.state, "reason": h.reason} for h in self.heat_pumps],
            "controllers": [
                {"name": c.name, "priority": c.priority, "status": c.status, "detail": c.detail}
                for c in self.controllers
            ],
            "bounds": [
                {
                    "controller": b.controller,
                    "priority": b.priority,
                    "asset": b.asset,
                    "min_w": _num(b.min_w),
                    "max_w": _num(b.max_w),
                    "reason": b.reason,
                    "feasible": b.feasible,
                }
                for b in self.bounds
            ],
            "notes": list(self.notes),
            "lines": self.lines(),
        }


def _num(value: float | None) -> float | None:
    """JSON has no infinity: unbounded sides become null."""
    if value is None or math.isinf(value) or math.isnan(value):
        return None
    return value
