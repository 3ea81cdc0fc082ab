"""Generates docs/configuration.md from the site-file models: every key with type, default, unit,
constraints and description, after a hand-written introduction.

Regenerate with ``python -m zoe_ems.config.docgen > docs/configuration.md``; a test fails when the
file is out of date. This module only renders text; it never reads or writes site files.
"""

from __future__ import annotations

import enum
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from zoe_ems.config.model import SiteConfig
from zoe_ems.config.typing_util import unwrap_annotation

REGENERATE = "python -m zoe_ems.config.docgen > docs/configuration.md"


def render_configuration_doc() -> str:
    """The whole of docs/configuration.md."""
    sections: list[str] = []
    _render_model(SiteConfig, "", sections, heading="Top level")
    return INTRO + "\n## Key reference\n\n" + "\n".join(sections)


def unit_of(key: str) -> str:
    """The unit a key's name carries (``import_limit_kw`` → ``kW``), or an empty string."""
    if key == "soc" or key.startswith("soc_") or key.endswith("_soc") or key.endswith("_fraction"):
        return "fraction 0..1"
    for suffix, unit in _UNIT_SUFFIXES:
        if key.endswith(suffix):
            return unit
    return ""


def main() -> None:
    """Print the generated document (``python -m zoe_ems.config.docgen > docs/configuration.md``)."""
    print(render_configuration_doc(), end="")


CHECKS: tuple[tuple[str, str], ...] = (
    ("YAML is well formed; no key appears twice in one mapping (YAML would silently keep the last)", "error"),
    ("device `id`s are unique; `bms` of a pcs names an existing device of kind `bms`", "error"),
    ("devices on one serial `device` agree on `baudrate`, `parity`, `stopbits`, `bytesize`", "error"),
    ("unit ids are unique per bus (one serial line, or one `host:port`); one `host:port` speaks one framing", "error"),
    ("RTU devices do not use unit 0 (broadcast)", "error"),
    (
        "`driver` is `sunspec` (for meter, pcs, bms, pv_inverter), a bundled profile, or an existing profile "
        "file; the profile's kind matches the device's kind",
        "error",
    ),
    (
        "a site that controls devices (pcs, pv_inverter, ev_charger, sg_ready not `read_only`) has a grid meter "
        "(`kind: meter`, `role: grid`): without one the `site.grid` limits cannot be enforced",
        "error",
    ),
    ("a monitoring-only site without a grid meter; a second grid meter", "warning"),
    ("`control.ffr.enabled` needs a writable pcs", "error"),
    ("every `*_file` key names an existing regular file (not readable by the checking user: warning)", "error"),
    (
        "`control.soc_min` < `control.soc_max`; EV `min_current_a` ≤ `max_current_a`; `stale_after_s` ≥ poll interval",
        "error",
    ),
)
"""What check-config verifies beyond types and ranges (documented in the introduction)."""


def _checks_table() -> str:
    rows = [f"| {text} | {severity} |" for text, severity in CHECKS]
    return "\n".join(["| check | severity |", "|---|---|", *rows])


