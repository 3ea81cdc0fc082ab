"""Fault injection state of one simulated device and the record of the writes it received.

Owns the switches (no response, exception code, response delay, frozen values) that the Modbus server
consults on every request, and the write log used by latency benchmarks. Data only: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.profile import Function


@dataclass(kw_only=True)
class Faults:
    """What is currently wrong with a simulated device (all off = healthy)."""

    no_response: bool = False
    """Swallow every request: the client times out."""
    exception_code: int | None = None
    """Answer every request with this Modbus exception code (e.g. 4 device failure, 6 busy)."""
    delay_s: float = 0.0
    """Real seconds to wait before answering."""
    frozen: bool = False
    """Stop refreshing the registers from the model: reads return the last values."""
    forced: dict[str, float | None] = field(default_factory=dict)
    """Forged point values served instead of the model's (e.g. soc 2.5, p_w 1e9; None = "not implemented")."""
    nan_everywhere: bool = False
    """Serve every point as "not implemented" (NaN for float registers, the type's sentinel otherwise)."""

    def clear(self) -> None:
        self.no_response = False
        self.exception_code = None
        self.delay_s = 0.0
        self.frozen = False
        self.forced = {}
        self.nan_everywhere = False

    def describe(self) -> str:
        parts = []
        if self.no_response:
            parts.append("no-response")
        if self.exception_code is not None:
            parts.append(f"exception {self.exception_code}")
        if self.delay_s > 0:
            parts.append(f"delay {self.delay_s:g} s")
        if self.frozen:
            parts.append("frozen")
        if self.forced:
            parts.append("forced " + ", ".join(f"{k}={v}" for k, v in sorted(self.forced.items())))
        if self.nan_everywhere:
            parts.append("NaN everywhere")
        return ", ".join(parts) or "healthy"


@dataclass(frozen=True, kw_only=True)
class WriteRecord:
    """One register or coil write that reached a simulated device."""

    t_mono: float
    """``time.monotonic()`` when the request arrived at the server (before any injected delay)."""
    function: Function
    address: int
    values: tuple[int, ...]
    setpoints: dict[str, float] = field(default_factory=dict)
    """Canonical setpoints decoded from the write (empty when rejected)."""
    accepted: bool = True
    """False when a fault or a bad write made the device refuse it."""
