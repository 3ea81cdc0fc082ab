"""Implausible frequency samples (outside 45-55 Hz, or a jump faster than max_rocof) are rejected, counted in the
status and produce no response, while the FCR droop would answer any accepted deviation; failed reads are counted
once, as read errors."""

from __future__ import annotations

from hilf_helpers import POWER_KW, StartFrequencyHil, wait_until


async def test_hilf_out_of_range_too_fast_and_unread_samples_are_counted_once_and_ignored(
    start_frequency_hil: StartFrequencyHil,
) -> None:
    hil = await start_frequency_hil({"fcr": {"enabled": True, "power_kw": POWER_KW}})
    status = hil.frequency_status()
    range_before, rocof_before, read_errors = status["rejected_range"], status["rejected_rocof"], status["read_errors"]

    # 60 Hz (a 60 Hz meter, a wrong register): out of the plausible window.
    t_60 = hil.step(60.0)
    await wait_until(lambda: hil.frequency_status()["rejected_range"] >= range_before + 5, 3.0, "range rejections")
    hil.step(50.0)
    await hil.wait_accepted(50.0, samples=3)
    status = hil.frequency_status()
    assert status["read_errors"] == read_errors  # the rejections are the 60 Hz samples, not failed reads
    assert status["rejected_rocof"] == rocof_before

    # A 1.5 Hz jump within one 50 ms sample (30 Hz/s > 5 Hz/s): a spike, rejected; back to 50 Hz at once.
    hil.step(48.5)
    await wait_until(lambda: hil.frequency_status()["rejected_rocof"] > rocof_before, 3.0, "a rate-of-change rejection")
    hil.step(50.0)
    await hil.wait_accepted(50.0, samples=3)

    assert [w for w in hil.writes(t_60) if w.p_w != 0.0] == []
    status = hil.frequency_status()
    assert status["response_w"] == 0.0
    assert status["rejected_range"] >= range_before + 5
    assert status["rejected_rocof"] > rocof_before
    assert status["f_hz"] == 50.0

    # Failed reads (the meter answers with a Modbus exception) are read errors, each counted once: not range
    # rejections, though no frequency came back.
    status = hil.frequency_status()
    hil.site.set_fault("grid_meter", exception_code=4)
    await wait_until(
        lambda: hil.frequency_status()["read_errors"] >= status["read_errors"] + 5, 3.0, "failed frequency reads"
    )
    hil.site.clear_faults("grid_meter")
    await hil.wait_accepted(50.0, samples=3)
    after = hil.frequency_status()
    assert after["rejected_range"] == status["rejected_range"]
    assert after["rejected_rocof"] == status["rejected_rocof"]
    assert after["samples"] - status["samples"] >= (after["read_errors"] - status["read_errors"]) + 3

    # The same service does answer a plausible deviation (the rejections above were not a dead path).
    t_dip = hil.step(49.9)
    await hil.expect_setpoint(-0.5 * POWER_KW * 1000.0, t_dip, tolerance_w=500.0)
