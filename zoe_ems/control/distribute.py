"""Splits the battery fleet's power over its PCS units by available headroom and SOC.

Charging favours empty units, discharging favours full ones; every unit stays inside its own envelope range and
no unit charges while another discharges (unless its own range forces it, e.g. by the ramp). Pure arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TOL_W = 1e-6


@dataclass(frozen=True, slots=True)
class UnitShare:
    """What the distributor needs to know about one unit."""

    unit_id: str
    min_w: float
    max_w: float
    soc: float | None


def distribute(total_w: float, units: Sequence[UnitShare], soc_min: float, soc_max: float) -> dict[str, float]:
    """Values per unit summing to ``total_w`` (clamped to the sum of unit ranges), each inside its range."""
    values = [min(u.max_w, max(u.min_w, 0.0)) for u in units]
    residual = total_w - sum(values)
    for _ in range(len(units) + 1):
        if abs(residual) <= TOL_W:
            break
        charging = residual > 0
        weights = []
        for unit, value in zip(units, values, strict=True):
            room = (unit.max_w - value) if charging else (value - unit.min_w)
            if room <= TOL_W:
                weights.append(0.0)
                continue
            soc = unit.soc if unit.soc is not None else 0.5
            energy = (soc_max - soc) if charging else (soc - soc_min)
            weights.append(room * max(energy, 0.01))
        total_weight = sum(weights)
        if total_weight <= 0:
            break
        moved = 0.0
        for index, weight in enumerate(weights):
            if weight <= 0:
                continue
            unit = units[index]
            share = residual * weight / total_weight
            new = min(unit.max_w, max(unit.min_w, values[index] + share))
            moved += new - values[index]
            values[index] = new
        residual -= moved
    return {u.unit_id: v for u, v in zip(units, values, strict=True)}
