"""Specification of register encoding/decoding: every type, both word orders, scaling, sentinels."""

from __future__ import annotations

import math

import pytest

from drivers.codec import (
    CodecError,
    DataType,
    WordOrder,
    decode,
    encode,
    from_si,
    is_not_implemented,
    not_implemented_value,
    register_count,
    to_si,
)

# (type, value, big-endian words) taken from the byte layouts in the Modbus/IEEE 754 specifications.
KNOWN_ENCODINGS: list[tuple[DataType, int | float, list[int]]] = [
    (DataType.U16, 50000, [0xC350]),
    (DataType.I16, -2, [0xFFFE]),
    (DataType.U32, 0x12345678, [0x1234, 0x5678]),
    (DataType.I32, -100000, [0xFFFE, 0x7960]),
    (DataType.U64, 0x0102030405060708, [0x0102, 0x0304, 0x0506, 0x0708]),
    (DataType.I64, -2, [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE]),
    (DataType.F32, 230.5, [0x4366, 0x8000]),
    (DataType.F64, -1.5, [0xBFF8, 0x0000, 0x0000, 0x0000]),
]


@pytest.mark.parametrize(("data_type", "value", "words"), KNOWN_ENCODINGS)
def test_big_word_order_puts_the_high_word_first(data_type: DataType, value: float, words: list[int]) -> None:
    assert encode(value, data_type, WordOrder.BIG) == words
    assert decode(words, data_type, WordOrder.BIG) == value


@pytest.mark.parametrize(("data_type", "value", "words"), KNOWN_ENCODINGS)
def test_little_word_order_puts_the_low_word_first(data_type: DataType, value: float, words: list[int]) -> None:
    assert encode(value, data_type, WordOrder.LITTLE) == list(reversed(words))
    assert decode(list(reversed(words)), data_type, WordOrder.LITTLE) == value


@pytest.mark.parametrize("data_type", [t for t in DataType if t not in (DataType.STRING, DataType.BOOL)])
@pytest.mark.parametrize("word_order", list(WordOrder))
def test_every_numeric_type_round_trips_its_extremes(data_type: DataType, word_order: WordOrder) -> None:
    bits = {"16": 16, "32": 32, "64": 64}[data_type.value[1:]]
    if data_type.value.startswith("u"):
        extremes: list[float] = [0, 2**bits - 1]
    elif data_type.value.startswith("i"):
        extremes = [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1, -1]
    else:
        extremes = [-12345.5, 0.0, 3.25e9 if data_type is DataType.F64 else 2.0**40]
    for value in extremes:
        words = encode(value, data_type, word_order)
        assert len(words) == register_count(data_type)
        assert all(0 <= w <= 0xFFFF for w in words)
        assert decode(words, data_type, word_order) == value


def test_integers_are_rounded_and_range_checked() -> None:
    assert encode(12.6, DataType.U16) == [13]
    assert encode(-0.4, DataType.I16) == [0]
    with pytest.raises(CodecError, match="out of range for u16"):
        encode(-1, DataType.U16)
    with pytest.raises(CodecError, match="out of range for i16"):
        encode(40000, DataType.I16)
    with pytest.raises(CodecError, match="u32"):
        encode(math.inf, DataType.U32)


def test_bool_is_one_register_nonzero_is_true() -> None:
    assert encode(True, DataType.BOOL) == [1]
    assert encode(0, DataType.BOOL) == [0]
    assert decode([0x0100], DataType.BOOL) is True
    assert decode([0], DataType.BOOL) is False


def test_strings_are_ascii_two_characters_per_register_nul_padded() -> None:
    words = encode("SDM630", DataType.STRING, length=4)
    assert words == [0x5344, 0x4D36, 0x3330, 0x0000]
    assert decode(words, DataType.STRING) == "SDM630"
    assert decode(encode("ABC", DataType.STRING, length=2), DataType.STRING) == "ABC"
    with pytest.raises(CodecError, match="longer than 2 registers"):
        encode("ABCDE", DataType.STRING, length=2)
    with pytest.raises(CodecError, match="need a length"):
        register_count(DataType.STRING)


def test_decode_rejects_wrong_lengths_and_non_words() -> None:
    with pytest.raises(CodecError, match="i32 needs 2 registers, got 1"):
        decode([1], DataType.I32)
    with pytest.raises(CodecError, match="not a 16-bit word"):
        decode([0x10000], DataType.U16)
    with pytest.raises(CodecError, match="text"):
        encode("12", DataType.U16)


def test_sunspec_sentinels_mean_not_implemented_by_default() -> None:
    assert is_not_implemented(0xFFFF, DataType.U16)
    assert is_not_implemented(-0x8000, DataType.I16)
    assert is_not_implemented(0xFFFFFFFF, DataType.U32)
    assert is_not_implemented(-0x80000000, DataType.I32)
    assert is_not_implemented(0xFFFFFFFFFFFFFFFF, DataType.U64)
    assert is_not_implemented(decode([0x7FC0, 0], DataType.F32), DataType.F32)
    assert not is_not_implemented(0xFFFE, DataType.U16)
    assert not is_not_implemented(-1, DataType.I16)
    assert not is_not_implemented(True, DataType.BOOL)


def test_explicit_sentinels_replace_the_defaults() -> None:
    assert not is_not_implemented(0xFFFF, DataType.U16, sentinels=[])
    assert is_not_implemented(0, DataType.U16, sentinels=[0])
    assert not is_not_implemented(0xFFFF, DataType.U16, sentinels=[0])
    assert not_implemented_value(DataType.U16) == 0xFFFF
    assert not_implemented_value(DataType.U16, [0x7FFF, 0]) == 0x7FFF
    assert not_implemented_value(DataType.U16, []) is None
    assert not_implemented_value(DataType.BOOL) is None


def test_scaling_applies_scale_power_of_ten_and_offset() -> None:
    assert to_si(2305, scale=1, sf=-1) == 230.5
    assert to_si(-1234, scale=1, sf=-2) == -12.34
    assert to_si(5, scale=10, sf=2) == 5000
    assert to_si(2981, scale=0.1, offset=-273.15) == pytest.approx(24.95)
    assert from_si(230.5, sf=-1) == pytest.approx(2305)
    assert from_si(24.95, scale=0.1, offset=-273.15) == pytest.approx(2981)


@pytest.mark.parametrize("sf", [-3, -2, -1, 0, 1, 2])
def test_from_si_inverts_to_si_for_every_exponent(sf: int) -> None:
    for raw in (-32768, -1, 0, 7, 31999):
        value = to_si(raw, scale=0.5, sf=sf, offset=3.0)
        assert round(from_si(value, scale=0.5, sf=sf, offset=3.0)) == raw
