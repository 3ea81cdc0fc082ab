"""SiteInputsBuilder: grid limits and envelopes, billing periods, frequency-service reserves and SOC floors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from planning_helpers import site_config

from zoe_ems.config import SiteConfig
from zoe_ems.control.inputs import EnvelopeInput
from zoe_ems.optimizer.model import MpcModel
from zoe_ems.optimizer.problem import MpcInputs
from zoe_ems.optimizer.site import SiteInputsBuilder, SiteState, model_spec_from_config
from zoe_ems.optimizer.tariffs import Tariff

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC).timestamp()  # a Tuesday, 09:00 in Brussels
STEP = 900.0
TWO_BATTERIES = ((100.0, 200.0), (50.0, 100.0))  # (kW, kWh): 300 kWh in all, discharge shared 2:1


def build(config: SiteConfig, start_utc: float = T0, state: SiteState | None = None, **state_kwargs: Any) -> MpcInputs:
    n_pcs = sum(1 for d in config.devices if d.kind.value == "pcs")
    site_state = state or SiteState(soc=[0.5] * n_pcs, **state_kwargs)
    builder = SiteInputsBuilder(config, Tariff(config.optimizer.tariff, config.site.timezone), lambda: site_state)
    return builder.build(builder.spec(), start_utc)


def envelope(import_kw: float | None, export_kw: float | None, start: float, end: float, cid: str) -> EnvelopeInput:
    return EnvelopeInput(
        import_limit_w=None if import_kw is None else import_kw * 1e3,
        export_limit_w=None if export_kw is None else export_kw * 1e3,
        start_utc=start,
        end_utc=end,
        command_id=cid,
    )


# -- grid limits ------------------------------------------------------------------------------------------------


def test_static_site_limits_hold_for_every_step(tmp_path: Path) -> None:
    inputs = build(site_config(tmp_path / "z.db", import_kw=300, export_kw=100))
    assert inputs.import_limit_w == pytest.approx(np.full(144, 300e3))
    assert inputs.export_limit_w == pytest.approx(np.full(144, 100e3))


def test_envelopes_tighten_only_the_steps_they_overlap(tmp_path: Path) -> None:
    config = site_config(tmp_path / "z.db", import_kw=300, export_kw=100)
    envelopes = (
        envelope(120, None, T0 + 3600, T0 + 7200, "doe-1"),  # steps 4..7
        envelope(80, 20, T0 + 5400 + 300, T0 + 5400 + 600, "doe-2"),  # inside step 6 only
        envelope(500, 200, T0, T0 + 86400, "doe-loose"),  # never loosens the site limits
        envelope(10, 0, T0 - 7200, T0 - 3600, "doe-past"),
    )
    inputs = build(config, envelopes=envelopes)
    imports = inputs.import_limit_w / 1e3
    exports = inputs.export_limit_w / 1e3
    assert imports[:4] == pytest.approx([300] * 4)
    assert imports[4:8] == pytest.approx([120, 120, 80, 120])  # a partly covered step takes the tighter limit
    assert imports[8:] == pytest.approx(np.full(144 - 8, 300))
    assert exports[6] == pytest.approx(20)
    assert np.delete(exports, 6) == pytest.approx(np.full(143, 100))


# -- billing periods ------------------------------------------------------------------------------------------


def test_monthly_peak_masks_switch_at_local_midnight_of_the_first(tmp_path: Path) -> None:
    config = site_config(tmp_path / "z.db", optimizer={"tariff": {"demand_charge_eur_per_kw": 8.0}})
    start = datetime(2026, 1, 31, 20, 0, tzinfo=UTC).timestamp()  # 21:00 Brussels
    inputs = build(config, start_utc=start, peak_so_far_w=70e3)
    assert inputs.demand_mask is not None and inputs.next_period_mask is not None
    # February starts at 00:00 Brussels = 23:00 UTC: 12 steps left in January.
    assert inputs.demand_mask[:12] == pytest.approx(np.ones(12))
    assert inputs.demand_mask[12:] == pytest.approx(np.zeros(132))
    assert inputs.next_period_mask == pytest.approx(1.0 - inputs.demand_mask)
    assert inputs.demand_charge_eur_per_kw == 8.0 and inputs.next_period_demand_charge_eur_per_kw == 8.0
    assert inputs.peak_so_far_w == 70e3


def test_daily_billing_splits_at_local_midnight_across_a_dst_change(tmp_path: Path) -> None:
    config = site_config(tmp_path / "z.db", optimizer={"tariff": {"billing_period": "day"}})
    start = datetime(2026, 3, 28, 12, 0, tzinfo=UTC).timestamp()  # Saturday 13:00 CET; DST starts on Sunday
    inputs = build(config, start_utc=start)
    assert inputs.demand_mask is not None
    # Local midnight is 23:00 UTC: 11 h = 44 steps in the current day.
    assert int(inputs.demand_mask.sum()) == 44 and inputs.demand_mask[43] == 1.0 and inputs.demand_mask[44] == 0.0


def test_a_plan_starting_mid_month_keeps_the_whole_horizon_in_the_period(tmp_path: Path) -> None:
    inputs = build(site_config(tmp_path / "z.db"))
    assert inputs.demand_mask is not None and inputs.demand_mask.sum() == 144


# -- reserves and SOC floors ------------------------------------------------------------------------------------


def test_no_services_no_backup_leaves_the_battery_window_and_ratings(tmp_path: Path) -> None:
    inputs = build(site_config(tmp_path / "z.db", batteries=TWO_BATTERIES))
    assert inputs.soc_floor is not None and inputs.soc_ceiling is not None
    assert inputs.soc_floor == pytest.approx(np.full((2, 144), 0.05))
    assert inputs.soc_ceiling == pytest.approx(np.full((2, 144), 0.95))
    assert inputs.discharge_max_w is not None and inputs.charge_max_w is not None
    assert inputs.discharge_max_w[:, 0] == pytest.approx([100e3, 50e3])
    assert inputs.charge_max_w[:, 0] == pytest.approx([100e3, 50e3])


def test_backup_reserve_raises_the_soc_floor(tmp_path: Path) -> None:
    control = {"backup_reserve": {"enabled": True, "reserve_soc": 0.3}}
    inputs = build(site_config(tmp_path / "z.db", batteries=TWO_BATTERIES, control=control))
    assert inputs.soc_floor == pytest.approx(np.full((2, 144), 0.3))


def test_armed_ffr_keeps_discharge_headroom_shared_by_rating_and_energy_above_the_floor(tmp_path: Path) -> None:
    control = {"ffr": {"enabled": True, "power_kw": 60}, "backup_reserve": {"enabled": True, "reserve_soc": 0.2}}
    inputs = build(site_config(tmp_path / "z.db", batteries=TWO_BATTERIES, control=control))
    assert inputs.discharge_max_w is not None and inputs.charge_max_w is not None
    assert inputs.discharge_max_w[:, 0] == pytest.approx([100e3 - 40e3, 50e3 - 20e3])
    assert inputs.charge_max_w[:, 0] == pytest.approx([100e3, 50e3])  # under-frequency only: charging is free
    # 60 kW for 15 min (ffr_reserve_minutes) = 15 kWh of 300 kWh on top of the backup reserve.
    assert inputs.soc_floor is not None and inputs.soc_floor[:, 0] == pytest.approx([0.25, 0.25])
    assert inputs.soc_ceiling is not None and inputs.soc_ceiling[:, 0] == pytest.approx([0.95, 0.95])


def test_symmetric_fcr_and_dc_reserve_both_directions_with_the_static_reserve(tmp_path: Path) -> None:
    control = {
        "fcr": {"enabled": True, "power_kw": 20},
        "dc": {"enabled": True, "low_power_kw": 30, "high_power_kw": 10},
        "reserve": {"up_kw": 10, "down_kw": 0},
    }
    inputs = build(site_config(tmp_path / "z.db", batteries=TWO_BATTERIES, control=control))
    up_w, down_w = 10e3 + 20e3 + 30e3, 20e3 + 10e3
    assert inputs.discharge_max_w is not None and inputs.charge_max_w is not None
    assert inputs.discharge_max_w[:, 0] == pytest.approx([100e3 - up_w * 2 / 3, 50e3 - up_w / 3])
    assert inputs.charge_max_w[:, 0] == pytest.approx([100e3 - down_w * 2 / 3, 50e3 - down_w / 3])
    assert inputs.soc_floor is not None and inputs.soc_ceiling is not None
    assert inputs.soc_floor[0, 0] == pytest.approx(0.05 + up_w * 0.25 / 300e3)
    assert inputs.soc_ceiling[0, 0] == pytest.approx(0.95 - down_w * 0.25 / 300e3)


def test_services_armed_at_run_time_replace_the_site_file_services(tmp_path: Path) -> None:
    config = site_config(tmp_path / "z.db", batteries=TWO_BATTERIES, control={"ffr": {"enabled": True, "power_kw": 60}})
    armed = build(config, frequency_reserve_w=(0.0, 90e3))
    assert armed.discharge_max_w is not None and armed.discharge_max_w[:, 0] == pytest.approx([40e3, 20e3])
    disarmed = build(config, frequency_reserve_w=(0.0, 0.0))
    assert disarmed.discharge_max_w is not None and disarmed.discharge_max_w[:, 0] == pytest.approx([100e3, 50e3])


def test_the_plan_respects_the_reserved_power_and_energy(tmp_path: Path) -> None:
    control = {"ffr": {"enabled": True, "power_kw": 60}, "backup_reserve": {"enabled": True, "reserve_soc": 0.2}}
    optimizer = {"tariff": {"energy": {"type": "fixed", "price_eur_per_kwh": 0.3}}}
    config = site_config(tmp_path / "z.db", batteries=TWO_BATTERIES, control=control, optimizer=optimizer)
    inputs = build(config)
    inputs.terminal_value_eur_per_kwh = np.zeros(2)  # stored energy is worth nothing: discharge all it may
    plan = MpcModel(model_spec_from_config(config)).solve(inputs)
    assert plan.soc.min() >= 0.25 - 1e-3
    assert plan.soc[:, -1] == pytest.approx([0.25, 0.25], abs=0.01)
    assert plan.battery_p_w[0].min() >= -60e3 - 1.0 and plan.battery_p_w[1].min() >= -30e3 - 1.0


# -- state --------------------------------------------------------------------------------------------------------


def test_measurement_time_inside_the_first_step_starts_the_trajectory_there(tmp_path: Path) -> None:
    config = site_config(tmp_path / "z.db")
    inputs = build(config, measured_utc=T0 + 400.0, elapsed_import_w=42e3)
    assert inputs.now_utc == T0 + 400.0 and inputs.elapsed_import_w == 42e3
    stale = build(config, measured_utc=T0 - 5.0, elapsed_import_w=42e3)
    assert stale.now_utc is None and stale.elapsed_import_w is None
