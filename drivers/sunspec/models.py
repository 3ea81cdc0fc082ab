"""SunSpec model definitions: loads the official JSON models shipped with pysunspec2 and computes layouts.

A ``ModelDef`` is the parsed definition (points, types, scale-factor references, nested and repeating
groups). A ``ModelLayout`` places every point of one model instance at a register offset from the
model's ID register (ID at 0, L at 1), with repeating groups expanded for the instance's length.
Offsets always come from the definitions, never from hand-written tables. Parsed definitions are
cached. This module performs no Modbus I/O.

Point paths: top-level points by name (``W``); points of a non-repeating group as ``group.point``;
points of a repeating group instance as ``group[i].point`` with ``i`` counting from 1.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.abc import Traversable

from drivers.sunspec.values import decode_raw, is_known_type, type_size

END_MODEL_ID = 0xFFFF
"""Model id that ends a SunSpec model chain."""


class ModelDefinitionError(Exception):
    """A model definition is missing or malformed; the message names the model file and field."""


@dataclass(frozen=True, kw_only=True)
class PointDef:
    """One point of a model definition."""

    name: str
    type: str
    """SunSpec type name: int16, uint16, acc32, float32, string, enum16, bitfield32, sunssf, pad, ..."""
    size: int
    """Registers occupied."""
    sf: str | int | None = None
    """Scale factor: name of a ``sunssf`` point (same or enclosing group), a fixed exponent, or None."""
    units: str | None = None
    writable: bool = False
    mandatory: bool = False
    static: bool = False
    symbols: Mapping[str, int] = field(default_factory=dict)
    """Enum values / bit numbers by symbol name."""
    label: str = ""
    description: str = ""
    value: int | None = None
    """Fixed value declared by the model (the ID point)."""


@dataclass(frozen=True, kw_only=True)
class GroupDef:
    """A group of points, possibly with nested groups."""

    name: str
    points: tuple[PointDef, ...]
    groups: tuple[GroupDef, ...] = ()
    count: int | str | None = None
    """None: the group appears once. int n > 0: n times. 0: repeats to fill the model length.
    str: repeats as many times as the value of that top-level point says."""

    @property
    def repeating(self) -> bool:
        return self.count is not None

    @property
    def fixed_size(self) -> int:
        """Registers of one instance, with nested repeating groups counted at zero instances."""
        size = sum(p.size for p in self.points)
        for group in self.groups:
            if not group.repeating:
                size += group.fixed_size
            elif isinstance(group.count, int) and group.count > 0:
                size += group.count * group.fixed_size
        return size


@dataclass(frozen=True, kw_only=True)
class ModelDef:
    """A parsed SunSpec model definition."""

    model_id: int
    name: str
    label: str
    description: str
    group: GroupDef

    @property
    def declared_length(self) -> int:
        """The model length ``L`` (registers after ID and L) with every repeating group empty."""
        return self.group.fixed_size - 2

    @property
    def has_repeating_groups(self) -> bool:
        return _has_repeating(self.group)

    def point(self, name: str) -> PointDef:
        """A top-level point by name; KeyError names the model."""
        for p in self.group.points:
            if p.name == name:
                return p
        raise KeyError(f"SunSpec model {self.model_id} ({self.name}) has no point {name!r}")


@dataclass(frozen=True, kw_only=True)
class PointLayout:
    """A point placed in one model instance."""

    path: str
    offset: int
    """Registers from the model's ID register."""
    point: PointDef
    sf_path: str | None = None
    """Path of the scale-factor point in this instance (None when ``point.sf`` is a fixed int or absent)."""


@dataclass(frozen=True)
class ModelLayout:
    """Every point of one model instance at its register offset."""

    model: ModelDef
    length: int
    """The instance's ``L``."""
    points: Mapping[str, PointLayout]

    def __getitem__(self, path: str) -> PointLayout:
        try:
            return self.points[path]
        except KeyError:
            raise KeyError(f"SunSpec model {self.model.model_id} instance has no point {path!r}") from None

    def __contains__(self, path: object) -> bool:
        return path in self.points

    def __iter__(self) -> Iterator[PointLayout]:
        return iter(self.points.values())

    @property
    def total_registers(self) -> int:
        """Registers including ID and L."""
        return self.length + 2


def available_model_ids() -> list[int]:
    """Ids of every model definition shipped with pysunspec2."""
    ids: list[int] = []
    for entry in _json_dir().iterdir():
        name = entry.name
        if name.startswith("model_") and name.endswith(".json"):
            stem = name[len("model_") : -len(".json")]
            if stem.isdigit():
                ids.append(int(stem))
    return sorted(ids)