INTRO = f"""\
# Site file reference

<!-- Generated from the pydantic models by `{REGENERATE}`. Do not edit by hand: edit the models
     (field descriptions) or the introduction in zoe_ems/config/docgen.py, then regenerate. -->

A site file is one YAML document describing one site: who it is (`site`), which Modbus devices it has
(`devices`), how the control loop and the optimizer behave (`control`, `optimizer`), the link to the VPP
aggregator (`northbound`), where history is kept (`storage`) and how the process runs (`runtime`).
Annotated examples for real sites are in `configs/examples/`; the simulated demo site is `configs/demo.yaml`.

## Rules

- **Unknown keys are errors.** A typo must not silently disable a limit; the checker suggests the key you
  probably meant.
- **Top-level keys starting with `x-`** are ignored: use them to hold YAML anchors shared by several devices
  (`x-rs485: &rs485 {{type: modbus_rtu, device: /dev/ttyUSB0, baudrate: 19200}}`, then
  `transport: {{<<: *rs485, unit: 2}}`).
- **Units are in the key names**: `_kw`, `_kwh`, `_ms`, `_s`, `_hz`, `_a`, `_v`; `soc` values are fractions
  0..1. The daemon works in SI units (W, Wh, s, Hz) internally.
- **Passive sign convention**: positive power flows *into* a device (grid import, battery charging, loads,
  EV); PV production is negative. Where a device signs differently, its profile says so and
  `devices[].sign` can override it per device.
- **Relative paths** in keys ending in `_file` and in a `driver` that names a profile file are relative to the
  directory of the site file. Other paths (`storage.path`, `runtime.socket_path`) are taken as written;
  use absolute paths on a gateway.

## Checking a file

`zoe-ems check-config FILE` prints one line per problem and exits 1 when there is any error, 0 otherwise:

```
site.yaml:14: devices.2.transport.unit: unit id 3 is already used on /dev/ttyUSB0 by devices.1 (pcs1)
site.yaml:31: control.soc_min: soc_min (0.9) must be below soc_max (0.5)
site.yaml:52: devices.4.role: warning: second grid meter; the control loop reads the grid power of one meter (gm)
```

The line is that of the offending key; for a missing key it is the line of the mapping that lacks it.
Besides types and ranges (below), the checker verifies:

{_checks_table()}

Profile and file checks run at `check-config` and `run` time only, so the JSON Schema stays static.
`zoe-ems config-schema` prints the JSON Schema; editors with the YAML language server use it with a first
line `# yaml-language-server: $schema=site.schema.json` after `zoe-ems config-schema > site.schema.json`.

## Environment overrides

Any key can be overridden from the environment as `ZOE_EMS_<SECTION>__<KEY>` (nested keys joined by `__`,
case-insensitive); the environment wins over the file. Use it for secrets and paths that systemd or the
operator injects:

```
ZOE_EMS_STORAGE__PATH=/var/lib/zoe-ems/zoe.db
ZOE_EMS_NORTHBOUND__COMMAND_KEY_FILE=/run/credentials/zoe-ems.service/command.key
ZOE_EMS_NORTHBOUND__MQTT__HOST=broker.example.net
```

A whole section can be given as JSON (`ZOE_EMS_CONTROL='{{"cycle_ms": 250}}'`); entries of the `devices`
list cannot be overridden one by one. A bad value is reported like a bad file value, naming the variable:
`site.yaml:40: storage.history_retention_days: Input should be a valid number ... (value from environment
variable ZOE_EMS_STORAGE__HISTORY_RETENTION_DAYS)`.
"""

# --- private helpers -------------------------------------------------------------------------------------

_UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_eur_per_kwh", "EUR/kWh"),
    ("_eur_per_kw", "EUR/kW"),
    ("_eur", "EUR"),
    ("_pct_per_s", "%/s"),
    ("_kw_per_s", "kW/s"),
    ("_hz_per_s", "Hz/s"),
    ("_kwh", "kWh"),
    ("_kvar", "kvar"),
    ("_kw", "kW"),
    ("_wh", "Wh"),
    ("_w", "W"),
    ("_mhz", "mHz"),
    ("_hz", "Hz"),
    ("_ms", "ms"),
    ("_s", "s"),
    ("_min", "min"),
    ("_h", "h"),
    ("_days", "days"),
    ("_pct", "%"),
    ("_a", "A"),
    ("_v", "V"),
    ("_c", "°C"),
)


