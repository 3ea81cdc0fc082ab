"""Reading a site file: YAML with line numbers, environment overrides, validation, precise error messages.

Every problem becomes ``FILE:LINE: dotted.path: message``; nothing here raises a traceback at users.
This is the only module that parses YAML site files. It never checks the installation (profiles,
files on disk): that is check.py, which ``load_site_config`` runs after validation.
"""

from __future__ import annotations

import difflib
import os
import re
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import EnvSettingsSource
from pydantic_settings.exceptions import SettingsError

from zoe_ems.config.base import ConfigPath, CrossCheckError, dotted
from zoe_ems.config.model import SiteConfig
from zoe_ems.config.typing_util import unwrap_annotation

Severity = Literal["error", "warning"]
ENV_PREFIX = "ZOE_EMS_"
ENV_DELIMITER = "__"
EXTENSION_PREFIX = "x-"


@dataclass(frozen=True)
class ConfigProblem:
    """One problem found in a site file (or in an environment override of it)."""

    file: str
    line: int
    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        label = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}: {self.path}: {label}{self.message}"


class ConfigError(Exception):
    """A site file could not be loaded; ``problems`` lists every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_site_config(path: str | Path) -> SiteConfig:
    """Load, validate and check a site file. Raises ConfigError listing every error with its line.

    Warnings do not stop loading; use ``zoe_ems.config.check.check_config`` to see them.
    """
    from zoe_ems.config.check import check_config  # check.py builds on this module

    config, problems = check_config(path)
    if config is None:
        raise ConfigError([p for p in problems if p.severity == "error"] or problems)
    return config


@dataclass(frozen=True)
class EnvOverride:
    """An environment variable ``ZOE_EMS_<SECTION>__<KEY>`` and the site-file path it overrides."""

    name: str
    path: ConfigPath


@dataclass
class SiteSource:
    """Where a site file's values came from: the file's lines and the environment overrides."""

    file: str
    lines: dict[ConfigPath, int] = field(default_factory=dict)
    env: list[EnvOverride] = field(default_factory=list)
    env_data: dict[str, Any] = field(default_factory=dict)

    def line_of(self, path: ConfigPath) -> int:
        """Line of the deepest node of ``path`` that exists in the file (1 when nothing does)."""
        return self.lines[path[: self.depth_in_file(path)]]

    def depth_in_file(self, path: ConfigPath) -> int:
        """How many leading elements of ``path`` exist in the file."""
        depth = 0
        while depth < len(path) and path[: depth + 1] in self.lines:
            depth += 1
        return depth

    def env_names_for(self, path: ConfigPath) -> tuple[list[str], list[str]]:
        """Environment variables involved at ``path``: (those that supplied its value, others that set keys there)."""
        in_file = self.depth_in_file(path)
        supplied: list[str] = []
        involved: list[str] = []
        for override in self.env:
            var = override.path
            common = _common_prefix(var, path)
            if common == len(var) and (common == len(path) or _has_path(self.env_data, path)):
                supplied.append(override.name)  # the variable sets `path` (or a parent that contains it)
            elif common in (len(var), len(path)) or common > in_file:
                involved.append(override.name)  # it created or filled the part of the tree where the problem is
        return supplied, involved

    def problem(self, path: ConfigPath, message: str, severity: Severity = "error") -> ConfigProblem:
        """A problem at ``path`` with the line of its deepest node, naming environment variables involved."""
        supplied, involved = self.env_names_for(path)
        if supplied:
            message += f" (value from environment variable{_plural(supplied)} {', '.join(supplied)})"
        elif involved:
            verb = "sets" if len(involved) == 1 else "set"
            message += f" (environment variable{_plural(involved)} {', '.join(involved)} {verb} keys here)"
        return ConfigProblem(self.file, self.line_of(path), dotted(path), message, severity)


@dataclass
class ReadResult:
    """Outcome of reading one site file: the validated model (or None) and the problems found so far."""

    config: SiteConfig | None
    problems: list[ConfigProblem]
    source: SiteSource


def read_site_file(path: str | Path) -> ReadResult:
    """Parse YAML (with lines), apply ``ZOE_EMS_`` overrides, validate. Never raises for bad input.

    Relative ``*_file`` paths and profile paths in ``driver`` are made relative to the site file's directory.
    """
    file = str(path)
    source = SiteSource(file=file, lines={(): 1})
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        return ReadResult(None, [ConfigProblem(file, 0, "(file)", f"cannot read: {exc.strerror or exc}")], source)
    except UnicodeDecodeError as exc:
        return ReadResult(None, [ConfigProblem(file, 0, "(file)", f"not UTF-8 text: {exc.reason}")], source)
    data, lines, problems = parse_site_yaml(text, file)
    source.lines = lines
    if any(p.path == "(yaml)" for p in problems):
        return ReadResult(None, problems, source)
    if data is None:
        return ReadResult(None, [*problems, ConfigProblem(file, 1, "(root)", "the site file is empty")], source)
    if not isinstance(data, dict):
        message = f"the site file must be a mapping of sections (site, devices, ...), not a {_yaml_type(data)}"
        return ReadResult(None, [*problems, ConfigProblem(file, lines[()], "(root)", message)], source)
    data = {key: value for key, value in data.items() if not _is_extension_key(key)}
    for key in [key for key in data if not isinstance(key, str)]:
        problems.append(source.problem((key,), f"unknown key (sections: {', '.join(SiteConfig.model_fields)})"))
        del data[key]
    source.env = env_overrides(os.environ)
    env_problems = _read_env(source)
    if env_problems:
        return ReadResult(None, [*problems, *env_problems], source)
    config, validation_problems = _validate(data, source)
    problems = sorted([*problems, *validation_problems], key=lambda p: (p.line, p.path))
    if config is not None:
        config = _rebase_relative_paths(config, Path(path).resolve().parent)
    return ReadResult(config, problems, source)


def parse_site_yaml(text: str, file: str) -> tuple[Any, dict[ConfigPath, int], list[ConfigProblem]]:
    """YAML → (data, line of every key and sequence item, problems). Duplicate keys are problems.

    Malformed YAML gives a single problem with path ``(yaml)`` and the line of the fault.
    """
    loader = yaml.SafeLoader(text)
    lines: dict[ConfigPath, int] = {(): 1}
    duplicates: list[ConfigProblem] = []
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines, []
        lines[()] = node.start_mark.line + 1
        _index(loader, node, (), lines, duplicates, file, set())
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        message = f"malformed YAML: {exc.problem or exc}"
        if exc.context and exc.context_mark is not None and exc.context_mark is not mark:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        return None, lines, [ConfigProblem(file, line, "(yaml)", message)]
    except yaml.YAMLError as exc:
        return None, lines, [ConfigProblem(file, 0, "(yaml)", f"malformed YAML: {exc}")]
    finally:
        loader.dispose()
    return data, lines, duplicates


def env_overrides(environ: Mapping[str, str]) -> list[EnvOverride]:
    """The ``ZOE_EMS_<SECTION>__<KEY>`` variables that name a section of the site file (case-insensitive)."""
    sections = set(SiteConfig.model_fields)
    found: list[EnvOverride] = []
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split(ENV_DELIMITER)
        if parts[0] not in sections:
            continue
        found.append(EnvOverride(name, tuple(int(p) if p.isdigit() else p for p in parts)))
    return found


# --- private helpers -------------------------------------------------------------------------------------

_MERGE_TAG = "tag:yaml.org,2002:merge"


def _index(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: ConfigPath,
    lines: dict[ConfigPath, int],
    duplicates: list[ConfigProblem],
    file: str,
    active: set[int],
) -> None:
    """Record the line of every key and item below ``node``; report duplicate keys."""
    if id(node) in active:  # recursive alias
        return
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            key = _key_of(loader, key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                duplicates.append(
                    ConfigProblem(
                        file,
                        line,
                        dotted((*path, key)),
                        f"duplicate key {key!r} (first at line {seen[key]}); YAML would silently keep only this one",
                    )
                )
            else:
                seen[key] = line
            lines[(*path, key)] = line
            _index(loader, value_node, (*path, key), lines, duplicates, file, active)
        for merge in merges:
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for merged in sources:
                if isinstance(merged, yaml.MappingNode):
                    for key_node, value_node in merged.value:
                        key = _key_of(loader, key_node)
                        if key not in seen:
                            seen[key] = key_node.start_mark.line + 1
                            lines.setdefault((*path, key), seen[key])
                            _index(loader, value_node, (*path, key), lines, [], file, active)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _index(loader, item, (*path, index), lines, duplicates, file, active)
    active.discard(id(node))


def _key_of(loader: yaml.SafeLoader, key_node: yaml.Node) -> str | int:
    if isinstance(key_node, yaml.ScalarNode):
        try:
            value = loader.construct_object(key_node)
        except yaml.YAMLError:
            return str(key_node.value)
        return value if isinstance(value, str | int) and not isinstance(value, bool) else str(value)
    return f"<complex key at line {key_node.start_mark.line + 1}>"


def _is_extension_key(key: Any) -> bool:
    """Top-level ``x-...`` keys hold YAML anchors for reuse (as in docker-compose) and are ignored."""
    return isinstance(key, str) and key.startswith(EXTENSION_PREFIX)


def _yaml_type(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _read_env(source: SiteSource) -> list[ConfigProblem]:
    """Parse the environment overrides once so that a malformed one is reported with its variable name."""
    per_device = [o.name for o in source.env if o.path[0] == "devices" and len(o.path) > 1]
    if per_device:
        message = (
            f"environment variable {', '.join(per_device)}: device entries cannot be overridden one by one; "
            "edit the site file or set ZOE_EMS_DEVICES to a JSON list"
        )
        return [ConfigProblem(source.file, source.line_of(("devices",)), "devices", message)]
    try:
        source.env_data = EnvSettingsSource(SiteConfig)()
    except SettingsError as exc:
        match = re.search(r'field "(\w+)"', str(exc))
        section: ConfigPath = (match.group(1),) if match else ()
        names = [o.name for o in source.env if o.path[:1] == section] or [o.name for o in source.env]
        cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
        message = f"cannot parse environment variable {', '.join(names)} (a section must be JSON){cause}"
        return [ConfigProblem(source.file, source.line_of(section), dotted(section), message)]
    return []


def _validate(data: dict[Any, Any], source: SiteSource) -> tuple[SiteConfig | None, list[ConfigProblem]]:
    try:
        return SiteConfig.model_validate(data), []
    except ValidationError as exc:
        problems: list[ConfigProblem] = []
        for error in exc.errors():
            for path, message in _explain(error):
                problems.append(source.problem(path, message))
        return None, problems
    except Exception as exc:  # a value pydantic cannot even classify (e.g. non-string keys): report, never crash
        return None, [ConfigProblem(source.file, 1, "(root)", f"cannot validate: {type(exc).__name__}: {exc}")]


def _explain(error: ErrorDetails) -> list[tuple[ConfigPath, str]]:
    """One pydantic error → (clean path, message) pairs; union tags removed, validator paths honoured."""
    path, annotation, owner = _walk(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    message = error["msg"]
    if kind in ("value_error", "assertion_error"):
        cause = ctx.get("error")
        if isinstance(cause, CrossCheckError):
            return [((*path, *sub), text) for sub, text in cause.findings]
        text = re.sub(r"^(Value error|Assertion failed), ", "", message)
        return [_attribute(path, annotation, text)]
    if kind == "missing":
        return [(path, "required key is missing")]
    if kind == "extra_forbidden":
        return [(path, _unknown_key_message(path, owner))]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        discriminator = str(ctx.get("discriminator", "type")).strip("'")
        tags = ", ".join(_union_tags(annotation)) or str(ctx.get("expected_tags", "")).replace("'", "")
        if kind == "union_tag_invalid":
            return [((*path, discriminator), f"unknown {discriminator} {ctx.get('tag')!r} (one of: {tags})")]
        return [((*path, discriminator), f"required key is missing (one of: {tags})")]
    value = error.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        message = f"{message} (got {value!r})"
    return [(path, message)]


def _attribute(path: ConfigPath, annotation: Any, text: str) -> tuple[ConfigPath, str]:
    """A validator message that starts with a field name (``soc_min ...``, ``devices.2.bms: ...``) goes there."""
    match = re.match(r"^([A-Za-z_]\w*(?:\.[\w-]+)*)(:\s*|\s)", text)
    if match is None:
        return path, text
    parts = tuple(int(p) if p.isdigit() else p for p in match.group(1).split("."))
    with_colon = match.group(2).startswith(":")
    rest = text[match.end() :] if with_colon else text
    model = unwrap_annotation(annotation)
    if isinstance(model, type) and issubclass(model, BaseModel) and parts[0] in model.model_fields:
        return (*path, *parts), rest
    if with_colon and parts[0] in SiteConfig.model_fields:
        return parts, rest
    return path, text


def _unknown_key_message(path: ConfigPath, owner: type[BaseModel] | None) -> str:
    if owner is None or not path:
        return "unknown key"
    allowed = list(owner.model_fields)
    close = difflib.get_close_matches(str(path[-1]), allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key (allowed here: {', '.join(allowed)})"


def _walk(loc: tuple[str | int, ...]) -> tuple[ConfigPath, Any, type[BaseModel] | None]:
    """Follow a pydantic ``loc`` through the model classes, dropping union tags.

    Returns the clean path, the annotation found at its end, and the model that owns its last key.
    """
    annotation: Any = SiteConfig
    path: list[str | int] = []
    owner: type[BaseModel] | None = None
    for element in loc:
        annotation = unwrap_annotation(annotation)
        members = _union_members(annotation)
        if element == "[key]":
            continue
        if members is not None and isinstance(element, str):
            annotation = _member_for_tag(members, element)
            continue
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            owner = annotation
            info = annotation.model_fields.get(str(element))
            annotation = info.annotation if info is not None else Any
        elif origin in (list, tuple, set, frozenset) and isinstance(element, int):
            args = get_args(annotation)
            annotation = args[0] if args else Any
            owner = None
        elif origin is dict:
            args = get_args(annotation)
            annotation = args[1] if len(args) == 2 else Any
            owner = None
        else:
            annotation = Any
            owner = None
        path.append(element)
    return tuple(path), annotation, owner


def _union_members(annotation: Any) -> list[Any] | None:
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) > 1:
            return members
    return None


def _member_for_tag(members: list[Any], tag: str) -> Any:
    for member in members:
        candidate = unwrap_annotation(member)
        if getattr(candidate, "__name__", None) == tag or tag in _literal_tags(candidate):
            return candidate
    return Any


def _literal_tags(model: Any) -> list[str]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    tags: list[str] = []
    for info in model.model_fields.values():
        if get_origin(info.annotation) is Literal:
            tags += [str(a) for a in get_args(info.annotation)]
    return tags


def _union_tags(annotation: Any) -> list[str]:
    members = _union_members(unwrap_annotation(annotation)) or []
    tags: list[str] = []
    for member in members:
        found = _literal_tags(unwrap_annotation(member))
        tags += found[:1]
    return tags


def _plural(items: list[str]) -> str:
    return "s" if len(items) > 1 else ""


def _common_prefix(a: ConfigPath, b: ConfigPath) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n


def _has_path(data: Any, path: ConfigPath) -> bool:
    for element in path:
        in_dict = isinstance(data, dict) and element in data
        in_list = isinstance(data, list) and isinstance(element, int) and 0 <= element < len(data)
        if not (in_dict or in_list):
            return False
        data = data[element]
    return True


def _rebase_relative_paths(config: SiteConfig, base: Path) -> SiteConfig:
    rebased = _rebase(config, base, None)
    assert isinstance(rebased, SiteConfig)
    return rebased


def _rebase(value: Any, base: Path, key: str | None) -> Any:
    """Make ``*_file`` paths and ``driver`` profile paths relative to the site file's directory."""
    if isinstance(value, BaseModel):
        updates = {}
        for name in type(value).model_fields:
            old = getattr(value, name)
            new = _rebase(old, base, name)
            if new is not old:
                updates[name] = new
        return value.model_copy(update=updates) if updates else value
    if isinstance(value, list):
        items = [_rebase(item, base, key) for item in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, Path) and key is not None and key.endswith("_file") and not value.is_absolute():
        return base / value
    if key == "driver" and isinstance(value, str) and is_profile_path(value) and not Path(value).is_absolute():
        return str(base / value)
    return value


def is_profile_path(driver: str) -> bool:
    """True when ``driver`` names a profile file rather than a bundled profile or ``sunspec``."""
    return driver.endswith((".yaml", ".yml")) or "/" in driver


def iter_fields(value: Any, path: ConfigPath = ()) -> Iterator[tuple[ConfigPath, str, Any]]:
    """Every (path, key, value) of a validated model, depth first (used by check.py for ``*_file`` keys)."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            child = getattr(value, name)
            yield (*path, name), name, child
            yield from iter_fields(child, (*path, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_fields(item, (*path, index))
