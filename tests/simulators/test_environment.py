"""Environment models: clock, traces, irradiance and PV curtailment, site load, grid frequency."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulators.clock import SimClock
from simulators.frequency import FrequencySource
from simulators.load import LoadModel
from simulators.pv import Irradiance, PvInverterModel
from simulators.trace import Trace, TraceError


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_sim_clock_runs_speed_times_faster_than_the_monotonic_clock() -> None:
    real = FakeMonotonic()
    clock = SimClock(speed=60.0, start_wall=1_000_000.0, monotonic=real)
    real.now += 2.0
    assert clock.now() == pytest.approx(120.0)
    assert clock.wall() == pytest.approx(1_000_120.0)
    clock.speed = 1.0
    real.now += 2.0
    assert clock.now() == pytest.approx(122.0), "changing speed never makes time jump"
    with pytest.raises(ValueError, match="speed"):
        SimClock(speed=0.0)


def test_trace_interpolates_holds_and_loops(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("seconds,hz\n# comment\n0,50.0\n10,49.0\n", encoding="utf-8")
    trace = Trace.from_csv(path)
    assert trace.value_at(5.0) == pytest.approx(49.5)
    assert trace.value_at(20.0) == pytest.approx(49.0)
    looped = Trace.from_csv(path, loop=True)
    assert looped.value_at(15.0) == pytest.approx(49.5)


def test_trace_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("0,50\n1,abc\n", encoding="utf-8")
    with pytest.raises(TraceError, match=r"bad\.csv:2"):
        Trace.from_csv(path)


def test_clear_sky_gives_sun_at_summer_noon_and_none_at_midnight() -> None:
    noon = datetime(2026, 6, 21, 12, 0, tzinfo=UTC).timestamp()
    sky = Irradiance(start_wall=noon, latitude=50.0, longitude=0.0)
    assert 700.0 < sky.w_per_m2(0.0) < 1100.0
    assert sky.w_per_m2(12 * 3600.0) == 0.0
    winter = Irradiance(start_wall=datetime(2026, 12, 21, 12, 0, tzinfo=UTC).timestamp(), latitude=50.0, longitude=0.0)
    assert 0.0 < winter.w_per_m2(0.0) < sky.w_per_m2(0.0)


def test_pv_follows_irradiance_and_obeys_both_curtailment_points() -> None:
    sky = Irradiance(start_wall=0.0)
    sky.set_constant(1000.0)
    pv = PvInverterModel(sky, rated_w=20e3, dc_ratio=1.0, ramp_w_per_s=1e9)
    pv.advance(1.0, 1.0)
    assert pv.p_w == pytest.approx(-20e3), "PV produces: negative in the passive convention"
    pv.apply({"p_limit_pct": 0.4})
    pv.advance(2.0, 1.0)
    assert pv.p_w == pytest.approx(-8e3)
    pv.apply({"p_limit_w": 5e3})
    pv.advance(3.0, 1.0)
    assert pv.p_w == pytest.approx(-5e3)
    sky.set_constant(100.0)
    pv.advance(4.0, 1.0)
    assert pv.p_w == pytest.approx(-2e3)
    assert pv.e_total_wh > 0


def test_load_steps_now_and_on_schedule() -> None:
    load = LoadModel(base_w=20e3)
    load.advance(1.0, 1.0)
    assert load.p_w == pytest.approx(20e3)
    load.step(+100e3)
    load.advance(2.0, 1.0)
    assert load.p_w == pytest.approx(120e3)
    load.schedule_step(5.0, -50e3)
    load.advance(4.0, 2.0)
    assert load.p_w == pytest.approx(120e3)
    load.advance(7.0, 3.0)
    assert load.p_w == pytest.approx(70e3)
    assert sum(load.phase_powers_w()) == pytest.approx(70e3)


def test_load_noise_is_reproducible_with_a_seed() -> None:
    def sample(seed: int) -> list[float]:
        load = LoadModel(base_w=10e3, noise_w=500.0, rng=random.Random(seed))
        values = []
        for i in range(1, 200):
            load.advance(float(i), 1.0)
            values.append(load.p_w)
        return values

    assert sample(1) == sample(1)
    assert sample(1) != sample(2)


def test_frequency_plays_steps_ramps_and_csv(tmp_path: Path) -> None:
    source = FrequencySource()
    source.advance(10.0, 0.02)
    source.play_steps([(1.0, 49.6), (3.0, 50.0)])
    source.advance(10.5, 0.5)
    assert source.hz == pytest.approx(50.0)
    source.advance(11.0, 0.5)
    assert source.hz == pytest.approx(49.6)
    source.advance(13.0, 2.0)
    assert source.hz == pytest.approx(50.0)
    source.play_ramp(49.0, 10.0)
    source.advance(18.0, 5.0)
    assert source.hz == pytest.approx(49.5)
    path = tmp_path / "trace.csv"
    path.write_text("0,50.1\n2,49.9\n", encoding="utf-8")
    source.play_csv(path)
    source.advance(19.0, 1.0)
    assert source.hz == pytest.approx(50.0)
