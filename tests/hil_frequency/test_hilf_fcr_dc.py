"""FCR droop and Dynamic Containment against the simulated site: deadband edges, droop points and symmetry, as
PCS writes (passive sign: under-frequency discharges, negative; over-frequency charges, positive)."""

from __future__ import annotations

import pytest
from hilf_helpers import POWER_KW, StartFrequencyHil

P_W = POWER_KW * 1000.0


async def test_hilf_fcr_droop_is_linear_symmetric_and_silent_inside_the_deadband(
    start_frequency_hil: StartFrequencyHil,
) -> None:
    hil = await start_frequency_hil(
        {"fcr": {"enabled": True, "power_kw": POWER_KW, "deadband_mhz": 10, "full_activation_mhz": 200}}
    )
    t_quiet = hil.step(49.995)  # inside the 10 mHz deadband
    await hil.wait_accepted(49.995, samples=5)
    assert [w for w in hil.writes(t_quiet) if w.p_w != 0.0] == []
    assert hil.frequency_status()["response_w"] == 0.0

    points = [
        (49.9, -0.5 * P_W),  # -100 mHz: half power, discharging
        (49.75, -P_W),  # beyond -200 mHz: full
        (49.85, -0.75 * P_W),
        (50.0, 0.0),
        (50.1, 0.5 * P_W),  # +100 mHz: half power, charging
        (50.25, P_W),
        (50.15, 0.75 * P_W),
        (50.005, 0.0),  # back inside the deadband
    ]
    settled: dict[float, float] = {}
    for f_hz, expected_w in points:
        t = hil.step(f_hz)
        settled[f_hz] = (await hil.expect_setpoint(expected_w, t, tolerance_w=0.005 * P_W)).p_w
    assert settled[50.1] == pytest.approx(-settled[49.9], rel=0.01)
    assert settled[50.15] == pytest.approx(-settled[49.85], rel=0.01)
    assert abs(hil.frequency_status()["clamped_w"]) < 1.0  # W: nothing cut by the hard limits


async def test_hilf_dynamic_containment_follows_its_curve_on_both_sides(
    start_frequency_hil: StartFrequencyHil,
) -> None:
    hil = await start_frequency_hil({"dc": {"enabled": True, "low_power_kw": POWER_KW, "high_power_kw": POWER_KW}})
    points = [
        (49.8, -0.05 * P_W),  # -0.2 Hz: the 5 % knee
        (49.65, -(0.05 + 0.95 * 0.15 / 0.3) * P_W),  # on the steep part
        (49.5, -P_W),  # -0.5 Hz: full
        (50.015, 0.0),  # +15 mHz: the deadband edge
        (50.2, 0.05 * P_W),
        (50.5, P_W),
        (49.985, 0.0),
    ]
    for f_hz, expected_w in points:
        t = hil.step(f_hz)
        await hil.expect_setpoint(expected_w, t, tolerance_w=0.003 * P_W)
    assert abs(hil.frequency_status()["clamped_w"]) < 1.0  # W: nothing cut by the hard limits
