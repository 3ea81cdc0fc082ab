"""A regularly spaced time series (UTC seconds) with step-average resampling; pure numpy, no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zoe_ems.optimizer.problem import FloatArray


@dataclass(frozen=True)
class TimeSeries:
    """Regularly spaced values (prices, forecasts): ``values[i]`` holds on [start + i * step, start + (i+1) * step)."""

    start_utc: float
    step_s: float
    values: FloatArray

    @property
    def end_utc(self) -> float:
        return self.start_utc + self.step_s * len(self.values)

    def sample(self, start_utc: float, step_s: float, n: int) -> FloatArray:
        """Mean value over each of ``n`` steps; NaN where the series has no value."""
        sub = max(1, math.ceil(step_s / self.step_s - 1e-9))
        times = start_utc + step_s * (np.arange(n)[:, None] + (np.arange(sub)[None, :] + 0.5) / sub)
        index = np.floor((times - self.start_utc) / self.step_s).astype(np.int64)
        inside = (index >= 0) & (index < len(self.values))
        picked = np.where(inside, self.values[np.clip(index, 0, max(len(self.values) - 1, 0))], np.nan)
        result: FloatArray = picked.mean(axis=1)
        return result

    def until(self, end_utc: float) -> TimeSeries:
        """The part of the series that starts before ``end_utc`` (what was published by then)."""
        count = max(0, min(len(self.values), math.floor((end_utc - self.start_utc) / self.step_s + 1e-9)))
        return TimeSeries(self.start_utc, self.step_s, self.values[:count])
