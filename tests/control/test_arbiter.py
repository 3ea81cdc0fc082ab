"""Arbiter (+ envelope): priorities, infeasible bounds, records, and properties over random proposals."""

from __future__ import annotations

import math
from typing import Any

import pytest
from control_helpers import Plant, site_config
from hypothesis import given, settings
from hypothesis import strategies as st

from zoe_ems.control import ControlEngine
from zoe_ems.control.arbiter import AssetSpec, arbitrate
from zoe_ems.control.distribute import UnitShare, distribute
from zoe_ems.control.envelope import Limit
from zoe_ems.control.inputs import SetpointInput
from zoe_ems.control.types import BATTERY, GRID, Bound, Preference, Proposal

INF = math.inf
TOL = 1e-3
EPS = 1e-6  # the arbiter's own feasibility tolerance


def battery_and_pv(fleet: tuple[float, float] = (-50_000, 50_000), pv_available: float = 0.0) -> list[AssetSpec]:
    return [
        AssetSpec(key=BATTERY, limit=Limit(*fleet, "rating", "rating"), default_w=0.0),
        AssetSpec(key="pv:pv1", limit=Limit(-pv_available, 0.0, "available", "off"), default_w=-pv_available),
    ]


WIDE = Limit(-INF, INF)


def test_lower_priority_chooses_only_inside_higher_priority_bounds() -> None:
    proposals = [
        Proposal(controller="low", priority=1, preferences=(Preference(asset=BATTERY, value_w=-40_000),)),
        Proposal(controller="high", priority=9, bounds=(Bound(asset=BATTERY, min_w=-10_000),)),
    ]
    result = arbitrate(battery_and_pv(), 0.0, WIDE, proposals)
    assert result.values[BATTERY] == -10_000
    assert result.records[0].render() == "battery -10 kW: high bound min -10 kW; low preferred -40 kW"


def test_an_infeasible_bound_is_recorded_and_never_overrides_a_higher_priority() -> None:
    proposals = [
        Proposal(controller="high", priority=9, bounds=(Bound(asset=BATTERY, max_w=-20_000),)),
        Proposal(controller="low", priority=1, bounds=(Bound(asset=BATTERY, min_w=0.0),)),
    ]
    result = arbitrate(battery_and_pv(), 0.0, WIDE, proposals)
    assert result.values[BATTERY] == -20_000
    assert [(b.controller, b.feasible) for b in result.bounds] == [("high", True), ("low", False)]


def test_grid_bound_translates_into_battery_then_pv_through_the_site_balance() -> None:
    # base 10 kW load, 40 kW PV available, battery can charge 20 kW: export limit 5 kW.
    bound = Proposal(controller="export_limit", priority=5, bounds=(Bound(asset=GRID, min_w=-5_000),))
    result = arbitrate(battery_and_pv((-50_000, 20_000), 40_000), 10_000, WIDE, [bound])
    assert result.values[BATTERY] == pytest.approx(20_000)
    assert result.values["pv:pv1"] == pytest.approx(-35_000)
    assert result.grid_w == pytest.approx(-5_000)


def test_a_peak_that_the_battery_cannot_cover_is_shaved_as_far_as_possible() -> None:
    bound = Proposal(controller="peak_shaving", priority=5, bounds=(Bound(asset=GRID, max_w=100_000),))
    charge = Proposal(controller="schedule", priority=1, preferences=(Preference(asset=BATTERY, value_w=30_000),))
    result = arbitrate(battery_and_pv(), 200_000, WIDE, [bound, charge])
    assert result.values[BATTERY] == -50_000
    assert result.bounds[0].feasible is False


def test_the_battery_fleet_is_shared_by_headroom_and_soc() -> None:
    units = [UnitShare("a", -50_000, 50_000, 0.8), UnitShare("b", -50_000, 50_000, 0.3)]
    discharge = distribute(-40_000, units, 0.1, 0.9)
    assert sum(discharge.values()) == pytest.approx(-40_000)
    assert discharge["a"] < discharge["b"] < 0  # the fuller unit gives more
    charge = distribute(40_000, units, 0.1, 0.9)
    assert charge["b"] > charge["a"] > 0  # the emptier unit takes more
    capped = distribute(-90_000, [UnitShare("a", -30_000, 0, 0.8), UnitShare("b", -50_000, 50_000, 0.5)], 0.1, 0.9)
    assert capped == {"a": pytest.approx(-30_000), "b": pytest.approx(-50_000)}


