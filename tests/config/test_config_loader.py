"""Loading site files: valid files pass, line numbers follow the YAML, several problems come out at once,
unreadable files never produce a traceback, and the model itself keeps its invariants."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
from pydantic import ValidationError

from zoe_ems.config import ConfigError, SiteConfig, check_config, check_config_main, load_site_config
from zoe_ems.config.devices import ModbusTcpTransport
from zoe_ems.config.loader import parse_site_yaml

HERE = Path(__file__).parent
VALID = HERE / "valid"
REPO = HERE.parent.parent


def _write(tmp_path: Path, text: str, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def test_minimal_valid_site_file_loads_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    path = VALID / "minimal.yaml"

    config = load_site_config(path)
    exit_code = check_config_main(str(path))

    assert exit_code == 0
    assert capsys.readouterr().out == ""
    assert config.site.id == "minimal"
    assert config.site.grid.import_limit_w == 40_000.0
    transport = config.device("grid_meter").transport
    assert isinstance(transport, ModbusTcpTransport)
    assert (transport.host, transport.port, transport.unit) == ("127.0.0.1", 15020, 1)


def test_demo_site_file_is_valid() -> None:
    config, problems = check_config(REPO / "configs" / "demo.yaml")

    assert config is not None, "\n".join(str(p) for p in problems)
    assert [p for p in problems if p.severity == "error"] == []


def test_anchors_and_merge_keys_are_not_duplicates_and_x_keys_are_ignored() -> None:
    config, problems = check_config(VALID / "anchors.yaml")

    assert config is not None, "\n".join(str(p) for p in problems)
    assert problems == []
    transports = [d.transport for d in config.devices]
    assert [t.unit for t in transports] == [1, 2]
    assert {(getattr(t, "baudrate", None), getattr(t, "parity", None)) for t in transports} == {(19200, "E")}


def test_every_key_and_sequence_item_knows_its_line() -> None:
    text = dedent(
        """\
        # header comment
        site:
          id: a
          grid:
            import_limit_kw: 1
        devices:
          - id: m
            transport: {type: modbus_tcp, host: h}
          -
            id: n
        """
    )

    data, lines, problems = parse_site_yaml(text, "f.yaml")

    assert problems == []
    assert data["devices"][1]["id"] == "n"
    assert lines[("site",)] == 2
    assert lines[("site", "grid", "import_limit_kw")] == 5
    assert lines[("devices", 0)] == 7
    assert lines[("devices", 0, "transport", "host")] == 8
    assert lines[("devices", 1)] == 10


def test_several_cross_check_problems_are_reported_in_one_run(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        site:
          id: plant-7
          grid: {import_limit_kw: 100, export_limit_kw: 0}
        devices:
          - {id: grid_meter, kind: meter, role: grid, driver: zoe_meter, transport: {type: modbus_tcp, host: h}}
          - {id: grid_meter, kind: pcs, driver: zoe_pcs, bms: nope, transport: {type: modbus_tcp, host: h, unit: 2}}
          - {id: bms, kind: bms, driver: zoe_bms, transport: {type: modbus_tcp, host: h, unit: 2}}
        """,
    )

    config, problems = check_config(path)

    assert config is None
    found = {(p.line, p.path) for p in problems}
    assert found == {(6, "devices.1.id"), (6, "devices.1.bms"), (7, "devices.2.transport.unit")}


