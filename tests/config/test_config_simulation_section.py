"""`devices[].simulation`: the SunSpec layout `zoe-ems simulate` serves. Valid choices load; a control model
that does not fit the kind, or the section on a profile-driven device, is an error naming the field."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from zoe_ems.config import check_config, load_site_config

SITE = """\
site:
  id: sim-variants
  timezone: UTC
  grid: {{import_limit_kw: 100, export_limit_kw: 50}}
devices:
  - id: grid_meter
    kind: meter
    role: grid
    driver: zoe_meter
    transport: {{type: modbus_tcp, host: 127.0.0.1, port: 15021, unit: 1}}
  - id: dev1
    kind: {kind}
    driver: {driver}
    transport: {{type: modbus_tcp, host: 127.0.0.1, port: 15020, unit: 1}}
    simulation: {simulation}
storage:
  path: {db}
"""


def _site(tmp_path: Path, kind: str, simulation: str, driver: str = "sunspec") -> Path:
    path = tmp_path / "site.yaml"
    db = tmp_path / "zoe.db"
    path.write_text(dedent(SITE.format(kind=kind, driver=driver, simulation=simulation, db=db)), encoding="utf-8")
    return path


def test_simulation_defaults_to_base_40000_and_the_kinds_own_control_models(tmp_path: Path) -> None:
    config = load_site_config(_site(tmp_path, "pcs", "{}"))
    simulation = config.device("dev1").simulation
    assert (simulation.sunspec_base, simulation.sunspec_control) == (40000, None)


def test_a_124_storage_at_base_0_and_a_123_pv_at_base_50000_are_accepted(tmp_path: Path) -> None:
    pcs = load_site_config(_site(tmp_path, "pcs", "{sunspec_base: 0, sunspec_control: 124}")).device("dev1")
    assert (pcs.simulation.sunspec_base, pcs.simulation.sunspec_control) == (0, "124")
    pv = load_site_config(_site(tmp_path, "pv_inverter", "{sunspec_base: 50000, sunspec_control: '123'}"))
    assert pv.device("dev1").simulation.sunspec_control == "123"


def test_a_control_model_the_kind_does_not_have_is_an_error_naming_the_field(tmp_path: Path) -> None:
    config, problems = check_config(_site(tmp_path, "pcs", "{sunspec_control: '123'}"))
    assert config is None
    messages = [str(p) for p in problems]
    assert any("devices.1.simulation.sunspec_control" in m and "704 or 124" in m for m in messages), messages


def test_a_base_other_than_the_sunspec_ones_is_an_error(tmp_path: Path) -> None:
    config, problems = check_config(_site(tmp_path, "pcs", "{sunspec_base: 1000}"))
    assert config is None
    assert any("simulation.sunspec_base" in str(p) for p in problems), [str(p) for p in problems]


def test_the_section_on_a_profile_driven_device_is_an_error(tmp_path: Path) -> None:
    config, problems = check_config(_site(tmp_path, "pcs", "{sunspec_base: 0}", driver="zoe_pcs"))
    assert config is None
    assert any("simulation" in str(p) and "driver: sunspec" in str(p) for p in problems), [str(p) for p in problems]
