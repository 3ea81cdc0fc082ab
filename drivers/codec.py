"""Encoding and decoding of Modbus register values (16-bit words) for every supported data type.

Pure functions, no I/O, no knowledge of profiles or devices. Multi-register values honour a word
order (``big``: high word first, the Modbus/SunSpec norm; ``little``: low word first). Bytes inside
a register are always big-endian. Also holds the scale arithmetic (raw <-> SI) and the
"not implemented" sentinels, so the driver and the simulators' register image share one definition.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from enum import StrEnum

RawValue = int | float | str | bool
"""A decoded register value before scaling."""


class DataType(StrEnum):
    """Register data types a profile may declare."""

    BOOL = "bool"
    U16 = "u16"
    I16 = "i16"
    U32 = "u32"
    I32 = "i32"
    U64 = "u64"
    I64 = "i64"
    F32 = "f32"
    F64 = "f64"
    STRING = "string"


class WordOrder(StrEnum):
    """Order of 16-bit words in a multi-register value."""

    BIG = "big"
    LITTLE = "little"


INTEGER_TYPES = frozenset({DataType.U16, DataType.I16, DataType.U32, DataType.I32, DataType.U64, DataType.I64})
FLOAT_TYPES = frozenset({DataType.F32, DataType.F64})

# SunSpec-style "not implemented" sentinels per type (floats use NaN).
NOT_IMPLEMENTED: dict[DataType, int | float] = {
    DataType.U16: 0xFFFF,
    DataType.I16: -0x8000,
    DataType.U32: 0xFFFFFFFF,
    DataType.I32: -0x80000000,
    DataType.U64: 0xFFFFFFFFFFFFFFFF,
    DataType.I64: -0x8000000000000000,
    DataType.F32: math.nan,
    DataType.F64: math.nan,
}


class CodecError(ValueError):
    """A value cannot be encoded or a register block cannot be decoded."""


def register_count(data_type: DataType, length: int | None = None) -> int:
    """Registers occupied by one value (``length`` is the register count of a string)."""
    if data_type is DataType.STRING:
        if length is None or length < 1:
            raise CodecError("string points need a length in registers")
        return length
    if data_type is DataType.BOOL:
        return 1
    return _STRUCT[data_type][1]


def decode(words: Sequence[int], data_type: DataType, word_order: WordOrder = WordOrder.BIG) -> RawValue:
    """Decode registers into a raw value (before scaling)."""
    _check_words(words)
    if data_type is DataType.BOOL:
        if len(words) != 1:
            raise CodecError(f"bool needs 1 register, got {len(words)}")
        return bool(words[0])
    if data_type is DataType.STRING:
        raw = b"".join(w.to_bytes(2, "big") for w in words)
        return raw.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()
    fmt, count = _STRUCT[data_type]
    if len(words) != count:
        raise CodecError(f"{data_type.value} needs {count} registers, got {len(words)}")
    raw = b"".join(w.to_bytes(2, "big") for w in _ordered(words, word_order))
    value: int | float = struct.unpack(fmt, raw)[0]
    return value


def encode(
    value: RawValue,
    data_type: DataType,
    word_order: WordOrder = WordOrder.BIG,
    length: int | None = None,
) -> list[int]:
    """Encode a raw value (after unscaling) into registers. Integers are rounded; range is checked."""
    if data_type is DataType.BOOL:
        return [1 if value else 0]
    if data_type is DataType.STRING:
        count = register_count(data_type, length)
        try:
            raw = str(value).encode("ascii")
        except UnicodeEncodeError:
            raise CodecError(f"text {value!r} is not ASCII") from None
        if len(raw) > count * 2:
            raise CodecError(f"text {value!r} is longer than {count} registers ({count * 2} characters)")
        raw = raw.ljust(count * 2, b"\x00")
        return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, count * 2, 2)]
    fmt, _count = _STRUCT[data_type]
    if isinstance(value, str):
        raise CodecError(f"cannot encode text {value!r} as {data_type.value}")
    packed_value: int | float
    if data_type in FLOAT_TYPES:
        packed_value = float(value)
    else:
        if isinstance(value, float) and not math.isfinite(value):
            raise CodecError(f"cannot encode {value} as {data_type.value}")
        packed_value = round(value)
    try:
        raw = struct.pack(fmt, packed_value)
    except (struct.error, OverflowError):
        raise CodecError(f"value {value} out of range for {data_type.value}") from None
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return _ordered(words, word_order)


def is_not_implemented(raw: RawValue, data_type: DataType, sentinels: Sequence[int | float] | None = None) -> bool:
    """True when ``raw`` means "not implemented".

    ``sentinels`` None uses the SunSpec defaults of the type (and NaN for floats); an explicit
    sequence replaces them (empty: no sentinel at all). NaN floats are always "not implemented".
    """
    if isinstance(raw, float) and math.isnan(raw):
        return True
    if isinstance(raw, str | bool):
        return False
    if sentinels is None:
        sentinel = NOT_IMPLEMENTED.get(data_type)
        return sentinel is not None and not _is_nan(sentinel) and raw == sentinel
    return any(raw == s for s in sentinels if not _is_nan(s))


def not_implemented_value(data_type: DataType, sentinels: Sequence[int | float] | None = None) -> int | float | None:
    """The raw value a device reports for "not implemented" (first explicit sentinel or the type default)."""
    if sentinels is not None:
        return sentinels[0] if sentinels else None
    return NOT_IMPLEMENTED.get(data_type)


def to_si(raw: float, *, scale: float = 1.0, sf: int = 0, offset: float = 0.0) -> float:
    """SI value of a raw register value: ``raw * scale * 10**sf + offset``."""
    value = raw * scale
    # Dividing by an exact power of ten keeps 2305 * 10**-1 at 230.5 instead of 230.50000000000003.
    value = value / 10.0 ** (-sf) if sf < 0 else value * 10.0**sf
    return value + offset


def from_si(value: float, *, scale: float = 1.0, sf: int = 0, offset: float = 0.0) -> float:
    """Raw register value (unrounded) for an SI value; the inverse of ``to_si``."""
    raw = value - offset
    raw = raw * 10.0 ** (-sf) if sf < 0 else raw / 10.0**sf
    return raw / scale


# --- private helpers ---------------------------------------------------------------------------

_STRUCT: dict[DataType, tuple[str, int]] = {
    DataType.U16: (">H", 1),
    DataType.I16: (">h", 1),
    DataType.U32: (">I", 2),
    DataType.I32: (">i", 2),
    DataType.U64: (">Q", 4),
    DataType.I64: (">q", 4),
    DataType.F32: (">f", 2),
    DataType.F64: (">d", 4),
}


def _ordered(words: Sequence[int], word_order: WordOrder) -> list[int]:
    return list(reversed(words)) if word_order is WordOrder.LITTLE else list(words)


def _check_words(words: Sequence[int]) -> None:
    for w in words:
        if not 0 <= w <= 0xFFFF:
            raise CodecError(f"register value {w} is not a 16-bit word")


def _is_nan(value: int | float) -> bool:
    return isinstance(value, float) and math.isnan(value)