def _render_model(model: type[BaseModel], path: str, out: list[str], heading: str | None = None) -> None:
    title = heading or f"`{path}`"
    out.append(f"### {title}\n")
    doc = _first_paragraph(model.__doc__)
    if doc:
        out.append(f"{doc}\n")
    out.append("| key | type | default | unit | constraints | description |")
    out.append("|---|---|---|---|---|---|")
    children: list[tuple[str, Any]] = []
    fields = sorted(model.model_fields.items(), key=lambda item: item[0] != "type")  # a variant's tag first
    for name, info in fields:
        key_path = f"{path}.{name}" if path else name
        annotation = unwrap_annotation(info.annotation)
        out.append(
            "| "
            + " | ".join(
                [
                    f"`{name}`",
                    _cell(_type_name(annotation, key_path)),
                    _cell(_default(info)),
                    _cell(unit_of(name)),
                    _cell(_constraints(info)),
                    _cell(info.description or ""),
                ]
            )
            + " |"
        )
        children += _nested(annotation, key_path)
    out.append("")
    for child_path, child in children:
        members = _model_union(child)
        if members is not None:
            for member in members:
                tag = _tag_of(member)
                _render_model(member, child_path, out, heading=f"`{child_path}` with `type: {tag}`")
        else:
            _render_model(child, child_path, out)


def _nested(annotation: Any, path: str) -> list[tuple[str, Any]]:
    """Sub-sections to render below a key: models, lists of models, mappings of models, model unions."""
    if _is_model(annotation) or _model_union(annotation) is not None:
        return [(path, annotation)]
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in (list, tuple, set, frozenset) and args:
        return _nested(unwrap_annotation(args[0]), f"{path}[]")
    if origin is dict and len(args) == 2:
        return _nested(unwrap_annotation(args[1]), f"{path}.<name>")
    return []


def _type_name(annotation: Any, path: str) -> str:
    annotation = unwrap_annotation(annotation)
    origin = get_origin(annotation)
    args = get_args(annotation)
    if _is_model(annotation):
        return "section"
    if _model_union(annotation) is not None:
        return "section (variant by `type`)"
    if origin is Literal:
        return " \\| ".join(f"`{_yaml(a)}`" for a in args)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " \\| ".join(f"`{m.value}`" for m in annotation)
    if origin in (list, tuple, set, frozenset):
        return f"list of {_plural(_type_name(args[0], path))}" if args else "list"
    if origin is dict:
        return f"mapping of name to {_type_name(args[1], path)}" if len(args) == 2 else "mapping"
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a, path) for a in args if a is not type(None))
    names = {bool: "boolean", int: "integer", float: "number", str: "string", Path: "path"}
    if isinstance(annotation, type) and annotation in names:
        return names[annotation]
    return getattr(annotation, "__name__", str(annotation))


def _plural(type_name: str) -> str:
    return {"section": "sections", "integer": "integers", "number": "numbers", "string": "strings"}.get(
        type_name, type_name
    )


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        try:
            value = info.default_factory()  # type: ignore[call-arg]
        except Exception:
            return ""
        if isinstance(value, BaseModel):
            return "(section defaults)"
        return f"`{_yaml(value)}`"
    if info.default is PydanticUndefined:
        return "**required**"
    if info.default is None:
        return "unset"
    return f"`{_yaml(info.default)}`"


def _constraints(info: FieldInfo) -> str:
    parts: list[str] = []
    symbols = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("multiple_of", "multiple of"))
    for meta in info.metadata:
        for attr, symbol in symbols:
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{symbol} {_yaml(value)}")
        min_length = getattr(meta, "min_length", None)
        max_length = getattr(meta, "max_length", None)
        if min_length is not None:
            parts.append(f"min length {min_length}")
        if max_length is not None:
            parts.append(f"max length {max_length}")
        pattern = getattr(meta, "pattern", None)
        if pattern is not None:
            parts.append(f"pattern `{pattern}`")
    return ", ".join(parts)


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("\n", " ").replace("|", "\\|").replace("\\\\|", "\\|")


def _first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _model_union(annotation: Any) -> list[type[BaseModel]] | None:
    if get_origin(annotation) not in (Union, types.UnionType):
        return None
    members = [unwrap_annotation(a) for a in get_args(annotation) if a is not type(None)]
    if len(members) > 1 and all(_is_model(m) for m in members):
        return members
    return None


def _tag_of(model: type[BaseModel]) -> str:
    info = model.model_fields.get("type")
    if info is not None and get_origin(info.annotation) is Literal:
        return str(get_args(info.annotation)[0])
    return model.__name__


if __name__ == "__main__":
    main()