# -- properties ----------------------------------------------------------------------------------------------------


@st.composite
def scenario(draw: Any, quantized: bool = False) -> tuple[list[AssetSpec], float, Limit, list[Proposal]]:
    lo = draw(st.floats(-200_000, 100_000))
    hi = lo + draw(st.floats(0, 300_000))
    assets = [AssetSpec(key=BATTERY, limit=Limit(lo, hi), default_w=0.0)]
    for i in range(draw(st.integers(0, 3))):
        available = draw(st.floats(0, 100_000))
        assets.append(AssetSpec(key=f"pv:pv{i}", limit=Limit(-available, 0.0), default_w=-available))
    for i in range(draw(st.integers(0, 2))):
        top = draw(st.floats(0, 22_000))
        min_on = draw(st.floats(1_000, 5_000)) if quantized else 0.0
        assets.append(AssetSpec(key=f"ev:ev{i}", limit=Limit(0.0, top), default_w=0.0, min_on_w=min_on))
    base = draw(st.floats(-200_000, 400_000))
    grid = Limit(-draw(st.floats(0, 200_000)), draw(st.floats(0, 400_000)))
    keys = [a.key for a in assets] + [GRID]
    side = st.one_of(st.none(), st.floats(-300_000, 300_000))
    priorities = draw(st.lists(st.integers(0, 1000), unique=True, max_size=6))
    proposals = []
    for priority in priorities:
        bounds = []
        for _ in range(draw(st.integers(0, 3))):
            a, b = draw(side), draw(side)
            low = -INF if a is None else a
            high = INF if b is None else b
            if low > high:
                low, high = high, low
            bounds.append(Bound(asset=draw(st.sampled_from(keys)), min_w=low, max_w=high))
        prefs = [
            Preference(
                asset=draw(st.sampled_from(keys)),
                value_w=draw(st.floats(-300_000, 300_000)),
                actuators=tuple(draw(st.lists(st.sampled_from(["battery", "pv", "ev"]), min_size=1, unique=True))),
            )
            for _ in range(draw(st.integers(0, 2)))
        ]
        proposals.append(
            Proposal(controller=f"c{priority}", priority=priority, bounds=tuple(bounds), preferences=tuple(prefs))
        )
    return assets, base, grid, proposals


def _projection(assets: list[AssetSpec], base: float, grid: Limit, i: int) -> tuple[float, float]:
    """Range of asset i over the envelope set (boxes + grid range), computed independently."""
    others_lo = sum(a.limit.min_w for j, a in enumerate(assets) if j != i)
    others_hi = sum(a.limit.max_w for j, a in enumerate(assets) if j != i)
    me = assets[i].limit
    return max(me.min_w, grid.min_w - base - others_hi), min(me.max_w, grid.max_w - base - others_lo)


@settings(max_examples=400, deadline=None)
@given(scenario())
def test_output_respects_the_envelope_and_every_feasible_higher_priority_bound(
    case: tuple[list[AssetSpec], float, Limit, list[Proposal]],
) -> None:
    assets, base, grid, proposals = case
    result = arbitrate(assets, base, grid, proposals)
    for asset in assets:
        assert asset.limit.contains(result.values[asset.key], TOL), asset.key
    assert result.grid_w == pytest.approx(base + sum(result.values.values()), abs=TOL)
    reach_lo = base + sum(a.limit.min_w for a in assets)
    reach_hi = base + sum(a.limit.max_w for a in assets)
    if reach_lo <= grid.max_w and reach_hi >= grid.min_w:
        assert grid.contains(result.grid_w, TOL)
    elif reach_lo > grid.max_w:
        assert result.grid_w == pytest.approx(reach_lo, abs=TOL)  # import as low as physically possible
    else:
        assert result.grid_w == pytest.approx(reach_hi, abs=TOL)
    for outcome in result.bounds:
        if outcome.feasible:
            value = result.grid_w if outcome.asset == GRID else result.values[outcome.asset]
            assert outcome.min_w - TOL <= value <= outcome.max_w + TOL, outcome
    # Independently: the first bound of the highest priority is feasible iff it meets the envelope set.
    envelope_ok = reach_lo <= grid.max_w and reach_hi >= grid.min_w
    ranked = sorted(proposals, key=lambda p: -p.priority)
    if envelope_ok and ranked and ranked[0].bounds:
        first = ranked[0].bounds[0]
        if first.asset == GRID:
            feasible = first.min_w <= min(grid.max_w, reach_hi) + EPS and first.max_w >= max(grid.min_w, reach_lo) - EPS
        else:
            i = [a.key for a in assets].index(first.asset)
            f_lo, f_hi = _projection(assets, base, grid, i)
            feasible = first.min_w <= f_hi + EPS and first.max_w >= f_lo - EPS
        recorded = next(o for o in result.bounds if o.controller == ranked[0].controller)
        assert recorded.feasible == feasible


