"""SunSpec point values: register size, decoding, encoding and "not implemented" sentinels per SunSpec type.

Pure functions on 16-bit words (big-endian words, high word first, as SunSpec requires). Decoding turns a
sentinel into None; scaling applies an int16 power-of-ten scale factor. No I/O, no model knowledge.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

SunSpecValue = int | float | str
"""A decoded SunSpec value: int for integer types, float for floats and scaled values, str for strings."""

SF_MIN = -10
SF_MAX = 10
"""Valid scale-factor range per the SunSpec information model specification."""


class SunSpecValueError(ValueError):
    """A value cannot be encoded for, or decoded from, a SunSpec point type."""


def type_size(type_name: str, size: int | None = None) -> int:
    """Registers occupied by one value of ``type_name`` (``size`` is required for strings)."""
    if type_name == "string":
        if size is None or size < 1:
            raise SunSpecValueError("string points need a size in registers")
        return size
    try:
        return _SIZES[type_name]
    except KeyError:
        raise SunSpecValueError(f"unknown SunSpec point type {type_name!r}") from None


def is_known_type(type_name: str) -> bool:
    """True when ``type_name`` is a SunSpec point type this module understands."""
    return type_name == "string" or type_name in _SIZES


def decode_raw(type_name: str, words: Sequence[int]) -> SunSpecValue | None:
    """Decode the registers of one point into its raw (unscaled) value; None for "not implemented"."""
    if type_name == "pad":
        return None
    if type_name == "string":
        raw = b"".join((w & 0xFFFF).to_bytes(2, "big") for w in words)
        if not raw or raw[0] == 0:
            return None
        return raw.split(b"\x00", 1)[0].decode("ascii", errors="replace").rstrip()
    fmt = _STRUCT.get(type_name)
    if fmt is None:
        if type_name in ("ipv6addr", "eui48"):
            raw = b"".join((w & 0xFFFF).to_bytes(2, "big") for w in words)
            if all(b == 0 for b in raw) or all(b == 0xFF for b in raw):
                return None
            return raw.hex()
        raise SunSpecValueError(f"unknown SunSpec point type {type_name!r}")
    expected = _SIZES[type_name]
    if len(words) != expected:
        raise SunSpecValueError(f"{type_name} needs {expected} registers, got {len(words)}")
    for word in words:
        if not 0 <= word <= 0xFFFF:
            raise SunSpecValueError(f"register value {word} is not a 16-bit word")
    value: int | float = struct.unpack(fmt, b"".join(w.to_bytes(2, "big") for w in words))[0]
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if value == _SENTINEL.get(type_name):
        return None
    return value


def encode_raw(type_name: str, value: SunSpecValue, size: int | None = None) -> list[int]:
    """Encode a raw (already unscaled) value into registers; integers are rounded and range-checked."""
    count = type_size(type_name, size)
    if type_name == "string":
        raw = str(value).encode("ascii")[: count * 2].ljust(count * 2, b"\x00")
        return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, count * 2, 2)]
    fmt = _STRUCT.get(type_name)
    if fmt is None:
        raise SunSpecValueError(f"cannot encode values of SunSpec type {type_name!r}")
    if isinstance(value, str):
        raise SunSpecValueError(f"cannot encode text {value!r} as {type_name}")
    packed: int | float
    if type_name in ("float32", "float64"):
        packed = float(value)
    else:
        if isinstance(value, float) and not math.isfinite(value):
            raise SunSpecValueError(f"cannot encode {value} as {type_name}")
        packed = round(value)
    try:
        raw = struct.pack(fmt, packed)
    except (struct.error, OverflowError):
        raise SunSpecValueError(f"value {value} out of range for {type_name}") from None
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def not_implemented_words(type_name: str, size: int | None = None) -> list[int]:
    """The registers a device shows for an unimplemented point of ``type_name``."""
    count = type_size(type_name, size)
    if type_name in ("string", "pad", "ipv6addr"):
        return [0] * count
    if type_name == "eui48":
        return [0xFFFF] * count
    if type_name == "float32":
        return [0x7FC0, 0x0000]
    if type_name == "float64":
        return [0x7FF8, 0, 0, 0]
    return encode_raw(type_name, _SENTINEL[type_name])


def apply_scale(raw: SunSpecValue | None, sf: int | None, *, has_sf: bool) -> SunSpecValue | None:
    """Engineering value ``raw * 10**sf``. ``has_sf`` says whether the point declares a scale factor;
    when it does, a missing or out-of-range ``sf`` makes the value None."""
    if raw is None or isinstance(raw, str):
        return raw
    if not has_sf:
        return raw
    if sf is None or not SF_MIN <= sf <= SF_MAX:
        return None
    return float(raw) * 10.0**sf if sf < 0 else float(raw * 10**sf)


def unscale(value: float, sf: int | None, *, has_sf: bool) -> float:
    """Raw register value for engineering ``value`` (inverse of :func:`apply_scale`, before rounding)."""
    if not has_sf:
        return value
    if sf is None or not SF_MIN <= sf <= SF_MAX:
        raise SunSpecValueError(f"scale factor {sf} is not usable (valid range {SF_MIN}..{SF_MAX})")
    return value / 10.0**sf


def integer_range(type_name: str) -> tuple[int, int] | None:
    """Inclusive range of implemented raw values for an integer type (sentinel excluded), else None."""
    return _RANGE.get(type_name)


# --- private tables ---------------------------------------------------------------------------

_SIZES: dict[str, int] = {
    "int16": 1,
    "uint16": 1,
    "count": 1,
    "acc16": 1,
    "enum16": 1,
    "bitfield16": 1,
    "pad": 1,
    "sunssf": 1,
    "int32": 2,
    "uint32": 2,
    "acc32": 2,
    "enum32": 2,
    "bitfield32": 2,
    "ipaddr": 2,
    "float32": 2,
    "int64": 4,
    "uint64": 4,
    "acc64": 4,
    "float64": 4,
    "eui48": 4,
    "ipv6addr": 8,
}

_STRUCT: dict[str, str] = {
    "int16": ">h",
    "sunssf": ">h",
    "uint16": ">H",
    "count": ">H",
    "acc16": ">H",
    "enum16": ">H",
    "bitfield16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "acc32": ">I",
    "enum32": ">I",
    "bitfield32": ">I",
    "ipaddr": ">I",
    "int64": ">q",
    "uint64": ">Q",
    "acc64": ">Q",
    "float32": ">f",
    "float64": ">d",
}

# "Not implemented" raw values (SunSpec information model specification; accumulators use 0).
_SENTINEL: dict[str, int] = {
    "int16": -0x8000,
    "sunssf": -0x8000,
    "uint16": 0xFFFF,
    "count": 0xFFFF,
    "enum16": 0xFFFF,
    "bitfield16": 0xFFFF,
    "acc16": 0,
    "int32": -0x80000000,
    "uint32": 0xFFFFFFFF,
    "enum32": 0xFFFFFFFF,
    "bitfield32": 0xFFFFFFFF,
    "acc32": 0,
    "ipaddr": 0,
    "int64": -0x8000000000000000,
    "uint64": 0xFFFFFFFFFFFFFFFF,
    "acc64": 0,
}

_RANGE: dict[str, tuple[int, int]] = {
    "int16": (-0x7FFF, 0x7FFF),
    "sunssf": (SF_MIN, SF_MAX),
    "uint16": (0, 0xFFFE),
    "count": (0, 0xFFFE),
    "enum16": (0, 0xFFFE),
    "bitfield16": (0, 0x7FFF),
    "acc16": (0, 0xFFFF),
    "int32": (-0x7FFFFFFF, 0x7FFFFFFF),
    "uint32": (0, 0xFFFFFFFE),
    "enum32": (0, 0xFFFFFFFE),
    "bitfield32": (0, 0x7FFFFFFF),
    "acc32": (0, 0xFFFFFFFF),
    "int64": (-0x7FFFFFFFFFFFFFFF, 0x7FFFFFFFFFFFFFFF),
    "uint64": (0, 0xFFFFFFFFFFFFFFFE),
    "acc64": (0, 0xFFFFFFFFFFFFFFFF),
}
