"""Slow-loop side of the frequency services: keep the SOC where the armed services can be held.

Proposes recovery charging/discharging (inside the envelope, never while a response is active) and raises
FREQUENCY_SERVICE_UNAVAILABLE while the services cannot be held for their full duration. The headroom the
services need is reserved by the envelope (``EnvelopeParams.reserve_*``), not here. Never writes devices.
"""

from __future__ import annotations

from zoe_ems.control.controllers.base import Context, Controller
from zoe_ems.control.types import BATTERY, Alarm, Preference, Proposal, Severity
from zoe_ems.frequency.responder import FrequencyResponder


class FrequencyServiceController(Controller):
    """State-of-energy management for FFR / FCR / DC."""

    name = "frequency_soe"

    def __init__(self, responder: FrequencyResponder, soc_min: float, soc_max: float, priority: int = 90) -> None:
        self.responder = responder
        self.soc_min = soc_min
        self.soc_max = soc_max
        self.priority = priority
        self.available = False
        self.reason = "no service armed"

    def propose(self, ctx: Context) -> list[Proposal]:
        if not self.responder.armed:
            self.available, self.reason = False, "no service armed"
            return []
        soc = ctx.view.fleet_soc
        capacity = ctx.view.fleet_capacity_wh
        self.available, self.reason = self.responder.availability(soc, capacity, self.soc_min, self.soc_max)
        alarms: tuple[Alarm, ...] = ()
        if not self.available:
            alarms = (
                Alarm(
                    code="FREQUENCY_SERVICE_UNAVAILABLE",
                    severity=Severity.WARNING,
                    message=f"frequency services cannot be held: {self.reason}",
                ),
            )
        recovery = self.responder.recovery_power_w(soc, capacity, self.soc_min, self.soc_max)
        preferences: tuple[Preference, ...] = ()
        if recovery != 0.0 and soc is not None:
            direction = "charge" if recovery > 0 else "discharge"
            preferences = (
                Preference(
                    asset=BATTERY,
                    value_w=recovery,
                    reason=f"SOC {soc:.3f} outside the service window: recovery {direction}",
                ),
            )
        if not alarms and not preferences:
            return []
        return [Proposal(controller=self.name, priority=self.priority, preferences=preferences, alarms=alarms)]
