"""Simulated time: a monotonic-based clock that may run faster than real time.

Owns the mapping between real monotonic seconds and simulated seconds (and a simulated wall clock
for day curves). It must never read ``time.time()`` for durations nor block the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class SimClock:
    """Simulated seconds since start, advancing ``speed`` times faster than ``time.monotonic()``."""

    def __init__(
        self,
        speed: float = 1.0,
        *,
        start_wall: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"SimClock speed must be > 0, got {speed}")
        self._monotonic = monotonic
        self._speed = float(speed)
        self._origin_real = monotonic()
        self._origin_sim = 0.0
        self.start_wall = time.time() if start_wall is None else float(start_wall)
        """UNIX seconds (UTC) that simulated time 0 corresponds to."""

    @property
    def speed(self) -> float:
        """Simulated seconds per real second."""
        return self._speed

    @speed.setter
    def speed(self, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"SimClock speed must be > 0, got {speed}")
        now_sim = self.now()
        self._origin_real = self._monotonic()
        self._origin_sim = now_sim
        self._speed = float(speed)

    def now(self) -> float:
        """Simulated seconds since the clock started (monotonic, never jumps back)."""
        return self._origin_sim + (self._monotonic() - self._origin_real) * self._speed

    def wall(self, sim_s: float | None = None) -> float:
        """Simulated wall-clock time (UNIX seconds, UTC) at ``sim_s`` (default: now)."""
        return self.start_wall + (self.now() if sim_s is None else sim_s)

    def to_real(self, sim_duration_s: float) -> float:
        """Real seconds that ``sim_duration_s`` simulated seconds take."""
        return sim_duration_s / self._speed

    async def sleep(self, sim_duration_s: float) -> None:
        """Sleep for a simulated duration."""
        await asyncio.sleep(max(0.0, self.to_real(sim_duration_s)))
