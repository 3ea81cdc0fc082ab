"""The fast frequency path loses its samples in the middle of an FFR activation (the meter turns slower than the
fast path's 40 ms timeout; the normal 200 ms poll, which the control loop's grid-meter fail-safe watches, still
reads it): the real daemon keeps the FFR support and ramp-down on the PCS on its own clock, drops the FCR droop to
zero (fail safe), counts each failed read once (as a read error, not as a range rejection) and does not re-arm
while samples are missing."""

from __future__ import annotations

import itertools

import pytest
from hilf_helpers import POWER_KW, StartFrequencyHil, ffr, wait_until

FFR_W = -POWER_KW * 1000.0
FCR_KW = 20.0
SLOW_METER_S = 0.1
"""Answer delay of the faulty meter: beyond the fast path's timeout, within the normal poller's 200 ms."""


async def test_hilf_failed_reads_count_once_and_a_triggered_ffr_delivers_its_support_while_fcr_fails_safe(
    start_frequency_hil: StartFrequencyHil,
) -> None:
    hil = await start_frequency_hil({"ffr": ffr(rearm_delay_s=0.0), "fcr": {"enabled": True, "power_kw": FCR_KW}})
    support_s = hil.config.control.ffr.support_s
    stale_s = hil.config.control.frequency.stale_after_ms / 1000.0

    # Activation: FFR full step plus the saturated FCR droop (-0.35 Hz).
    t_step = hil.step(49.65)
    both = FFR_W - FCR_KW * 1000.0
    first = await hil.wait_write(lambda w: w <= both + 500.0, t_step, 1.3, "FFR + FCR activation write")
    before = hil.frequency_status()

    # Every fast read times out from now on; the frequency stays at 49.65 Hz, where the droop would still answer.
    hil.site.set_fault("grid_meter", delay_s=SLOW_METER_S)
    await wait_until(
        lambda: hil.frequency_status()["read_errors"] >= before["read_errors"] + 10, 3.0, "failed frequency reads"
    )
    # FCR drops out once samples are stale; the FFR step stays on.
    ffr_only = await hil.wait_write(
        lambda w: w == pytest.approx(FFR_W, abs=500.0), first.t_mono, stale_s + 1.5, "the FCR share dropping out"
    )
    assert ffr_only.t_mono - first.t_mono >= stale_s - 0.2

    # The FFR support and ramp-down run to the end with no sample at all.
    end = await hil.wait_write(lambda w: w == 0.0, first.t_mono, support_s + 8.0, "the end of the FFR ramp-down")
    status = hil.frequency_status()
    assert status["read_errors"] > before["read_errors"] + 50  # failed reads all through the activation
    assert status["rejected_range"] == before["rejected_range"]  # ... and none counted as a range rejection
    assert hil.service_state("ffr") == "recovering"  # no sample accepted: no re-arm

    writes = hil.writes(first.t_mono)
    held = [w for w in writes if w.t_mono < end.t_mono and w.p_w > FFR_W + 500.0]
    ramp_start = min(w.t_mono for w in held)
    assert support_s - 0.3 <= ramp_start - first.t_mono <= support_s + 0.5  # held for the support, then a ramp
    assert len(held) >= 10 and all(b.p_w >= a.p_w for a, b in itertools.pairwise(held))
    assert end.t_mono - ramp_start >= 100.0 / hil.config.control.ffr.rampdown_pct_per_s - 0.3
    assert [w for w in writes if w.p_w == 0.0 and w.t_mono < end.t_mono] == []  # never dropped to zero early

    # Readings come back at 50 Hz: accepted as a fresh start, the FFR re-arms (rearm_delay_s 0, above the
    # hysteresis) and nothing responds.
    hil.step(50.0)
    hil.site.clear_faults("grid_meter")
    await hil.wait_accepted(50.0, samples=3)
    await wait_until(lambda: hil.service_state("ffr") == "armed", 2.0, "the FFR to re-arm")
    assert [w for w in hil.writes(end.t_mono) if w.p_w != 0.0] == []
