"""The interface between drivers and transports: register access for one device on one bus.

Transports implement ``RegisterIO``; drivers (profile engine, SunSpec) consume it. Addresses are
0-based protocol addresses. Methods raise ``drivers.errors.DeviceError`` subclasses on failure.
"""

from __future__ import annotations

from typing import Protocol

from drivers.profile import Function


class RegisterIO(Protocol):
    """Serialized register access to one device (unit id) on a bus."""

    @property
    def name(self) -> str:
        """Human-readable device address, e.g. ``127.0.0.1:1502/unit 3``."""
        ...

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        """Read ``count`` registers (holding/input) or bits (coil/discrete, as 0/1) from ``address``."""
        ...

    async def write_registers(self, address: int, values: list[int]) -> None:
        """Write holding registers (function 16, or 6 for a single register)."""
        ...

    async def write_coils(self, address: int, values: list[bool]) -> None:
        """Write coils (function 15, or 5 for a single coil)."""
        ...
