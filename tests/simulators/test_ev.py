"""EV charger physics: the 6 A minimum pauses charging, cars draw ~95 % of the offer, sessions end."""

from __future__ import annotations

import pytest

from simulators.ev import STATE_AVAILABLE, STATE_CHARGING, STATE_CONNECTED, EvChargerModel

STEP_S = 0.1


def run(charger: EvChargerModel, seconds: float, t0: float) -> float:
    t = t0
    for _ in range(round(seconds / STEP_S)):
        t += STEP_S
        charger.advance(t, STEP_S)
    return t


def test_car_draws_95_percent_of_the_offered_current_on_three_phases() -> None:
    charger = EvChargerModel(phases=3, max_current_a=32.0, response_delay_s=0.5)
    charger.plug_in(30e3)
    charger.apply({"i_limit_a": 16.0})
    t = run(charger, 1.0, 0.0)
    points = charger.points()
    assert points["state"] == STATE_CHARGING
    assert points["i_l1_a"] == pytest.approx(16.0 * 0.95)
    assert points["p_w"] == pytest.approx(3 * 230.0 * 16.0 * 0.95)
    charger.apply({"i_limit_a": 10.0})
    run(charger, 1.0, t)
    assert charger.points()["i_l3_a"] == pytest.approx(9.5)


def test_offer_below_six_amps_pauses_charging() -> None:
    charger = EvChargerModel(phases=3, response_delay_s=0.0)
    charger.plug_in(30e3)
    t = run(charger, 0.5, 0.0)
    assert charger.points()["p_w"] is not None and charger.p_w() > 0
    charger.apply({"i_limit_a": 5.9})
    t = run(charger, 0.5, t)
    assert charger.p_w() == 0.0
    assert charger.points()["state"] == STATE_CONNECTED
    charger.apply({"i_limit_a": 6.0})
    run(charger, 0.5, t)
    assert charger.p_w() == pytest.approx(3 * 230.0 * 6.0 * 0.95)


def test_disable_pauses_and_the_session_ends_when_the_car_is_full() -> None:
    charger = EvChargerModel(phases=1, max_current_a=16.0, response_delay_s=0.0)
    charger.plug_in(1e3)
    charger.apply({"enable": 0.0})
    t = run(charger, 1.0, 0.0)
    assert charger.p_w() == 0.0
    charger.apply({"enable": 1.0})
    t = run(charger, 1200.0, t)  # 3.5 kW single phase delivers 1 kWh in ~17 min
    assert charger.e_session_wh == pytest.approx(1e3, abs=2.0)
    assert charger.p_w() == 0.0
    assert charger.points()["state"] == STATE_CONNECTED
    assert charger.points()["i_l2_a"] == 0.0


def test_car_arrives_and_leaves_on_schedule() -> None:
    charger = EvChargerModel(response_delay_s=0.0)
    charger.schedule_arrival(10.0, 50e3, stay_s=20.0)
    t = run(charger, 5.0, 0.0)
    assert charger.points()["state"] == STATE_AVAILABLE
    t = run(charger, 10.0, t)
    assert charger.points()["state"] == STATE_CHARGING
    run(charger, 20.0, t)
    assert charger.points()["state"] == STATE_AVAILABLE
    assert charger.p_w() == 0.0


def test_car_follows_a_new_offer_only_after_its_reaction_delay_but_pauses_at_once() -> None:
    charger = EvChargerModel(phases=3, max_current_a=32.0, response_delay_s=2.0)
    charger.plug_in(30e3)
    charger.apply({"i_limit_a": 10.0})
    t = run(charger, 3.0, 0.0)
    charger.apply({"i_limit_a": 20.0})
    t = run(charger, 1.0, t)
    assert charger.current_a == pytest.approx(9.5), "still the old offer inside the reaction delay"
    t = run(charger, 1.5, t)
    assert charger.current_a == pytest.approx(19.0)
    charger.apply({"i_limit_a": 0.0})
    run(charger, 0.1, t)
    assert charger.current_a == 0.0
