"""Registry of frequency-service activations ordered by the aggregator (ffr, fcr, dc).

Northbound writes accepted ``frequency_service`` commands here; the frequency-response work reads
``active(now)``. This module holds data only; it never measures frequency or writes devices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zoe_ems.frequency.orders import ServiceName, ServiceOrder
from zoe_ems.northbound.messages import FrequencyServiceBody


@dataclass(frozen=True, kw_only=True)
class FrequencyServiceEntry:
    """One ordered service window (UTC seconds) and the order's service parameters."""

    order: ServiceOrder
    enabled: bool
    start_utc: float
    end_utc: float
    command_id: str

    @property
    def service(self) -> ServiceName:
        return self.order.service


def order_of(body: FrequencyServiceBody) -> ServiceOrder:
    """The service parameters of a ``frequency_service`` command body (the one mapping from protocol fields)."""
    return ServiceOrder(
        service=body.service,
        power_kw=body.power_kw,
        trigger_hz=body.trigger_hz,
        over_trigger_hz=body.over_trigger_hz,
        deadband_hz=body.deadband_hz,
        full_activation_hz=body.full_activation_hz,
        min_duration_s=body.min_duration_s,
    )


@dataclass
class FrequencyServiceRegistry:
    """Latest order per service; a newer order for the same service replaces the older one."""

    entries: dict[str, FrequencyServiceEntry] = field(default_factory=dict)
    version: int = 0
    """Incremented on every change so consumers can cheaply notice updates."""

    def set(self, entry: FrequencyServiceEntry) -> FrequencyServiceEntry | None:
        """Store ``entry``; returns the entry it replaced."""
        previous = self.entries.get(entry.service)
        self.entries[entry.service] = entry
        self.version += 1
        return previous

    def remove(self, service: str, command_id: str) -> None:
        """Remove the service's entry if it still belongs to ``command_id``."""
        entry = self.entries.get(service)
        if entry is not None and entry.command_id == command_id:
            del self.entries[service]
            self.version += 1

    def active(self, now_utc: float) -> dict[str, FrequencyServiceEntry]:
        """Enabled services whose window contains ``now_utc``."""
        return {name: e for name, e in self.entries.items() if e.enabled and e.start_utc <= now_utc < e.end_utc}
