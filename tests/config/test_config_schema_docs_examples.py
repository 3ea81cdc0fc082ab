"""The JSON Schema, the generated configuration reference, the annotated examples and the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoe_ems.config import SiteConfig, check_config
from zoe_ems.config.docgen import REGENERATE, render_configuration_doc, unit_of
from zoe_ems.config.schema import config_schema, config_schema_json

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = sorted((REPO / "configs" / "examples").glob("*.yaml"))
BROKEN = Path(__file__).parent / "broken"


def test_configuration_doc_is_up_to_date() -> None:
    committed = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")

    generated = render_configuration_doc()

    assert committed == generated, f"docs/configuration.md is out of date; regenerate it with: {REGENERATE}"


def test_configuration_doc_documents_every_key_of_every_section() -> None:
    doc = render_configuration_doc()

    missing = [path for path in _all_key_paths(SiteConfig, "") if f"| `{path.rsplit('.', 1)[-1]}` |" not in doc]
    assert missing == []
    assert "### `devices[].transport` with `type: modbus_rtu`" in doc
    assert "| `import_limit_kw` | number | **required** | kW | ≥ 0 |" in doc


@pytest.mark.parametrize(
    ("key", "unit"),
    [("import_limit_kw", "kW"), ("capacity_kwh", "kWh"), ("poll_ms", "ms"), ("soc_min", "fraction 0..1"), ("id", "")],
)
def test_units_come_from_key_suffixes(key: str, unit: str) -> None:
    assert unit_of(key) == unit


def test_json_schema_describes_the_site_file_and_rejects_unknown_keys() -> None:
    schema = json.loads(config_schema_json())

    assert schema == config_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(schema["required"]) == {"site", "devices"}
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["DeviceConfig"]["additionalProperties"] is False
    assert schema["$defs"]["GridConfig"]["properties"]["import_limit_kw"]["minimum"] == 0


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_annotated_example_is_valid(example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Examples name deployment paths under /etc/zoe-ems; point them at real files as systemd would.
    has_northbound = "northbound" in _yaml(example)
    for name in ("NORTHBOUND__COMMAND_KEY_FILE", *(f"NORTHBOUND__MQTT__TLS__{k}_FILE" for k in ("CA", "CERT", "KEY"))):
        if has_northbound:
            secret = tmp_path / name.lower()
            secret.write_text("x", encoding="utf-8")
            monkeypatch.setenv(f"ZOE_EMS_{name}", str(secret))

    config, problems = check_config(example)

    assert config is not None, "\n".join(str(p) for p in problems)
    assert problems == []


def test_there_are_at_least_two_examples_covering_the_device_kinds() -> None:
    kinds: set[str] = set()
    transports: set[str] = set()
    for example in EXAMPLES:
        config = SiteConfig.model_validate(_yaml(example))
        kinds |= {d.kind.value for d in config.devices}
        transports |= {d.transport.type for d in config.devices}

    assert len(EXAMPLES) >= 2
    assert kinds == {"meter", "pcs", "bms", "pv_inverter", "ev_charger", "sg_ready"}
    assert {"modbus_tcp", "modbus_rtu"} <= transports


def _cli_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("ZOE_EMS_")}


def test_cli_check_config_in_a_subprocess_reports_file_line_path_and_exit_1() -> None:
    broken = BROKEN / "dangling_reference.yaml"

    result = subprocess.run(
        [sys.executable, "-m", "zoe_ems", "check-config", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        env=_cli_env(),
        cwd=REPO,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"{broken}:10: devices.1.bms: no device with id 'battery_bsm' (bms devices: battery_bms)"
    ]


def test_cli_check_config_accepts_the_demo_and_config_schema_prints_json() -> None:
    check = subprocess.run(
        [sys.executable, "-m", "zoe_ems", "check-config", "configs/demo.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_cli_env(),
        cwd=REPO,
    )
    schema = subprocess.run(
        [sys.executable, "-m", "zoe_ems", "config-schema"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_cli_env(),
        cwd=REPO,
    )

    assert (check.returncode, check.stdout) == (0, ""), check.stdout + check.stderr
    assert schema.returncode == 0
    assert json.loads(schema.stdout)["title"] == "ZOE-EMS site file"


def _yaml(path: Path) -> dict[str, object]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return {k: v for k, v in data.items() if not str(k).startswith("x-")}


def _all_key_paths(model: type, prefix: str) -> list[str]:
    from pydantic import BaseModel

    from zoe_ems.config.docgen import _nested
    from zoe_ems.config.typing_util import unwrap_annotation

    paths: list[str] = []
    assert issubclass(model, BaseModel)
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        paths.append(path)
        for child_path, child in _nested(unwrap_annotation(info.annotation), path):
            members = getattr(child, "__args__", None) or (child,)
            for member in members:
                paths += _all_key_paths(member, child_path)
    return paths
