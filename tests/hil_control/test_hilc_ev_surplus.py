"""EV charging in PV-surplus mode against the simulators (lock-step harness: real drivers over real sockets, the
real ControlEngine, 5 simulated seconds per step, the default hysteresis of 60 s to start and 180 s to pause).

The charger's current follows the surplus, surplus / (230 V × 3 phases), floored to 0.1 A; below the 6 A minimum
(4.14 kW) minus the 0.5 kW disable margin for 180 s it pauses (i_limit_a 0, enable 0); a surplus that wobbles
around the minimum, or rises above it for less than the enable delay, switches nothing.
"""

from __future__ import annotations

import math

from hilc_helpers import StartLockstep, ev_charger, grid_meter, pv_inverter
from hilc_lockstep import Lockstep

from simulators.ev import EvChargerModel
from simulators.site import SimulatedSite

DT_S = 5.0
LOAD_W = 3_000.0
PV_RATED_W = 30_000.0
PHASE_W_PER_A = 230.0 * 3
MIN_W = 6.0 * PHASE_W_PER_A
CONTROL = {"ev_charging": {"chargers": {"evse": {"mode": "pv_surplus"}}}}


def surplus_at(t_s: float) -> float:
    """The surplus (PV production − site load) the scenario offers at simulated second ``t_s``."""
    minute = t_s / 60.0
    if minute < 5:
        return 2_000.0  # A: too little
    if minute < 15:
        return 10_000.0  # B: plenty → start after the enable delay, then track
    if minute < 20:
        return 7_000.0  # C: less → track down
    if minute < 25:
        return 3_800.0 if int(t_s // 20) % 2 else 4_500.0  # D: wobbling around the minimum, above the pause level
    if minute < 35:
        return 2_000.0  # E: too little for longer than the disable delay → pause
    return 3_000.0 if int(t_s // 30) % 2 else 5_000.0  # F: above the minimum only 30 s at a time → stay paused


def car_and_small_load(site: SimulatedSite) -> None:
    site.load.set_base(LOAD_W)
    charger = site.models["evse"]
    assert isinstance(charger, EvChargerModel)
    charger.plug_in(100_000.0)


def set_surplus(harness: Lockstep) -> float:
    surplus = surplus_at(harness.site.t_s)
    irradiance = (surplus + LOAD_W) / (PV_RATED_W * 1.1) * 1000.0  # DC ratio 1.1
    harness.site.pv.set_irradiance(irradiance)
    return surplus


async def test_pv_surplus_charging_follows_the_surplus_and_pauses_below_the_minimum_without_flapping(
    start_lockstep: StartLockstep,
) -> None:
    harness = await start_lockstep(
        [grid_meter(), pv_inverter(rated_kw=PV_RATED_W / 1000), ev_charger(max_current_a=32)],
        import_kw=100,
        export_kw=50,
        control=CONTROL,
        prepare=car_and_small_load,
    )
    tracked: list[tuple[float, float, float]] = []  # (t, surplus, current written and still in force)
    while harness.site.t_s < 40 * 60:
        t = harness.site.t_s
        surplus = set_surplus(harness)  # the sky of the coming step: the poll at t still sees the last one
        await harness.step(DT_S)
        tracked.append((t, surplus, harness.written("evse").get("i_limit_a", math.nan)))

    enables = [
        (w.t_s, w.setpoints["enable"]) for w in harness.writes if w.device_id == "evse" and "enable" in w.setpoints
    ]
    assert enables[0][0] < DT_S and enables[0][1] == 0.0, f"the charger was not paused at start: {enables}"
    switches = enables[1:]
    assert [value for _t, value in switches] == [1.0, 0.0], f"expected one start and one pause, got {switches}"
    start_t, pause_t = switches[0][0], switches[1][0]
    assert 5 * 60 + 60 <= start_t <= 5 * 60 + 60 + 2 * DT_S, f"started at {start_t} s (surplus from 300 s)"
    assert 25 * 60 + 180 <= pause_t <= 25 * 60 + 180 + 2 * DT_S, f"paused at {pause_t} s (too little from 1500 s)"

    # Tracking: once running and a step after each change of surplus, current = surplus / 690 V, floored (6 A min).
    checked: set[float] = set()
    for t, surplus, current in tracked:
        minute = t / 60
        if start_t < t < pause_t and surplus_at(t - DT_S) == surplus:
            expected = max(6.0, math.floor(surplus / PHASE_W_PER_A * 10) / 10)
            assert abs(current - expected) <= 0.1 + 1e-9, f"{minute:.2f} min: {current} A for {surplus:.0f} W"
            checked.add(expected)
        if t > pause_t:
            assert current == 0.0
    assert checked == {14.4, 10.1, 6.5, 6.0}, f"tracked currents {checked}"
    charger = harness.site.models["evse"]
    assert isinstance(charger, EvChargerModel)
    assert charger.e_session_wh > 1_000.0, "the car never charged"
    print(
        f"EV surplus: start at {start_t:.0f} s, pause at {pause_t:.0f} s, enable writes {enables}; "
        f"repeated requests {len(harness.read_retries)}"
    )
