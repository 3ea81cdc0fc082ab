"""The output of one control cycle: setpoints per device, the decision record and the alarms.

Data only. Setpoints are canonical read-write points (drivers/points.py) in SI units and the passive sign
convention, already inside the safety envelope; the writer filters them by each driver's writable points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zoe_ems.control.record import DecisionRecord
from zoe_ems.control.types import Alarm


@dataclass(frozen=True, slots=True)
class Decision:
    """Setpoints to write, why, and what is wrong."""

    setpoints: dict[str, dict[str, float]]
    """device_id → canonical rw point → value."""
    record: DecisionRecord
    alarms: list[Alarm] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (no infinities) for `zoe-ems status --json` and the history."""
        return {
            "setpoints": {device: dict(points) for device, points in self.setpoints.items()},
            "record": self.record.to_dict(),
            "alarms": [a.to_dict() for a in self.alarms],
        }
