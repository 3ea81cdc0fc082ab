"""Grid-frequency source: constant, scheduled steps, ramps or a CSV trace, plus optional seeded noise.

Owns the frequency every simulated meter, PCS and PV inverter reports. It is sampled at every
physics step (≥ 50 Hz of simulated time). The profile is pure (time comes in as simulated seconds);
the only wall-clock contact is ``changes``: the ``time.monotonic()`` instant each new noise-free value
became what the devices report, so latency benchmarks can measure from it. Never does I/O.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from simulators.trace import Trace

NOMINAL_HZ = 50.0
CHANGE_HISTORY = 10_000
"""How many frequency changes ``FrequencySource.changes`` keeps (ramps and traces change at every step)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FrequencyChange:
    """The moment a new noise-free frequency became what the simulated devices report."""

    t_mono: float
    """``time.monotonic()`` of the change (same clock as ``WriteRecord.t_mono``)."""
    t_s: float
    """Simulated time of the change."""
    hz: float
    """The new noise-free frequency."""


class FrequencySource:
    """The grid frequency as a function of simulated time."""

    def __init__(self, nominal_hz: float = NOMINAL_HZ, *, noise_hz: float = 0.0, rng: random.Random | None = None):
        self.nominal_hz = nominal_hz
        self.noise_hz = noise_hz
        """Standard deviation of white measurement noise (0 = exact)."""
        self._rng = rng or random.Random(0)
        self._profile: Callable[[float], float] = lambda _t: nominal_hz
        self._t_s = 0.0
        self.hz = nominal_hz
        """Latest sample (what devices report)."""
        self.changes: deque[FrequencyChange] = deque(maxlen=CHANGE_HISTORY)
        """Every change of the noise-free value (newest last), with its monotonic time."""
        self._clean_hz = nominal_hz

    def set(self, hz: float) -> None:
        """Hold ``hz`` from now on (devices report it from this instant)."""
        value = float(hz)
        self._profile = lambda _t: value
        self.hz = value
        self._record(value)

    def last_change(self) -> FrequencyChange | None:
        """The latest change, or None when the frequency never changed."""
        return self.changes[-1] if self.changes else None

    def changes_since(self, t_mono: float) -> list[FrequencyChange]:
        """Changes after monotonic time ``t_mono``, oldest first."""
        return [change for change in self.changes if change.t_mono > t_mono]

    def play_steps(self, steps: Sequence[tuple[float, float]]) -> None:
        """Steps ``[(after_s, hz), ...]``: from ``after_s`` simulated seconds after now the frequency is ``hz``.

        Before the first step the current value holds; after the last, the last value holds.
        """
        start = self._t_s
        held = self._clean_hz
        times = [start + float(after) for after, _hz in steps]
        values = [float(hz) for _after, hz in steps]
        if any(b < a for a, b in itertools.pairwise(times)):
            raise ValueError("frequency steps must be given in time order")

        def profile(t: float) -> float:
            value = held
            for at, hz in zip(times, values, strict=True):
                if t >= at:
                    value = hz
            return value

        self._profile = profile

    def play_ramp(self, to_hz: float, duration_s: float, *, after_s: float = 0.0) -> None:
        """Ramp linearly from the current value to ``to_hz`` over ``duration_s``, starting ``after_s`` from now."""
        self.play_trace(
            Trace.from_points([(0.0, self._clean_hz), (after_s, self._clean_hz), (after_s + duration_s, to_hz)]),
            origin_s=self._t_s,
        )

    def play_trace(self, trace: Trace, *, origin_s: float | None = None) -> None:
        """Follow a trace whose time 0 is ``origin_s`` (default: now)."""
        origin = self._t_s if origin_s is None else origin_s
        self._profile = lambda t: trace.value_at(t - origin)

    def play_csv(self, path: str | Path, *, loop: bool = False) -> None:
        """Play a ``seconds,hz`` CSV starting now."""
        self.play_trace(Trace.from_csv(path, loop=loop))

    def at(self, t_s: float) -> float:
        """Noise-free frequency at simulated time ``t_s``."""
        return self._profile(t_s)

    def advance(self, t_s: float, dt_s: float) -> None:
        """Take the sample for simulated time ``t_s``."""
        self._t_s = t_s
        noise = self._rng.gauss(0.0, self.noise_hz) if self.noise_hz > 0 else 0.0
        clean = self._profile(t_s)
        self.hz = clean + noise
        self._record(clean)

    def sample(self) -> float:
        """Latest sample (for models: ``frequency_hz=source.sample``)."""
        return self.hz

    def _record(self, clean_hz: float) -> None:
        if clean_hz != self._clean_hz:
            self._clean_hz = clean_hz
            self.changes.append(FrequencyChange(t_mono=time.monotonic(), t_s=self._t_s, hz=clean_hz))
