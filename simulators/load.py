"""Site consumption: a base load (constant or a working-day shape) plus steps injected by tests.

Owns the uncontrollable load of the site. Pure and stepped by dt; randomness only from the seeded
generator it is given. Power is positive (consumption), split over three phases.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

from simulators.model import PhasePowers, PointValues
from simulators.trace import Trace


class LoadModel:
    """Uncontrollable site load: base profile + injected steps + optional seeded noise."""

    def __init__(
        self,
        *,
        base_w: float,
        daily_shape: bool = False,
        start_wall: float = 0.0,
        utc_offset_s: float = 0.0,
        noise_w: float = 0.0,
        phase_shares: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3),
        power_factor: float = 0.95,
        rng: random.Random | None = None,
    ) -> None:
        if abs(sum(phase_shares) - 1.0) > 1e-6:
            raise ValueError(f"load phase_shares must sum to 1, got {phase_shares}")
        self.base_w = base_w
        """Base consumption in W (the daily shape scales it between 50 % at night and 130 % at midday)."""
        self.daily_shape = daily_shape
        self.start_wall = start_wall
        self.utc_offset_s = utc_offset_s
        """Local time offset used by the daily shape."""
        self.noise_w = noise_w
        """Standard deviation of a slow random variation (0 = deterministic)."""
        self.phase_shares = phase_shares
        self.power_factor = power_factor
        self.offset_w = 0.0
        """Sum of the steps injected so far."""
        self.p_w = base_w
        self._rng = rng or random.Random(0)
        self._noise_state_w = 0.0
        self._scheduled: list[tuple[float, float]] = []
        self._trace: Trace | None = None
        self._trace_origin_s = 0.0
        self._t_s = 0.0

    def step(self, delta_w: float) -> None:
        """Add ``delta_w`` to the load from now on (a machine switching on: +, off: -)."""
        self.offset_w += float(delta_w)

    def advance(self, t_s: float, dt_s: float) -> None:
        """Advance to ``t_s``; apply scheduled steps that are due."""
        self._t_s = t_s
        due = [s for s in self._scheduled if s[0] <= t_s]
        if due:
            self._scheduled = [s for s in self._scheduled if s[0] > t_s]
            for _at, delta in due:
                self.offset_w += delta
        if self.noise_w > 0 and dt_s > 0:
            # Ornstein-Uhlenbeck process with a 60 s time constant and std noise_w.
            theta = min(1.0, dt_s / 60.0)
            self._noise_state_w += -theta * self._noise_state_w + self.noise_w * math.sqrt(2 * theta) * self._rng.gauss(
                0.0, 1.0
            )
        self.p_w = max(0.0, self._base_at(t_s) + self.offset_w + self._noise_state_w)

    def schedule_step(self, after_s: float, delta_w: float) -> None:
        """Add ``delta_w`` ``after_s`` simulated seconds from now."""
        self._scheduled.append((self._t_s + after_s, float(delta_w)))

    def set_base(self, base_w: float, *, daily_shape: bool | None = None) -> None:
        self.base_w = float(base_w)
        if daily_shape is not None:
            self.daily_shape = daily_shape

    def play_trace(self, trace: Trace) -> None:
        """Replace the base profile by a trace (W) starting now."""
        self._trace = trace
        self._trace_origin_s = self._t_s

    def apply(self, setpoints: Mapping[str, float]) -> None:
        """The site load has no setpoints."""

    def points(self) -> PointValues:
        return {"p_w": self.p_w}

    def phase_powers_w(self) -> PhasePowers:
        a, b, c = self.phase_shares
        return (self.p_w * a, self.p_w * b, self.p_w * c)

    def reactive_power_var(self) -> float:
        return self.p_w * math.tan(math.acos(self.power_factor))

    def _base_at(self, t_s: float) -> float:
        if self._trace is not None:
            return self._trace.value_at(t_s - self._trace_origin_s)
        if not self.daily_shape:
            return self.base_w
        local_hour = ((self.start_wall + t_s + self.utc_offset_s) % 86400.0) / 3600.0
        # Night 50 %, smooth rise to ~130 % around 13:00.
        day = max(0.0, math.sin(math.pi * (local_hour - 6.0) / 14.0)) if 6.0 <= local_hour <= 20.0 else 0.0
        return self.base_w * (0.5 + 0.8 * day)
