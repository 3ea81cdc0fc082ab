"""The safety envelope alone: unit limits, fleet reserve, grid limits (examples and properties)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from zoe_ems.control.envelope import EnvelopeParams, fleet_limit, grid_limit, unit_limit
from zoe_ems.control.inputs import EnvelopeInput
from zoe_ems.control.siteview import BatteryUnit

PARAMS = EnvelopeParams(soc_min=0.1, soc_max=0.9)


def unit(**kwargs: object) -> BatteryUnit:
    base: dict[str, object] = dict(
        pcs_id="pcs1",
        bms_id="bms1",
        writable=True,
        online=True,
        p_w=0.0,
        soc=0.5,
        capacity_wh=100_000.0,
        rated_w=50_000.0,
        charge_limit_w=math.inf,
        discharge_limit_w=math.inf,
    )
    base.update(kwargs)
    return BatteryUnit(**base)  # type: ignore[arg-type]


def test_pcs_rating_and_bms_limits_bound_a_unit() -> None:
    limit = unit_limit(unit(charge_limit_w=20_000.0), PARAMS, None, 0.5).final
    assert (limit.min_w, limit.max_w) == (-50_000.0, 20_000.0)
    assert "charge limit" in limit.max_reason and "rating" in limit.min_reason


def test_soc_window_stops_charge_when_full_and_discharge_when_empty() -> None:
    assert unit_limit(unit(soc=0.9), PARAMS, None, 0.5).final.max_w == 0.0
    assert unit_limit(unit(soc=0.1), PARAMS, None, 0.5).final.min_w == 0.0


def test_backup_reserve_stops_discharge_above_soc_min() -> None:
    params = EnvelopeParams(soc_min=0.1, soc_max=0.9, backup_soc=0.3)
    limit = unit_limit(unit(soc=0.25), params, None, 0.5).final
    assert limit.min_w == 0.0 and "backup reserve" in limit.min_reason


def test_a_faulted_unit_gets_zero() -> None:
    limit = unit_limit(unit(faults=[("BMS_ALARM", "x")]), PARAMS, None, 0.5).final
    assert (limit.min_w, limit.max_w, limit.min_reason) == (0.0, 0.0, "BMS_ALARM")


def test_ramp_limits_the_change_per_cycle_but_hard_limits_win() -> None:
    params = EnvelopeParams(soc_min=0.1, soc_max=0.9, ramp_w_per_s=10_000.0)
    limit = unit_limit(unit(), params, -20_000.0, 0.5).final
    assert (limit.min_w, limit.max_w) == (-25_000.0, -15_000.0)
    hard_wins = unit_limit(unit(soc=0.1), params, -20_000.0, 0.5).final
    assert (hard_wins.min_w, hard_wins.max_w) == (0.0, 0.0)


def test_frequency_reserve_keeps_headroom_but_never_forces_the_opposite_direction() -> None:
    params = EnvelopeParams(soc_min=0.1, soc_max=0.9, reserve_up_w=20_000.0, reserve_down_w=5_000.0)
    units = [unit_limit(unit(), params, None, 0.5)]
    fleet = fleet_limit(units, params)
    assert (fleet.min_w, fleet.max_w) == (-30_000.0, 45_000.0)
    empty = fleet_limit([unit_limit(unit(soc=0.1), params, None, 0.5)], params)
    assert empty.min_w == 0.0


def test_grid_limit_takes_the_tightest_of_static_limits_and_operating_envelopes() -> None:
    params = EnvelopeParams(soc_min=0.1, soc_max=0.9, import_limit_w=100_000.0, export_limit_w=50_000.0)
    env = EnvelopeInput(import_limit_w=70_000.0, export_limit_w=None, start_utc=0, end_utc=1e12, command_id="c-7")
    limit = grid_limit(params, [env])
    assert (limit.min_w, limit.max_w) == (-50_000.0, 70_000.0)
    assert "c-7" in limit.max_reason


def test_per_phase_fuse_limits_the_import_by_the_most_loaded_phase() -> None:
    params = EnvelopeParams(soc_min=0.1, soc_max=0.9, fuse_a=100.0, voltage_v=230.0)
    # L2 carries 20 kW of a 23 kW phase limit: 3 kW headroom per phase → 9 kW more balanced import.
    limit = grid_limit(params, (), grid_w=40_000.0, phase_p_w=(10_000.0, 20_000.0, 10_000.0))
    assert limit.max_w == 49_000.0
    assert "L2" in limit.max_reason


units_strategy = st.builds(
    unit,
    soc=st.one_of(st.none(), st.floats(0, 1)),
    rated_w=st.floats(1_000, 500_000),
    charge_limit_w=st.one_of(st.just(math.inf), st.floats(0, 500_000)),
    discharge_limit_w=st.one_of(st.just(math.inf), st.floats(0, 500_000)),
    faults=st.lists(st.sampled_from([("PCS_ALARM", "x"), ("BMS_ALARM", "y")]), max_size=1),
)


@settings(max_examples=300, deadline=None)
@given(
    u=units_strategy,
    prev=st.one_of(st.none(), st.floats(-600_000, 600_000)),
    ramp=st.one_of(st.none(), st.floats(100, 100_000)),
    backup=st.one_of(st.none(), st.floats(0.1, 0.9)),
    dt=st.floats(0.1, 2.0),
)
def test_unit_limits_always_respect_every_hard_limit(
    u: BatteryUnit, prev: float | None, ramp: float | None, backup: float | None, dt: float
) -> None:
    params = EnvelopeParams(soc_min=0.1, soc_max=0.9, backup_soc=backup, ramp_w_per_s=ramp)
    limit = unit_limit(u, params, prev, dt).final
    assert limit.min_w <= limit.max_w
    assert limit.max_w <= min(u.rated_w, u.charge_limit_w) + 1e-6
    assert limit.min_w >= -min(u.rated_w, u.discharge_limit_w) - 1e-6
    if u.faults or u.soc is None:
        assert limit.min_w == limit.max_w == 0.0
        return
    if u.soc >= 0.9:
        assert limit.max_w <= 0.0
    if u.soc <= max(0.1, backup or 0.0):
        assert limit.min_w >= 0.0
    if ramp is not None and prev is not None:
        hard = unit_limit(u, EnvelopeParams(soc_min=0.1, soc_max=0.9, backup_soc=backup), None, dt).final
        step = ramp * dt
        if prev - step <= hard.max_w and prev + step >= hard.min_w:
            assert limit.min_w >= prev - step - 1e-6 and limit.max_w <= prev + step + 1e-6