@functools.cache
def load_model(model_id: int) -> ModelDef:
    """The parsed definition of ``model_id`` (cached); ModelDefinitionError when unknown or malformed."""
    source = f"sunspec2/models/json/model_{model_id}.json"
    entry = _json_dir() / f"model_{model_id}.json"
    if not entry.is_file():
        raise ModelDefinitionError(f"{source}: no definition for SunSpec model {model_id}")
    try:
        data = json.loads(entry.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelDefinitionError(f"{source}: unreadable JSON: {exc}") from None
    return _parse_model(data, source, model_id)


def has_definition(model_id: int) -> bool:
    """True when pysunspec2 ships a definition for ``model_id``."""
    return (_json_dir() / f"model_{model_id}.json").is_file()


def model_layout(
    model_id: int,
    length: int | None = None,
    registers: Sequence[int] | None = None,
    counts: Mapping[str, int] | None = None,
) -> ModelLayout:
    """Layout of a model instance of ``length`` registers (default: the declared length).

    Repeating groups with a fixed count repeat that often; count 0 fills the remaining length; a count
    naming a point takes that point's value from ``counts`` or, failing that, from ``registers`` (the
    model's registers starting at its ID register). Points that would extend beyond the instance
    length are left out (legacy devices, e.g. model 1 with L=65 has no Pad).
    """
    model = load_model(model_id)
    if length is None:
        length = model.declared_length
    if registers is None and counts is None:
        return _cached_layout(model_id, length)
    return _build_layout(model, length, registers, counts)


# --- private helpers ----------------------------------------------------------------------------


def _json_dir() -> Traversable:
    return resources.files("sunspec2") / "models" / "json"


def _has_repeating(group: GroupDef) -> bool:
    return any(g.repeating or _has_repeating(g) for g in group.groups)


@functools.lru_cache(maxsize=512)
def _cached_layout(model_id: int, length: int) -> ModelLayout:
    return _build_layout(load_model(model_id), length, None, None)


def _build_layout(
    model: ModelDef,
    length: int,
    registers: Sequence[int] | None,
    counts: Mapping[str, int] | None,
) -> ModelLayout:
    total = length + 2
    top = _top_offsets(model.group)

    def count_of(group: GroupDef, offset: int) -> int:
        spec = group.count
        if isinstance(spec, int):
            if spec > 0:
                return spec
            instance = group.fixed_size
            if instance <= 0:
                return 0
            return max(0, (total - offset) // instance)
        if spec is None:
            return 1
        if counts is not None and spec in counts:
            return counts[spec]
        if spec not in top:
            raise ModelDefinitionError(
                f"SunSpec model {model.model_id}: group {group.name!r} count refers to unknown point {spec!r}"
            )
        point_offset, point = top[spec]
        if registers is None or point_offset + point.size > len(registers):
            return 0
        value = decode_raw(point.type, list(registers[point_offset : point_offset + point.size]))
        return value if isinstance(value, int) and value >= 0 else 0

    placed: dict[str, PointLayout] = {}
    _place_group(model.group, "", 0, count_of, placed, ("",))
    kept = {path: pl for path, pl in placed.items() if pl.offset + pl.point.size <= total}
    return ModelLayout(model=model, length=length, points=kept)


def _top_offsets(group: GroupDef) -> dict[str, tuple[int, PointDef]]:
    offsets: dict[str, tuple[int, PointDef]] = {}
    offset = 0
    for p in group.points:
        offsets[p.name] = (offset, p)
        offset += p.size
    return offsets


def _place_group(
    group: GroupDef,
    prefix: str,
    offset: int,
    count_of: Callable[[GroupDef, int], int],
    placed: dict[str, PointLayout],
    scopes: tuple[str, ...],
) -> int:
    """Place ``group``'s points and sub-groups from ``offset``; returns the offset after the group."""
    names = {p.name for p in group.points}
    for p in group.points:
        sf_path: str | None = None
        if isinstance(p.sf, str):
            sf_path = _resolve_sf(p.sf, prefix, names, scopes, placed)
        placed[prefix + p.name] = PointLayout(path=prefix + p.name, offset=offset, point=p, sf_path=sf_path)
        offset += p.size
    for sub in group.groups:
        if not sub.repeating:
            sub_prefix = f"{prefix}{sub.name}."
            offset = _place_group(sub, sub_prefix, offset, count_of, placed, (*scopes, prefix))
            continue
        for index in range(1, count_of(sub, offset) + 1):
            sub_prefix = f"{prefix}{sub.name}[{index}]."
            offset = _place_group(sub, sub_prefix, offset, count_of, placed, (*scopes, prefix))
    return offset


def _resolve_sf(
    sf_name: str, prefix: str, names: set[str], scopes: tuple[str, ...], placed: Mapping[str, PointLayout]
) -> str | None:
    """Scale factors live in the same group or an enclosing one (innermost first)."""
    if sf_name in names:
        return prefix + sf_name
    for scope in reversed(scopes):
        if scope + sf_name in placed:
            return scope + sf_name
    return None


def _parse_model(data: object, source: str, model_id: int) -> ModelDef:
    if not isinstance(data, dict):
        raise ModelDefinitionError(f"{source}: top level must be an object")
    declared_id = data.get("id")
    if declared_id != model_id:
        raise ModelDefinitionError(f"{source}: id: {declared_id!r} but the file is for model {model_id}")
    group = _parse_group(data.get("group"), source, "group")
    if len(group.points) < 2 or group.points[0].name != "ID" or group.points[1].name != "L":
        raise ModelDefinitionError(f"{source}: group.points: a model must start with the ID and L points")
    return ModelDef(
        model_id=model_id,
        name=group.name,
        label=_opt_str(data["group"], "label"),
        description=_opt_str(data["group"], "desc"),
        group=group,
    )


def _parse_group(raw: object, source: str, where: str) -> GroupDef:
    if not isinstance(raw, dict):
        raise ModelDefinitionError(f"{source}: {where}: must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ModelDefinitionError(f"{source}: {where}.name: missing group name")
    where = f"{where}({name})"
    raw_points = raw.get("points", [])
    if not isinstance(raw_points, list):
        raise ModelDefinitionError(f"{source}: {where}.points: must be a list")
    points = tuple(_parse_point(p, source, f"{where}.points[{i}]") for i, p in enumerate(raw_points))
    raw_groups = raw.get("groups", [])
    if not isinstance(raw_groups, list):
        raise ModelDefinitionError(f"{source}: {where}.groups: must be a list")
    groups = tuple(_parse_group(g, source, f"{where}.groups[{i}]") for i, g in enumerate(raw_groups))
    count = raw.get("count")
    if count is not None and not isinstance(count, int | str):
        raise ModelDefinitionError(f"{source}: {where}.count: must be an integer or a point name")
    if isinstance(count, str) and count.isdigit():
        count = int(count)
    return GroupDef(name=name, points=points, groups=groups, count=count)


def _parse_point(raw: object, source: str, where: str) -> PointDef:
    if not isinstance(raw, dict):
        raise ModelDefinitionError(f"{source}: {where}: must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ModelDefinitionError(f"{source}: {where}.name: missing point name")
    where = f"{where}({name})"
    type_name = raw.get("type")
    if not isinstance(type_name, str) or not is_known_type(type_name):
        raise ModelDefinitionError(f"{source}: {where}.type: unknown point type {type_name!r}")
    declared_size = raw.get("size")
    if declared_size is not None and not isinstance(declared_size, int):
        raise ModelDefinitionError(f"{source}: {where}.size: must be an integer")
    size = type_size(type_name, declared_size) if type_name == "string" else type_size(type_name)
    sf = raw.get("sf")
    if sf is not None and not isinstance(sf, int | str):
        raise ModelDefinitionError(f"{source}: {where}.sf: must be a point name or an integer")
    if isinstance(sf, str) and sf.lstrip("-").isdigit():
        sf = int(sf)
    symbols: dict[str, int] = {}
    raw_symbols = raw.get("symbols", [])
    if isinstance(raw_symbols, list):
        for s in raw_symbols:
            if isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("value"), int):
                symbols[s["name"]] = s["value"]
    value = raw.get("value")
    units = raw.get("units")
    return PointDef(
        name=name,
        type=type_name,
        size=size,
        sf=sf,
        units=units if isinstance(units, str) else None,
        writable=raw.get("access") == "RW",
        mandatory=raw.get("mandatory") == "M",
        static=raw.get("static") == "S",
        symbols=symbols,
        label=_opt_str(raw, "label"),
        description=_opt_str(raw, "desc"),
        value=value if isinstance(value, int) else None,
    )


def _opt_str(raw: object, key: str) -> str:
    if isinstance(raw, dict):
        value = raw.get(key)
        if isinstance(value, str):
            return value
    return ""
