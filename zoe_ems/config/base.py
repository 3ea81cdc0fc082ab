"""Base class for site-file models and the error type validators use to report several problems at once.

Unknown keys are errors and values are frozen. Nothing here reads files or the environment.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

ConfigPath = tuple[str | int, ...]
"""A location in the site file, e.g. ``("devices", 2, "bms")``."""

Finding = tuple[ConfigPath, str]
"""A problem found by a cross-check: where (relative to the model that found it) and what."""


class StrictModel(BaseModel):
    """A section of the site file. Unknown keys are rejected so that a typo never disables a limit."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class CrossCheckError(ValueError):
    """Raised by a model validator that found one or more problems, each with its own path.

    Paths are relative to the model that raises; the loader turns each finding into its own
    ``FILE:LINE: dotted.path: message`` line.
    """

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__("; ".join(f"{dotted(path)}: {message}" for path, message in findings))
        self.findings = findings


def dotted(path: ConfigPath) -> str:
    """``("devices", 2, "bms")`` → ``"devices.2.bms"``; the empty path is ``(root)``."""
    return ".".join(str(part) for part in path) if path else "(root)"