@settings(max_examples=200, deadline=None)
@given(scenario(quantized=True))
def test_ev_values_are_zero_or_at_least_the_minimum(
    case: tuple[list[AssetSpec], float, Limit, list[Proposal]],
) -> None:
    assets, base, grid, proposals = case
    result = arbitrate(assets, base, grid, proposals)
    for asset in assets:
        value = result.values[asset.key]
        assert asset.limit.contains(value, TOL)
        if asset.min_on_w > 0:
            assert value == 0.0 or value >= asset.min_on_w - TOL


@settings(max_examples=60, deadline=None)
@given(
    socs=st.lists(st.floats(0, 1), min_size=2, max_size=2),
    limits=st.lists(st.one_of(st.none(), st.floats(0, 80_000)), min_size=2, max_size=2),
    alarms=st.lists(st.booleans(), min_size=2, max_size=2),
    load=st.floats(0, 300_000),
    pv=st.floats(0, 120_000),
    command=st.one_of(st.none(), st.floats(-150_000, 150_000)),
    ramp=st.one_of(st.none(), st.floats(1, 100)),
)
def test_engine_setpoints_never_leave_device_limits(
    socs: list[float],
    limits: list[float | None],
    alarms: list[bool],
    load: float,
    pv: float,
    command: float | None,
    ramp: float | None,
) -> None:
    control: dict[str, Any] = {"soc_min": 0.1, "soc_max": 0.9}
    if ramp is not None:
        control["ramp_kw_per_s"] = ramp
    plant = Plant(site_config(batteries=2, pvs=2, import_kw=150, export_kw=20, control=control), load_w=load)
    for i, pcs in enumerate(("pcs1", "pcs2")):
        plant.batteries[pcs].soc = socs[i]
        plant.batteries[pcs].p_max_charge_w = limits[i]
        plant.batteries[pcs].p_max_discharge_w = limits[1 - i]
        plant.batteries[pcs].bms_alarm = int(alarms[i])
    plant.pv_available_w["pv1"] = plant.pv_available_w["pv2"] = pv / 2
    engine = ControlEngine(plant.config)
    setpoint = (
        None if command is None else SetpointInput(target="battery", p_w=command, valid_until_utc=1e12, command_id="c")
    )
    previous: dict[str, float] = {}
    for _ in range(3):
        decision = engine.step(plant.snapshot(), plant.inputs(setpoint=setpoint), plant.t_mono)
        for pcs in ("pcs1", "pcs2"):
            value = decision.setpoints[pcs]["p_set_w"]
            bat = plant.batteries[pcs]
            assert -50_000 - TOL <= value <= 50_000 + TOL
            if bat.p_max_charge_w is not None:
                assert value <= bat.p_max_charge_w + TOL
            if bat.p_max_discharge_w is not None:
                assert value >= -bat.p_max_discharge_w - TOL
            if bat.soc >= 0.9:
                assert value <= TOL
            if bat.soc <= 0.1:
                assert value >= -TOL
            if bat.bms_alarm:
                assert value == 0.0
            if ramp is not None and pcs in previous:
                assert abs(value - previous[pcs]) <= ramp * 1000 * 0.5 + TOL or value == 0.0 or bat.bms_alarm
            previous[pcs] = value
        for pv_id in ("pv1", "pv2"):
            assert decision.setpoints[pv_id]["p_limit_w"] >= 0.0
        plant.apply(decision.setpoints)
        plant.advance(0.5)
