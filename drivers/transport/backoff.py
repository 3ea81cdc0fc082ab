"""Capped exponential back-off, shared by device back-off and bus reconnects.

Owns only the delay arithmetic; must never sleep or read a clock itself.
"""

from __future__ import annotations


class Backoff:
    """Delays ``initial_s, 2*initial_s, 4*initial_s, ...`` capped at ``max_s`` until ``reset()``."""

    def __init__(self, initial_s: float, max_s: float, factor: float = 2.0) -> None:
        if initial_s <= 0 or max_s < initial_s or factor < 1.0:
            raise ValueError(
                f"Backoff: need 0 < initial_s <= max_s and factor >= 1, got {initial_s}, {max_s}, {factor}"
            )
        self.initial_s = initial_s
        self.max_s = max_s
        self.factor = factor
        self._next_s = initial_s
        self.attempts = 0

    def next_delay(self) -> float:
        """Return the delay to wait now and grow the following one."""
        delay = self._next_s
        self._next_s = min(self._next_s * self.factor, self.max_s)
        self.attempts += 1
        return delay

    def peek(self) -> float:
        """The delay ``next_delay()`` would return, without consuming it."""
        return self._next_s

    def reset(self) -> None:
        """Start again from ``initial_s`` (after a success)."""
        self._next_s = self.initial_s
        self.attempts = 0
