"""The narrow interface through which command handling and DR tracking publish acks, events and reports.

Implemented by the northbound service on top of the outbox; tests may implement it in memory.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

Severity = Literal["info", "warning", "alarm", "security"]


class Emitter(Protocol):
    """Queues outgoing messages (never blocks, never raises on network problems)."""

    def ack(self, command_id: str | None, status: str, *, code: str | None = None, reason: str = "") -> None:
        """One ack on ``{p}/{site}/ack``."""
        ...

    def event(self, name: str, severity: Severity, message: str, details: dict[str, Any] | None = None) -> None:
        """One event on ``{p}/{site}/events``."""
        ...

    def response(self, message_type: Literal["response", "dr_event_report"], data: dict[str, Any]) -> None:
        """A response packet or an end-of-event report on ``{p}/{site}/response``."""
        ...