def test_field_errors_in_several_sections_are_all_reported(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        site:
          id: plant-7
          grid: {import_limit_kw: 100, export_limit_kw: -1}
        devices:
          - {id: grid_meter, kind: meter, role: grid, driver: zoe_meter, transport: {type: modbus_tcp, host: h}}
        storage:
          history_retention_days: 0
        runtime:
          log_level: verbose
        """,
    )

    _, problems = check_config(path)

    assert [(p.line, p.path) for p in problems] == [
        (3, "site.grid.export_limit_kw"),
        (7, "storage.history_retention_days"),
        (9, "runtime.log_level"),
    ]


def test_relative_file_paths_are_relative_to_the_site_file(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "command.key").write_bytes(b"secret")
    path = _write(
        tmp_path,
        """\
        site:
          id: plant-7
          grid: {import_limit_kw: 100, export_limit_kw: 0}
        devices:
          - {id: grid_meter, kind: meter, role: grid, driver: zoe_meter, transport: {type: modbus_tcp, host: h}}
        northbound:
          mqtt: {host: broker.example.net}
          command_key_file: keys/command.key
        """,
    )

    config = load_site_config(path)

    assert config.northbound is not None
    assert config.northbound.command_key_file == tmp_path / "keys" / "command.key"


def test_profile_given_as_a_path_is_loaded_and_its_kind_checked(tmp_path: Path) -> None:
    (tmp_path / "my_meter.yaml").write_text(
        (REPO / "drivers" / "profiles" / "zoe_meter.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    path = _write(
        tmp_path,
        """\
        site:
          id: plant-7
          grid: {import_limit_kw: 100, export_limit_kw: 0}
        devices:
          - {id: grid_meter, kind: meter, role: grid, driver: my_meter.yaml, transport: {type: modbus_tcp, host: h}}
          - {id: sg, kind: sg_ready, driver: ./my_meter.yaml, transport: {type: modbus_tcp, host: h, unit: 2}}
        """,
    )

    _, problems = check_config(path)

    assert [(p.line, p.path) for p in problems] == [(6, "devices.1.driver")]
    assert "is for kind meter, but this device is kind sg_ready" in problems[0].message


def test_load_site_config_raises_config_error_listing_problems(tmp_path: Path) -> None:
    path = _write(tmp_path, "site: {id: x}\n")

    with pytest.raises(ConfigError) as caught:
        load_site_config(path)

    paths = {p.path for p in caught.value.problems}
    assert paths == {"site.grid", "devices"}
    assert all(str(p).startswith(f"{path}:1: ") for p in caught.value.problems)


@pytest.mark.parametrize(
    ("make_path", "fragment"),
    [
        (lambda tmp: tmp / "missing.yaml", "cannot read"),
        (lambda tmp: tmp, "cannot read"),
        (lambda tmp: _binary(tmp), "not UTF-8"),
        (lambda tmp: _text(tmp, ""), "empty"),
        (lambda tmp: _text(tmp, "just a string\n"), "must be a mapping"),
        (lambda tmp: _text(tmp, "site: {}\n---\nsite: {}\n"), "malformed YAML"),
        (lambda tmp: _text(tmp, "? [a, b]\n: 1\n"), "malformed YAML"),
    ],
    ids=["missing", "directory", "binary", "empty", "scalar-root", "two-documents", "complex-key"],
)
def test_unusable_files_exit_1_without_traceback(
    tmp_path: Path, make_path: object, fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert callable(make_path)
    path = make_path(tmp_path)

    exit_code = check_config_main(str(path))

    captured = capsys.readouterr()
    assert exit_code == 1
    assert "Traceback" not in captured.out + captured.err
    lines = captured.out.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}:"), captured.out
    assert fragment in lines[0]


def test_warnings_are_printed_but_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(
        tmp_path,
        """\
        site:
          id: plant-7
          grid: {import_limit_kw: 100, export_limit_kw: 0}
        devices:
          - {id: pv_meter, kind: meter, role: pv, driver: zoe_meter, transport: {type: modbus_tcp, host: h}}
        """,
    )

    exit_code = check_config_main(str(path))

    out = capsys.readouterr().out
    assert exit_code == 0
    assert out == f"{path}:4: devices: warning: no grid meter: site.grid import/export limits are not monitored\n"


def test_site_config_built_in_code_keeps_its_invariants() -> None:
    device = {"kind": "meter", "role": "grid", "driver": "zoe_meter", "transport": {"type": "modbus_tcp", "host": "h"}}
    data = {
        "site": {"id": "a", "grid": {"import_limit_kw": 1, "export_limit_kw": 0}},
        "devices": [{"id": "m", **device}, {"id": "m", **device, "role": "pv"}],
    }

    with pytest.raises(ValidationError) as caught:
        SiteConfig.model_validate(data)

    assert "devices.1.id: duplicate device id 'm'" in str(caught.value)


def _binary(tmp: Path) -> Path:
    path = tmp / "binary.yaml"
    path.write_bytes(b"site: \xff\xfe\x00\n")
    return path


def _text(tmp: Path, text: str) -> Path:
    path = tmp / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path
