"""`zoe-ems config-schema`: the JSON Schema of the site file, generated from the pydantic models.

Static by design: checks that need the installation (profiles, files) are not in the schema.
"""

from __future__ import annotations

import json
from typing import Any

from zoe_ems.config.model import SiteConfig

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def config_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a site file."""
    schema = SiteConfig.model_json_schema(mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "ZOE-EMS site file",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def config_schema_json() -> str:
    """The JSON Schema as indented JSON text (what ``zoe-ems config-schema`` prints)."""
    return json.dumps(config_schema(), indent=2, ensure_ascii=False)
