"""Compliance of the frequency-service shapes: triggers, deadbands, droop points, hold, ramp, re-arm, SOE."""

from __future__ import annotations

import itertools

import pytest

from zoe_ems.config.frequency import DcConfig, FcrConfig, FfrConfig, FrequencyMeasurementConfig
from zoe_ems.frequency.responder import FrequencyResponder, SampleFilter
from zoe_ems.frequency.services import DcService, FcrService, FfrService, FfrState, dc_fraction


def run_ffr(service: FfrService, samples: list[tuple[float, float]]) -> list[float]:
    return [service.respond(f, t).p_w for t, f in samples]


@pytest.mark.parametrize("trigger", [49.7, 49.6, 49.5])
def test_ffr_steps_to_full_discharge_exactly_at_its_trigger(trigger: float) -> None:
    service = FfrService(FfrConfig(enabled=True, trigger_hz=trigger, power_kw=100))
    assert service.respond(trigger + 0.001, 0.0).p_w == 0.0
    assert service.respond(trigger, 0.05).p_w == -100_000.0
    assert service.state is FfrState.ACTIVE


def test_ffr_full_activation_times_follow_the_trigger_level() -> None:
    assert FfrConfig(trigger_hz=49.7).full_activation_s == 1.3
    assert FfrConfig(trigger_hz=49.6).full_activation_s == 1.0
    assert FfrConfig(trigger_hz=49.5).full_activation_s == 0.7
    with pytest.raises(ValueError, match="trigger_hz"):
        FfrConfig(trigger_hz=49.8)


def test_ffr_30s_support_holds_full_power_then_steps_down_even_if_frequency_stays_low() -> None:
    service = FfrService(FfrConfig(enabled=True, trigger_hz=49.7, power_kw=50, support_s=30))
    outputs = run_ffr(service, [(t * 0.1, 49.6) for t in range(0, 400)])
    assert all(p == -50_000.0 for p in outputs[:300])
    assert all(p == 0.0 for p in outputs[300:])
    assert service.state is FfrState.RECOVERING


def test_ffr_5s_support_ramps_down_no_faster_than_20_percent_per_second() -> None:
    service = FfrService(FfrConfig(enabled=True, trigger_hz=49.7, power_kw=100, support_s=5))
    samples = [(t * 0.1, 49.5) for t in range(0, 120)]
    outputs = run_ffr(service, samples)
    assert all(p == -100_000.0 for p in outputs[:50])
    ramp = outputs[50:101]
    steps = [abs(b) - abs(a) for a, b in itertools.pairwise(ramp)]
    assert all(-0.2 * 100_000 * 0.1 - 1e-6 <= s <= 0 for s in steps)
    assert outputs[100] == 0.0  # 5 s of ramp at 20 %/s reaches zero
    assert abs(outputs[75]) == pytest.approx(50_000.0, rel=0.01)


def test_ffr_rearms_only_after_frequency_recovers_and_the_delay_passes() -> None:
    config = FfrConfig(enabled=True, trigger_hz=49.7, power_kw=10, support_s=30, rearm_delay_s=60)
    service = FfrService(config)
    service.respond(49.6, 0.0)
    service.respond(49.6, 30.0)  # support over
    assert service.state is FfrState.RECOVERING
    service.respond(49.72, 95.0)  # above trigger but inside hysteresis: still recovering
    assert service.state is FfrState.RECOVERING
    service.respond(49.8, 50.0 + 30.0)  # recovered but the delay has not passed
    assert service.state is FfrState.RECOVERING
    service.respond(49.8, 91.0)
    assert service.state is FfrState.ARMED
    assert service.respond(49.69, 92.0).p_w == -10_000.0
    assert service.activations == 2


def test_ffr_over_frequency_mirror_charges() -> None:
    service = FfrService(FfrConfig(enabled=True, power_kw=20, over_frequency=True, over_trigger_hz=50.3))
    assert service.respond(50.29, 0.0).p_w == 0.0
    assert service.respond(50.3, 0.1).p_w == 20_000.0


@pytest.mark.parametrize(
    ("f_hz", "expected_fraction"),
    [(50.0, 0.0), (50.01, 0.0), (49.99, 0.0), (50.011, 0.055), (49.9, -0.5), (50.2, 1.0), (49.8, -1.0), (49.5, -1.0)],
)
def test_fcr_droop_points_and_deadband_edges(f_hz: float, expected_fraction: float) -> None:
    service = FcrService(FcrConfig(enabled=True, power_kw=200, deadband_mhz=10))
    assert service.respond(f_hz, 0.0).p_w == pytest.approx(200_000 * expected_fraction, abs=1.0)


