"""Config-free parameters of a Modbus bus and of one device on it.

Owns the plain, validated dataclasses the transport is built from. Must never import ``zoe_ems``
(configuration is translated into these by the daemon) nor hold any I/O state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, TypeAlias

Parity = Literal["N", "E", "O"]


@dataclass(frozen=True, slots=True)
class TcpBusParams:
    """A Modbus TCP connection; ``rtu_framing`` sends RTU frames over TCP (serial gateways)."""

    host: str
    port: int = 502
    rtu_framing: bool = False

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("TcpBusParams.host: must not be empty")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"TcpBusParams.port: must be 1..65535, got {self.port}")

    @property
    def key(self) -> str:
        """Identity of the bus: one connection (and one task) per host, port and framing."""
        return f"tcp://{self.host}:{self.port}" + ("/rtu" if self.rtu_framing else "")

    @property
    def label(self) -> str:
        """Short human-readable name used in device names and logs."""
        return f"{self.host}:{self.port}" + (" (rtu)" if self.rtu_framing else "")


@dataclass(frozen=True, slots=True)
class SerialBusParams:
    """An RS-485/RS-232 line running Modbus RTU."""

    device: str
    baudrate: int = 9600
    parity: Parity = "N"
    stopbits: int = 1
    bytesize: int = 8

    def __post_init__(self) -> None:
        if not self.device:
            raise ValueError("SerialBusParams.device: must not be empty")
        if self.baudrate <= 0:
            raise ValueError(f"SerialBusParams.baudrate: must be > 0, got {self.baudrate}")
        if self.parity not in ("N", "E", "O"):
            raise ValueError(f"SerialBusParams.parity: must be 'N', 'E' or 'O', got {self.parity!r}")
        if self.stopbits not in (1, 2):
            raise ValueError(f"SerialBusParams.stopbits: must be 1 or 2, got {self.stopbits}")
        if self.bytesize not in (7, 8):
            raise ValueError(f"SerialBusParams.bytesize: must be 7 or 8, got {self.bytesize}")

    @property
    def key(self) -> str:
        """Identity of the bus: one task per serial device path."""
        return f"serial://{self.device}"

    @property
    def label(self) -> str:
        """Short human-readable name used in device names and logs."""
        return self.device


BusParams: TypeAlias = TcpBusParams | SerialBusParams


@dataclass(frozen=True, slots=True)
class DeviceLinkParams:
    """How to talk to one unit id on a bus: timeout, retries, pacing and back-off."""

    unit: int
    timeout_s: float = 1.0
    retries: int = 1
    inter_request_delay_s: float = 0.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.unit <= 255:
            raise ValueError(f"DeviceLinkParams.unit: must be 0..255, got {self.unit}")
        _require_positive("timeout_s", self.timeout_s)
        if self.retries < 0:
            raise ValueError(f"DeviceLinkParams.retries: must be >= 0, got {self.retries}")
        if not math.isfinite(self.inter_request_delay_s) or self.inter_request_delay_s < 0:
            raise ValueError(f"DeviceLinkParams.inter_request_delay_s: must be >= 0, got {self.inter_request_delay_s}")
        _require_positive("backoff_initial_s", self.backoff_initial_s)
        _require_positive("backoff_max_s", self.backoff_max_s)
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError(
                f"DeviceLinkParams.backoff_max_s: must be >= backoff_initial_s ({self.backoff_initial_s}), "
                f"got {self.backoff_max_s}"
            )

    @property
    def budget_s(self) -> float:
        """Longest time one failing request may hold the bus: every attempt timing out."""
        return self.timeout_s * (self.retries + 1)


def _require_positive(field: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"DeviceLinkParams.{field}: must be > 0, got {value}")


@dataclass(frozen=True, slots=True)
class BusOptions:
    """Bus-level behaviour shared by every bus of a ``BusManager``."""

    reconnect_initial_s: float = 0.5
    """First delay before reconnecting a lost or unreachable bus; doubles per failed attempt."""
    reconnect_max_s: float = 30.0
    """Cap of the reconnect delay."""
    connect_timeout_s: float = 3.0
    """Longest wait for one TCP connect or serial open."""
    silent_requests_before_reconnect: int = 3
    """TCP only: drop and reconnect after this many consecutive failed requests with no byte heard from any
    device on the connection (a half-open socket never recovers by itself). 0 disables."""
    rtu_late_reply_guard_s: float = 0.05
    """RTU only: after a timeout, wait this long (at most the device timeout) and discard whatever arrived, so a
    late reply is not read as the answer to the next request."""

    def __post_init__(self) -> None:
        if not 0 < self.reconnect_initial_s <= self.reconnect_max_s:
            raise ValueError(
                "BusOptions.reconnect_initial_s/reconnect_max_s: need 0 < initial <= max, "
                f"got {self.reconnect_initial_s}, {self.reconnect_max_s}"
            )
        if not self.connect_timeout_s > 0:
            raise ValueError(f"BusOptions.connect_timeout_s: must be > 0, got {self.connect_timeout_s}")
        if self.silent_requests_before_reconnect < 0:
            raise ValueError(
                "BusOptions.silent_requests_before_reconnect: must be >= 0, "
                f"got {self.silent_requests_before_reconnect}"
            )
        if self.rtu_late_reply_guard_s < 0:
            raise ValueError(f"BusOptions.rtu_late_reply_guard_s: must be >= 0, got {self.rtu_late_reply_guard_s}")
