"""Registry of frequency-service activations ordered by the aggregator (ffr, fcr, dc).

Northbound writes accepted ``frequency_service`` commands here; the frequency-response work reads
``active(now)``. This module holds data only; it never measures frequency or writes devices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ServiceName = Literal["ffr", "fcr", "dc"]


@dataclass(frozen=True, kw_only=True)
class FrequencyServiceEntry:
    """One ordered service window (W, Hz, UTC seconds)."""

    service: ServiceName
    enabled: bool
    power_w: float
    start_utc: float
    end_utc: float
    command_id: str
    trigger_hz: float | None = None
    over_trigger_hz: float | None = None
    deadband_hz: float | None = None
    full_activation_hz: float | None = None
    min_duration_s: float | None = None


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
