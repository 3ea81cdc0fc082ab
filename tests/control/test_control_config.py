"""The `control:` section: defaults, unit-suffixed keys, unknown keys and cross-checks are errors."""

from __future__ import annotations

import pytest
from control_helpers import site_config
from pydantic import ValidationError

from zoe_ems.config.control import ControlConfig
from zoe_ems.control import ControlEngine, validate_control_config


def test_defaults_are_the_documented_safe_ones() -> None:
    cfg = ControlConfig()
    assert (cfg.cycle_ms, cfg.soc_min, cfg.soc_max) == (500, 0.05, 0.95)
    assert cfg.failsafe.grid_meter_loss_battery == "zero" and cfg.failsafe.grid_meter_loss_ev == "pause"
    assert cfg.self_consumption.grid_target_kw == 0.0 and cfg.peak_shaving.import_limit_kw is None
    assert (cfg.sg_ready.max_block_s, cfg.sg_ready.max_blocks_per_day) == (7200.0, 3)
    assert cfg.load_limit.min_device_kw == 4.2


def test_a_typo_in_a_controller_section_is_an_error_naming_the_field() -> None:
    with pytest.raises(ValidationError, match=r"peak_shaving\.import_limt_kw"):
        ControlConfig(**{"peak_shaving": {"import_limt_kw": 300}})


def test_sg_ready_cannot_be_configured_beyond_the_grid_rules() -> None:
    with pytest.raises(ValidationError, match="max_block_s"):
        ControlConfig(**{"sg_ready": {"max_block_s": 10_000}})


def test_target_mode_needs_energy_and_departure() -> None:
    with pytest.raises(ValidationError, match="target_energy_kwh and departure"):
        ControlConfig(**{"ev_charging": {"chargers": {"ev1": {"mode": "target"}}}})
    with pytest.raises(ValidationError, match="HH:MM"):
        ControlConfig(**{"ev_charging": {"chargers": {"ev1": {"mode": "now", "departure": "7h"}}}})


def test_backup_reserve_must_lie_inside_the_soc_window() -> None:
    with pytest.raises(ValidationError, match="reserve_soc"):
        ControlConfig(**{"soc_min": 0.3, "backup_reserve": {"enabled": True, "reserve_soc": 0.2}})


def test_charger_settings_for_an_unknown_device_are_rejected() -> None:
    cfg = site_config(evs=1, control={"ev_charging": {"chargers": {"ev9": {"mode": "off"}, "pv1": {"mode": "off"}}}})
    problems = validate_control_config(cfg)
    assert problems == [
        "control.ev_charging.chargers.ev9: no device with id 'ev9'",
        "control.ev_charging.chargers.pv1: device 'pv1' is a pv_inverter, not an ev_charger",
    ]
    with pytest.raises(ValueError, match="ev9"):
        ControlEngine(cfg)
