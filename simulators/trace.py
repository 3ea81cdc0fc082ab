"""Time series used as model inputs (irradiance, frequency, load): piecewise-linear traces from CSV.

Owns parsing of the two-column CSV format (``seconds,value``, optional header, ``#`` comments) and
interpolation. Pure: no clock, no I/O beyond reading the file once.
"""

from __future__ import annotations

import bisect
import csv
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class TraceError(ValueError):
    """A trace file or sequence is malformed; the message names the source and the line."""


@dataclass(frozen=True)
class Trace:
    """Piecewise-linear function of time; holds the first/last value outside its range (or loops)."""

    times_s: tuple[float, ...]
    values: tuple[float, ...]
    loop: bool = False

    def __post_init__(self) -> None:
        if not self.times_s or len(self.times_s) != len(self.values):
            raise TraceError("a trace needs at least one (time, value) pair and as many values as times")
        if any(b < a for a, b in itertools.pairwise(self.times_s)):
            raise TraceError("trace times must not decrease")

    @classmethod
    def from_points(cls, points: Sequence[tuple[float, float]], *, loop: bool = False) -> Trace:
        """A trace from ``(seconds, value)`` pairs."""
        return cls(tuple(float(t) for t, _ in points), tuple(float(v) for _, v in points), loop)

    @classmethod
    def from_csv(cls, path: str | Path, *, loop: bool = False) -> Trace:
        """Read ``seconds,value`` rows; a first row that is not numeric is taken as a header."""
        points: list[tuple[float, float]] = []
        try:
            with Path(path).open(encoding="utf-8", newline="") as handle:
                for line_no, row in enumerate(csv.reader(handle), start=1):
                    if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                        continue
                    if len(row) < 2:
                        raise TraceError(f"{path}:{line_no}: expected 'seconds,value', got {row!r}")
                    try:
                        points.append((float(row[0]), float(row[1])))
                    except ValueError:
                        if points or line_no > 1:
                            raise TraceError(f"{path}:{line_no}: not a number in {row!r}") from None
        except OSError as exc:
            raise TraceError(f"{path}: cannot read trace: {exc.strerror or exc}") from None
        if not points:
            raise TraceError(f"{path}: no data rows")
        try:
            return cls.from_points(points, loop=loop)
        except TraceError as exc:
            raise TraceError(f"{path}: {exc}") from None

    @property
    def duration_s(self) -> float:
        return self.times_s[-1] - self.times_s[0]

    def value_at(self, t_s: float) -> float:
        """Interpolated value at ``t_s`` seconds (trace time)."""
        times = self.times_s
        if self.loop and self.duration_s > 0:
            t_s = times[0] + (t_s - times[0]) % self.duration_s
        if t_s <= times[0]:
            return self.values[0]
        if t_s >= times[-1]:
            return self.values[-1]
        index = bisect.bisect_right(times, t_s)
        t0, t1 = times[index - 1], times[index]
        v0, v1 = self.values[index - 1], self.values[index]
        if t1 == t0:
            return v1
        return v0 + (v1 - v0) * (t_s - t0) / (t1 - t0)
