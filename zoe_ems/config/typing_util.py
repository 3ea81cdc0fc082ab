"""Annotation helpers shared by the site-file loader (error locations) and the documentation generator."""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin


def unwrap_annotation(annotation: Any) -> Any:
    """Strip ``Annotated[...]`` and ``Optional[...]`` (``X | None``) until a bare type or a real union remains."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation
