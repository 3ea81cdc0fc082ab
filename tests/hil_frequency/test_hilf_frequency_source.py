"""The simulator's frequency source records the monotonic instant of every change of its noise-free value, the
reference from which the latency tests and bench/ffr_latency.py measure."""

from __future__ import annotations

import time

import pytest

from simulators.frequency import FrequencySource


def test_set_records_the_change_instant_and_ignores_repeats() -> None:
    source = FrequencySource()
    before = time.monotonic()
    source.set(49.65)
    source.set(49.65)
    after = time.monotonic()
    change = source.last_change()
    assert change is not None
    assert change.hz == 49.65
    assert before <= change.t_mono <= after
    assert len(source.changes) == 1
    assert source.changes_since(after) == []


def test_scheduled_steps_are_recorded_when_the_physics_reaches_them_not_noise() -> None:
    source = FrequencySource(noise_hz=0.002)
    source.advance(0.0, 0.0)
    source.play_steps([(1.0, 49.6), (2.0, 50.0)])
    source.advance(0.5, 0.5)
    assert source.changes_since(-1.0) == []  # noise alone is not a change
    mark = time.monotonic()
    source.advance(1.0, 0.5)
    source.advance(2.5, 1.5)
    changes = source.changes_since(mark)
    assert [(c.t_s, c.hz) for c in changes] == [(1.0, 49.6), (2.5, 50.0)]
    assert all(c.t_mono >= mark for c in changes)
    assert source.hz == pytest.approx(50.0, abs=0.02)
