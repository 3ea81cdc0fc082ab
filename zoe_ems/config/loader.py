"""Reading a site file: YAML with line numbers, validation, and precise error messages.

Every problem becomes ``FILE:LINE: dotted.path: message``; nothing here raises a traceback at users.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from zoe_ems.config.model import SiteConfig


@dataclass(frozen=True)
class ConfigProblem:
    """One problem found in a site file."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message}"


class ConfigError(Exception):
    """A site file could not be loaded; ``problems`` lists every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_site_config(path: str | Path) -> SiteConfig:
    """Load and validate a site file. Raises ConfigError listing every problem with its line."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigProblem(file, 0, "(file)", f"cannot read: {exc.strerror or exc}")]) from None
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise ConfigError(
            [ConfigProblem(file, line, "(yaml)", f"malformed YAML: {getattr(exc, 'problem', exc)}")]
        ) from None
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(file, 1, "(root)", "the site file must be a mapping")])
    try:
        return SiteConfig(**data)
    except ValidationError as exc:
        problems = [
            ConfigProblem(file, 0, ".".join(str(p) for p in err["loc"]) or "(root)", err["msg"]) for err in exc.errors()
        ]
        raise ConfigError(problems) from None
