"""Canonical JSON and HMAC-SHA256 signatures of northbound messages (protocol v1).

The signature covers ``json.dumps(message_without_sig, sort_keys=True, separators=(",", ":"),
ensure_ascii=False).encode()``. This module only computes and compares digests; it never reads
messages from the network and never decides what to do with a bad signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

SIG_FIELD = "sig"


def canonical_bytes(message: dict[str, Any]) -> bytes:
    """The bytes that are signed: ``message`` without ``sig``, sorted keys, compact separators, UTF-8."""
    unsigned = {k: v for k, v in message.items() if k != SIG_FIELD}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(message: dict[str, Any], key: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of the canonical form of ``message``."""
    return hmac.new(key, canonical_bytes(message), hashlib.sha256).hexdigest()


def signed(message: dict[str, Any], key: bytes) -> dict[str, Any]:
    """A copy of ``message`` with its ``sig`` set."""
    out = {k: v for k, v in message.items() if k != SIG_FIELD}
    out[SIG_FIELD] = sign(out, key)
    return out


def verify(message: dict[str, Any], key: bytes) -> bool:
    """True when ``message['sig']`` is the correct signature (constant-time comparison)."""
    sig = message.get(SIG_FIELD)
    if not isinstance(sig, str):
        return False
    return hmac.compare_digest(sig.lower(), sign(message, key))


def load_key(path: Path) -> bytes:
    """The signing key: the raw bytes of ``path``. Raises ValueError naming the file when unusable."""
    try:
        key = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"northbound.command_key_file: cannot read {path}: {exc.strerror or exc}") from None
    if len(key) < 16:
        raise ValueError(f"northbound.command_key_file: {path} holds {len(key)} bytes; at least 16 are required")
    return key
