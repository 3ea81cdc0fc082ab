"""A triggered FFR delivers its contracted support on its own clock when frequency samples stop or are rejected;
stale or rejected samples never trigger or re-arm it; FCR and DC fail safe to zero on stale input."""

from __future__ import annotations

import pytest

from zoe_ems.config.frequency import DcConfig, FcrConfig, FfrConfig, FrequencyMeasurementConfig
from zoe_ems.frequency.responder import FrequencyResponder
from zoe_ems.frequency.services import FfrService, FfrState

P_W = 100_000.0


def responder(
    ffr: FfrConfig | None = None, fcr: FcrConfig | None = None, dc: DcConfig | None = None
) -> FrequencyResponder:
    return FrequencyResponder(
        ffr=ffr or FfrConfig(),
        fcr=fcr or FcrConfig(),
        dc=dc or DcConfig(),
        measurement=FrequencyMeasurementConfig(stale_after_ms=500),
    )


def ffr_5s(**overrides: object) -> FfrConfig:
    return FfrConfig.model_validate(
        {"enabled": True, "trigger_hz": 49.7, "power_kw": 100, "support_s": 5, "rearm_delay_s": 1.0, **overrides}
    )


def ffr_of(r: FrequencyResponder) -> FfrService:
    service = r.services[0]
    assert isinstance(service, FfrService)
    return service


def test_ffr_hold_and_ramp_down_continue_when_samples_stop_mid_activation() -> None:
    r = responder(ffr=ffr_5s())
    assert r.on_sample(49.6, 0.0) is not None
    assert r.current_p_w(0.0) == -P_W
    # From here on no sample at all: the response follows the timed shape, not the fail-safe zero.
    expected = {1.0: -P_W, 4.9: -P_W, 6.0: -0.8 * P_W, 7.5: -0.5 * P_W, 9.9: -0.02 * P_W, 10.0: 0.0, 12.0: 0.0}
    got = {t: r.current_p_w(t) for t in expected}
    assert got == pytest.approx(expected, abs=1e-6)
    assert ffr_of(r).state is FfrState.RECOVERING
    assert r.last is not None and not r.last.active


def test_ffr_30s_support_steps_down_on_time_without_samples() -> None:
    r = responder(ffr=ffr_5s(support_s=30))
    assert r.on_sample(49.6, 0.0) is not None
    assert r.current_p_w(29.9) == -P_W
    assert r.current_p_w(30.0) == 0.0


def test_rejected_samples_during_the_hold_do_not_interrupt_it() -> None:
    r = responder(ffr=ffr_5s())
    assert r.on_sample(49.6, 0.0) is not None
    for i in range(1, 60):  # 3 s of out-of-range garbage at 20 Hz: rejected, and stale after 0.5 s
        t = i * 0.05
        assert r.on_sample(60.0, t) is None
        assert r.current_p_w(t) == -P_W
    assert r.filter.rejected_range == 59


def test_stale_or_rejected_samples_never_trigger_a_new_activation() -> None:
    r = responder(ffr=ffr_5s())
    assert r.on_sample(50.0, 0.0) is not None
    assert r.on_sample(44.0, 0.05) is None  # below the trigger, but implausible
    assert r.current_p_w(0.05) == 0.0
    assert r.current_p_w(5.0) == 0.0  # stale: no sample, no trigger
    assert ffr_of(r).state is FfrState.ARMED and ffr_of(r).activations == 0


def test_a_recovering_ffr_does_not_re_arm_without_accepted_samples() -> None:
    r = responder(ffr=ffr_5s(rearm_delay_s=1.0))
    assert r.on_sample(49.6, 0.0) is not None
    assert r.current_p_w(12.0) == 0.0  # the ramp ended at 10 s, the delay passed at 11 s: but no sample
    assert ffr_of(r).state is FfrState.RECOVERING
    assert r.on_sample(49.9, 12.05) is not None  # fresh start after staleness; above trigger + hysteresis
    assert ffr_of(r).state is FfrState.ARMED


def test_rearm_delay_counts_from_the_end_of_the_ramp_not_from_the_next_sample() -> None:
    r = responder(ffr=ffr_5s(rearm_delay_s=2.0))
    assert r.on_sample(49.6, 0.0) is not None
    assert r.current_p_w(11.0) == 0.0  # stale through the end of the ramp at 10 s
    assert r.on_sample(49.9, 11.9) is not None
    assert ffr_of(r).state is FfrState.RECOVERING  # 1.9 s after the end
    assert r.on_sample(49.9, 12.0) is not None
    assert ffr_of(r).state is FfrState.ARMED  # 2.0 s after the end


def test_fcr_and_dc_go_to_zero_on_stale_input_while_a_triggered_ffr_keeps_delivering() -> None:
    r = responder(
        ffr=ffr_5s(),
        fcr=FcrConfig(enabled=True, power_kw=50),
        dc=DcConfig(enabled=True, low_power_kw=20, high_power_kw=20),
    )
    out = r.on_sample(49.6, 0.0)
    assert out is not None
    assert out.p_w == pytest.approx(-P_W - 50_000.0 - 20_000.0 * (0.05 + 0.95 * 0.2 / 0.3))
    assert r.current_p_w(0.3) == pytest.approx(out.p_w)  # not stale yet: the droop services hold their answer
    assert r.current_p_w(0.6) == -P_W  # stale: only the FFR activation goes on
    assert r.last is not None and r.last.active
    assert {o.name: o.p_w for o in r.last.outputs} == {"ffr": -P_W, "fcr": 0.0, "dc": 0.0}


def test_stale_droop_services_alone_give_nothing() -> None:
    r = responder(fcr=FcrConfig(enabled=True, power_kw=50))
    assert r.on_sample(49.9, 0.0) is not None
    assert r.current_p_w(0.1) == pytest.approx(-25_000.0)
    assert r.current_p_w(1.0) == 0.0