def test_fcr_is_symmetric() -> None:
    service = FcrService(FcrConfig(enabled=True, power_kw=100))
    for delta in (0.02, 0.05, 0.123, 0.2, 0.3):
        assert service.respond(50 + delta, 0).p_w == pytest.approx(-service.respond(50 - delta, 0).p_w)


@pytest.mark.parametrize(
    ("deviation", "fraction"),
    [(0.0, 0.0), (0.015, 0.0), (0.2, 0.05), (0.5, 1.0), (0.6, 1.0), (0.35, 0.525), (0.1075, 0.025)],
)
def test_dynamic_containment_curve_points(deviation: float, fraction: float) -> None:
    config = DcConfig(enabled=True, low_power_kw=10, high_power_kw=10)
    assert dc_fraction(deviation, config) == pytest.approx(fraction, abs=1e-9)
    assert dc_fraction(-deviation, config) == pytest.approx(fraction, abs=1e-9)


def test_dynamic_containment_low_and_high_sides_are_separate() -> None:
    service = DcService(DcConfig(enabled=True, low_power_kw=100, high_power_kw=40))
    assert service.respond(49.5, 0).p_w == -100_000.0
    assert service.respond(50.5, 0).p_w == 40_000.0
    only_low = DcService(DcConfig(enabled=True, low_power_kw=100, high_power_kw=0))
    assert only_low.respond(50.5, 0).p_w == 0.0


def test_sample_filter_rejects_implausible_values_and_jumps() -> None:
    flt = SampleFilter(FrequencyMeasurementConfig(max_rocof_hz_per_s=5.0))
    assert flt.accept(50.0, 0.0)
    assert not flt.accept(44.0, 0.05)
    assert not flt.accept(None, 0.06)
    assert not flt.accept(float("nan"), 0.07)
    assert not flt.accept(49.0, 0.10)  # 1 Hz in 0.1 s = 10 Hz/s
    assert flt.accept(49.8, 0.15)  # 0.2 Hz in 0.15 s
    assert (flt.rejected_range, flt.rejected_rocof, flt.accepted) == (3, 1, 2)


def responder(**kwargs: object) -> FrequencyResponder:
    return FrequencyResponder(
        ffr=FfrConfig(**kwargs.get("ffr", {})),  # type: ignore[arg-type]
        fcr=FcrConfig(**kwargs.get("fcr", {})),  # type: ignore[arg-type]
        dc=DcConfig(**kwargs.get("dc", {})),  # type: ignore[arg-type]
        measurement=FrequencyMeasurementConfig(soc_recovery_kw=10),
    )


def test_services_stack_and_stale_samples_stop_the_droop_but_not_a_triggered_ffr_hold() -> None:
    r = responder(ffr={"enabled": True, "power_kw": 50}, fcr={"enabled": True, "power_kw": 100})
    out = r.on_sample(49.65, 0.0)
    assert out is not None
    assert out.p_w == pytest.approx(-50_000 - 100_000)  # FFR full step + FCR saturated at -0.35 Hz
    assert r.current_p_w(0.1) == out.p_w
    # No sample for 10 s: FCR fails safe to zero, the triggered FFR keeps its 30 s support on its own clock ...
    assert r.current_p_w(10.0) == -50_000.0
    # ... and steps down when the support is over.
    assert r.current_p_w(30.0) == 0.0
    assert r.reserved_w() == (100_000.0, 150_000.0)


def test_energy_window_keeps_full_duration_in_both_directions() -> None:
    r = responder(fcr={"enabled": True, "power_kw": 100, "duration_s": 900})
    window = r.energy_window(capacity_wh=500_000, soc_min=0.1, soc_max=0.9)
    assert window.energy_down_wh == pytest.approx(25_000)
    assert window.soc_floor == pytest.approx(0.15)
    assert window.soc_ceiling == pytest.approx(0.85)
    assert r.availability(0.5, 500_000, 0.1, 0.9) == (True, "available")
    ok, reason = r.availability(0.12, 500_000, 0.1, 0.9)
    assert not ok and "below the service floor" in reason
    assert r.recovery_power_w(0.12, 500_000, 0.1, 0.9) == 10_000.0
    assert r.recovery_power_w(0.88, 500_000, 0.1, 0.9) == -10_000.0
    assert r.recovery_power_w(0.5, 500_000, 0.1, 0.9) == 0.0


def test_service_unavailable_when_the_battery_cannot_hold_it() -> None:
    r = responder(fcr={"enabled": True, "power_kw": 1000, "duration_s": 900})
    ok, reason = r.availability(0.5, 200_000, 0.1, 0.9)
    assert not ok and "battery too small" in reason
