"""Nordic FFR against the simulated site: trigger level, full activation time measured from the simulator's
frequency change to the PCS write arrival, 5 s support with a ≤ 20 %/s ramp-down, re-arm delay and hysteresis."""

from __future__ import annotations

import itertools
import time

import pytest
from hilf_helpers import POWER_KW, StartFrequencyHil, Write, ffr, wait_until

FULL_W = -POWER_KW * 1000.0


def ramp_writes(writes: list[Write], start: Write, end: Write) -> list[Write]:
    return [w for w in writes if start.t_mono <= w.t_mono <= end.t_mono]


async def test_hilf_ffr_full_power_within_activation_time_holds_5s_ramps_down_at_20pct_and_rearms(
    start_frequency_hil: StartFrequencyHil,
) -> None:
    hil = await start_frequency_hil({"ffr": ffr(rampdown_pct_per_s=20.0, rearm_delay_s=1.0)})
    config = hil.config.control.ffr
    assert hil.config.control.frequency.sample_hz == 20.0

    # Just above the trigger (49.75 > 49.7): no response.
    t_above = hil.step(49.75)
    await hil.wait_accepted(49.75, samples=5)
    assert [w for w in hil.writes(t_above) if w.p_w != 0.0] == []
    assert hil.service_state("ffr") == "armed"

    # Across the trigger: full discharge well within the full-activation time (1.3 s at 49.7 Hz).
    t_step = hil.step(49.65)
    first = await hil.wait_write(lambda w: w < 0.0, t_step, config.full_activation_s, "the FFR activation write")
    assert first.p_w == pytest.approx(FULL_W, rel=1e-3)
    assert first.t_mono - t_step < config.full_activation_s
    assert abs(hil.frequency_status()["clamped_w"]) < 1.0  # W: nothing cut by the hard limits

    # Frequency recovers during the support: the response is held anyway for support_s, then ramps down.
    hil.step(49.80)
    ramp_first = await hil.wait_write(lambda w: w > FULL_W + 1.0, first.t_mono, 8.0, "the start of the ramp-down")
    hold_s = ramp_first.t_mono - first.t_mono
    assert config.support_s - 0.3 <= hold_s <= config.support_s + 0.5  # write-arrival jitter on a loaded machine
    assert all(w.p_w == pytest.approx(FULL_W) for w in hil.writes(first.t_mono) if w.t_mono < ramp_first.t_mono)
    await wait_until(lambda: hil.service_state("ffr") == "recovering", 8.0, "the end of the ramp-down")
    recovering_mono = time.monotonic()
    end = await hil.wait_write(lambda w: w == 0.0, ramp_first.t_mono, 3.0, "the zero write ending the ramp-down")
    ramp = ramp_writes(hil.writes(), ramp_first, end)
    assert len(ramp) >= 10  # a ramp (one write per sample that moved ≥ 100 W), not a step
    assert end.t_mono - ramp_first.t_mono >= 100.0 / config.rampdown_pct_per_s - 0.3
    # Slope from the write log: never faster than 20 %/s over any second (0.15 s of arrival jitter allowed for).
    limit_w_per_s = config.rampdown_pct_per_s / 100.0 * POWER_KW * 1000.0
    for a, b in itertools.combinations(ramp, 2):
        if b.t_mono - a.t_mono >= 1.0:
            assert b.p_w - a.p_w <= limit_w_per_s * (b.t_mono - a.t_mono + 0.15), (a, b)
    assert all(b.p_w >= a.p_w for a, b in itertools.pairwise(ramp))  # monotonic towards zero

    # Re-arm: frequency is above trigger + hysteresis, so the service is ready rearm_delay_s after the end.
    await wait_until(lambda: hil.service_state("ffr") == "armed", 3.0, "the FFR to re-arm")
    rearmed_after_s = time.monotonic() - recovering_mono  # both seen by the same 5 ms status poll
    assert config.rearm_delay_s - 0.25 <= rearmed_after_s <= config.rearm_delay_s + 0.6

    # Second activation; this time frequency stays inside the re-arm hysteresis (49.72 < 49.7 + 0.05).
    t_second = hil.step(49.65)
    second = await hil.wait_write(lambda w: w < 0.0, t_second, config.full_activation_s, "the second activation")
    assert second.p_w == pytest.approx(FULL_W, rel=1e-3)
    hil.step(49.72)
    end2 = await hil.wait_write(lambda w: w == 0.0, second.t_mono, 14.0, "the end of the second response")
    await hil.wait_accepted(49.72, samples=int(hil.config.control.frequency.sample_hz * (config.rearm_delay_s + 0.5)))
    assert hil.service_state("ffr") == "recovering"
    assert [w for w in hil.writes(end2.t_mono) if w.p_w != 0.0] == []
    hil.step(49.80)
    await wait_until(lambda: hil.service_state("ffr") == "armed", 1.0, "re-arm once above the hysteresis")
