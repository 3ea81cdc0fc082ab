"""JSON Schemas of the northbound messages, exported from the pydantic models into ``docs/schemas/``.

Run ``python -m zoe_ems.northbound.schemas [DIR]`` after changing ``messages.py``; a test checks the
committed files are up to date. Never hand-edit the generated files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from zoe_ems.northbound.messages import SCHEMA_MODELS

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def schema_documents() -> dict[str, str]:
    """File name -> JSON text of every exported schema."""
    out: dict[str, str] = {}
    for name, model in SCHEMA_MODELS.items():
        schema: dict[str, Any]
        if isinstance(model, TypeAdapter):
            schema = model.json_schema()
        elif isinstance(model, type) and issubclass(model, BaseModel):
            schema = model.model_json_schema()
        else:  # pragma: no cover - SCHEMA_MODELS holds only models and adapters
            raise TypeError(name)
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://zoe-ems.example/schemas/northbound/v1/{name}.json",
            "title": schema.pop("title", name),
            **schema,
        }
        out[f"{name}.json"] = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return out


def export_schemas(directory: Path = DEFAULT_DIR) -> list[Path]:
    """Write every schema into ``directory``; returns the written paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, text in schema_documents().items():
        path = directory / file_name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    for path in export_schemas(Path(args[0]) if args else DEFAULT_DIR):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
