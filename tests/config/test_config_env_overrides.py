"""Environment overrides ``ZOE_EMS_<SECTION>__<KEY>`` win over the site file, reach nested keys, and a
bad value is reported with the variable's name and the line of the key it overrides."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from zoe_ems.config import check_config, check_config_main, load_site_config

SITE = dedent(
    """\
    site:
      id: plant-7
      grid:
        import_limit_kw: 100
        export_limit_kw: 0
    devices:
      - {id: grid_meter, kind: meter, role: grid, driver: zoe_meter, transport: {type: modbus_tcp, host: h}}
    northbound:
      mqtt:
        host: broker.example.net
      command_key_file: /nonexistent/command.key
    storage:
      path: /var/lib/zoe-ems/zoe.db
      history_retention_days: 30
    """
)


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(SITE, encoding="utf-8")
    return path


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "command.key"
    path.write_bytes(b"k" * 32)
    return path


def test_environment_overrides_storage_path_and_command_key_file(
    site_file: Path, key_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOE_EMS_STORAGE__PATH", str(tmp_path / "state" / "zoe.db"))
    monkeypatch.setenv("ZOE_EMS_NORTHBOUND__COMMAND_KEY_FILE", str(key_file))

    config = load_site_config(site_file)

    assert config.storage.path == tmp_path / "state" / "zoe.db"
    assert config.storage.history_retention_days == 30  # untouched siblings keep the file's value
    assert config.northbound is not None
    assert config.northbound.command_key_file == key_file


def test_environment_reaches_three_levels_deep_and_is_case_insensitive(
    site_file: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOE_EMS_NORTHBOUND__COMMAND_KEY_FILE", str(key_file))
    monkeypatch.setenv("ZOE_EMS_SITE__GRID__IMPORT_LIMIT_KW", "250")
    monkeypatch.setenv("zoe_ems_northbound__mqtt__port", "8883")

    config = load_site_config(site_file)

    assert config.site.grid.import_limit_kw == 250.0
    assert config.northbound is not None
    assert config.northbound.mqtt.port == 8883
    assert config.northbound.mqtt.host == "broker.example.net"


def test_a_whole_section_can_be_given_as_json(site_file: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOE_EMS_NORTHBOUND__COMMAND_KEY_FILE", str(key_file))
    monkeypatch.setenv("ZOE_EMS_CONTROL", '{"cycle_ms": 250}')

    config = load_site_config(site_file)

    assert config.control.cycle_ms == 250


def test_bad_environment_value_names_the_variable_and_the_line_it_overrides(
    site_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZOE_EMS_STORAGE__HISTORY_RETENTION_DAYS", "a month")

    exit_code = check_config_main(str(site_file))

    out = capsys.readouterr().out
    assert exit_code == 1
    line = next(text for text in out.splitlines() if "storage.history_retention_days" in text)
    assert line.startswith(f"{site_file}:14: storage.history_retention_days: ")
    assert "ZOE_EMS_STORAGE__HISTORY_RETENTION_DAYS" in line
    assert "'a month'" in line


def test_out_of_range_nested_environment_value_names_the_variable(
    site_file: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOE_EMS_NORTHBOUND__COMMAND_KEY_FILE", str(key_file))
    monkeypatch.setenv("ZOE_EMS_SITE__GRID__EXPORT_LIMIT_KW", "-5")

    config, problems = check_config(site_file)

    assert config is None
    assert [(p.line, p.path) for p in problems] == [(5, "site.grid.export_limit_kw")]
    assert "environment variable ZOE_EMS_SITE__GRID__EXPORT_LIMIT_KW" in problems[0].message


def test_misspelt_environment_key_is_an_error_naming_the_variable(
    site_file: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOE_EMS_NORTHBOUND__COMMAND_KEY_FILE", str(key_file))
    monkeypatch.setenv("ZOE_EMS_STORAGE__PAHT", "/tmp/zoe.db")

    config, problems = check_config(site_file)

    assert config is None
    assert [p.path for p in problems] == ["storage.paht"]
    assert "did you mean 'path'" in problems[0].message
    assert "ZOE_EMS_STORAGE__PAHT" in problems[0].message


def test_unparsable_json_section_names_the_variable(site_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOE_EMS_CONTROL", "{cycle_ms: 250")

    config, problems = check_config(site_file)

    assert config is None
    assert len(problems) == 1
    assert problems[0].path == "control"
    assert "ZOE_EMS_CONTROL" in problems[0].message


def test_environment_variable_for_a_missing_file_is_named(site_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOE_EMS_NORTHBOUND__COMMAND_KEY_FILE", "/nonexistent/other.key")

    _, problems = check_config(site_file)

    assert [(p.line, p.path) for p in problems] == [(11, "northbound.command_key_file")]
    assert "/nonexistent/other.key" in problems[0].message
    assert "ZOE_EMS_NORTHBOUND__COMMAND_KEY_FILE" in problems[0].message


def test_unrelated_zoe_ems_variables_are_ignored(
    site_file: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOE_EMS_NORTHBOUND__COMMAND_KEY_FILE", str(key_file))
    monkeypatch.setenv("ZOE_EMS_DEMO_SPEED", "10")

    config, problems = check_config(site_file)

    assert config is not None
    assert problems == []
