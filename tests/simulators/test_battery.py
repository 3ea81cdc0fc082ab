"""Battery physics: SOC integration with efficiencies, PCS delay and ramp, rating and BMS limits, SOC edges."""

from __future__ import annotations

import pytest

from simulators.battery import (
    ALARM_SOC_HIGH,
    ALARM_SOC_LOW,
    BatteryPack,
    BmsModel,
    PackParameters,
    PcsModel,
)

STEP_S = 0.02


def make_pcs(
    *,
    soc: float = 0.5,
    capacity_wh: float = 100e3,
    rated_w: float = 50e3,
    response_delay_s: float = 0.05,
    ramp_w_per_s: float | None = None,
    revert_after_s: float | None = None,
) -> PcsModel:
    pack = BatteryPack(
        PackParameters(
            capacity_wh=capacity_wh,
            max_charge_w=1.2 * rated_w,
            max_discharge_w=1.2 * rated_w,
            charge_efficiency=0.95,
            discharge_efficiency=0.90,
        ),
        soc=soc,
    )
    return PcsModel(
        pack,
        rated_w=rated_w,
        response_delay_s=response_delay_s,
        ramp_w_per_s=ramp_w_per_s,
        revert_after_s=revert_after_s,
    )


def run(pcs: PcsModel, seconds: float, t0: float = 0.0, step_s: float = STEP_S) -> float:
    t = t0
    for _ in range(round(seconds / step_s)):
        t += step_s
        pcs.advance(t, step_s)
    return t


def test_charging_stores_ac_energy_times_charge_efficiency() -> None:
    pcs = make_pcs(soc=0.5, response_delay_s=0.0, ramp_w_per_s=1e9)
    pcs.apply({"p_set_w": 36e3})
    run(pcs, 3600.0, step_s=1.0)
    # 36 kWh AC in one hour at 95 % -> 34.2 kWh into 100 kWh cells
    assert pcs.pack.soc == pytest.approx(0.5 + 34.2e3 / 100e3, abs=2e-4)


def test_discharging_takes_ac_energy_divided_by_discharge_efficiency_from_the_cells() -> None:
    pcs = make_pcs(soc=0.8, response_delay_s=0.0, ramp_w_per_s=1e9)
    pcs.apply({"p_set_w": -18e3})
    run(pcs, 3600.0, step_s=1.0)
    # 18 kWh AC out at 90 % -> 20 kWh out of the cells
    assert pcs.pack.soc == pytest.approx(0.8 - 20e3 / 100e3, abs=2e-4)
    assert pcs.p_w == pytest.approx(-18e3)


def test_pcs_waits_its_response_delay_then_ramps_at_its_rate() -> None:
    pcs = make_pcs(response_delay_s=0.2, ramp_w_per_s=10e3)
    pcs.apply({"p_set_w": 20e3})
    t = run(pcs, 0.18)
    assert pcs.p_w == 0.0, "no response inside the dead time"
    t = run(pcs, 1.02, t)  # 0.2 s delay + 1.0 s of ramping at 10 kW/s
    assert pcs.p_w == pytest.approx(10e3, abs=250.0)
    run(pcs, 1.5, t)
    assert pcs.p_w == pytest.approx(20e3)


def test_pcs_clamps_setpoints_to_its_rating() -> None:
    pcs = make_pcs(rated_w=30e3, response_delay_s=0.0, ramp_w_per_s=1e9)
    pcs.apply({"p_set_w": -80e3})
    run(pcs, 0.1)
    assert pcs.p_w == pytest.approx(-30e3)
    assert pcs.points()["p_set_w"] == -80e3, "the setpoint register reads back what was written"


def test_charge_limit_tapers_near_full_and_reaches_zero_at_full() -> None:
    pcs = make_pcs(soc=0.95, response_delay_s=0.0, ramp_w_per_s=1e9)
    bms = BmsModel(pcs.pack)
    limit_mid = make_pcs(soc=0.5).pack.max_charge_dc_w()
    assert limit_mid == pytest.approx(60e3)
    tapered = bms.points()["p_max_charge_w"]
    assert tapered is not None
    assert 0 < tapered < limit_mid
    pcs.apply({"p_set_w": 50e3})
    run(pcs, 3 * 3600.0, step_s=1.0)
    assert pcs.pack.soc == pytest.approx(1.0, abs=1e-3)
    assert bms.points()["p_max_charge_w"] == pytest.approx(0.0, abs=600.0)
    assert pcs.p_w < 1e3, "the PCS follows the shrinking BMS limit"


def test_full_battery_refuses_to_charge_and_raises_the_high_soc_alarm() -> None:
    pcs = make_pcs(soc=1.0, response_delay_s=0.0, ramp_w_per_s=1e9)
    pcs.apply({"p_set_w": 40e3})
    run(pcs, 10.0)
    assert pcs.p_w == 0.0
    assert pcs.pack.soc == 1.0
    alarm = BmsModel(pcs.pack).points()["alarm"]
    assert alarm is not None and int(alarm) & ALARM_SOC_HIGH


def test_empty_battery_refuses_to_discharge_and_raises_the_low_soc_alarm() -> None:
    pcs = make_pcs(soc=0.001, capacity_wh=10e3, rated_w=10e3, response_delay_s=0.0, ramp_w_per_s=1e9)
    pcs.apply({"p_set_w": -10e3})
    t = run(pcs, 1200.0, step_s=1.0)
    assert 0.0 <= pcs.pack.soc < 1e-3
    assert pcs.p_w > -50.0, "the discharge limit has tapered to (almost) nothing"
    alarm = BmsModel(pcs.pack).points()["alarm"]
    assert alarm is not None and int(alarm) & ALARM_SOC_LOW
    pcs.apply({"p_set_w": 5e3})
    run(pcs, 1.0, t)
    assert pcs.p_w == pytest.approx(5e3), "an empty battery still charges"


def test_bms_reports_current_from_dc_power_and_voltage() -> None:
    pcs = make_pcs(response_delay_s=0.0, ramp_w_per_s=1e9)
    pcs.apply({"p_set_w": 20e3})
    run(pcs, 1.0)
    points = BmsModel(pcs.pack).points()
    assert points["u_v"] is not None and points["i_a"] is not None
    assert points["i_a"] == pytest.approx(20e3 * 0.95 / points["u_v"])


def test_pcs_watchdog_reverts_to_zero_when_setpoints_stop() -> None:
    pcs = make_pcs(response_delay_s=0.0, ramp_w_per_s=1e9, revert_after_s=5.0)
    pcs.apply({"p_set_w": 10e3})
    t = run(pcs, 1.0)
    assert pcs.p_w == pytest.approx(10e3)
    run(pcs, 6.0, t)
    assert pcs.p_w == 0.0
