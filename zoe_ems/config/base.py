"""Base class for site-file models: unknown keys are errors, values are validated on assignment."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A section of the site file. Unknown keys are rejected so that a typo never disables a limit."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
