"""Register access for SunSpec points: read planning, point decoding with scale factors, write encoding.

Pure functions over model layouts and register maps (absolute address -> 16-bit word); the driver and
the simulated-device image share them. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from drivers.sunspec.models import ModelLayout, PointLayout
from drivers.sunspec.values import (
    SunSpecValue,
    SunSpecValueError,
    apply_scale,
    decode_raw,
    encode_raw,
    integer_range,
    unscale,
)

MAX_READ_REGISTERS = 125
"""Modbus limit for one read of holding registers."""
MAX_WRITE_REGISTERS = 123
"""Modbus limit for one write of multiple registers."""
READ_GAP_REGISTERS = 16
"""Unneeded registers a read may span to save a request."""


@dataclass(frozen=True)
class Span:
    """A contiguous register range: one read or write request."""

    address: int
    count: int

    @property
    def end(self) -> int:
        return self.address + self.count


def plan_reads(
    ranges: Iterable[tuple[int, int]], max_gap: int = READ_GAP_REGISTERS, max_count: int = MAX_READ_REGISTERS
) -> list[Span]:
    """Cover (address, count) ranges with few requests of at most ``max_count`` registers.

    Ranges closer than ``max_gap`` are merged; a long run is split at ``max_count`` (a multi-register
    value may straddle two requests, which is fine since both are decoded together afterwards).
    """
    merged: list[list[int]] = []
    for address, count in sorted(r for r in ranges if r[1] > 0):
        end = address + count
        if merged and address <= merged[-1][1] + max_gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([address, end])
    spans: list[Span] = []
    for start, end in merged:
        while start < end:
            count = min(max_count, end - start)
            spans.append(Span(start, count))
            start += count
    return spans


def point_ranges(layout: ModelLayout, model_address: int, paths: Iterable[str]) -> list[tuple[int, int]]:
    """Register ranges of the given points plus the scale factors they reference."""
    ranges: list[tuple[int, int]] = []
    for path in paths:
        if path not in layout:
            continue
        placed = layout[path]
        ranges.append((model_address + placed.offset, placed.point.size))
        if placed.sf_path is not None and placed.sf_path in layout:
            sf = layout[placed.sf_path]
            ranges.append((model_address + sf.offset, sf.point.size))
    return ranges


def read_raw(placed: PointLayout, registers: Mapping[int, int], model_address: int) -> SunSpecValue | None:
    """Raw value of a point (sentinel -> None); None also when its registers were not read."""
    start = model_address + placed.offset
    words: list[int] = []
    for address in range(start, start + placed.point.size):
        word = registers.get(address)
        if word is None:
            return None
        words.append(word)
    return decode_raw(placed.point.type, words)


def scale_factor(
    layout: ModelLayout, placed: PointLayout, registers: Mapping[int, int], model_address: int
) -> int | None:
    """The exponent that applies to ``placed`` (fixed or read from its sunssf point), or None."""
    if isinstance(placed.point.sf, int):
        return placed.point.sf
    if placed.sf_path is None or placed.sf_path not in layout:
        return None
    raw = read_raw(layout[placed.sf_path], registers, model_address)
    return raw if isinstance(raw, int) else None


def read_point(
    layout: ModelLayout,
    path: str,
    registers: Mapping[int, int],
    model_address: int,
    sf_override: Mapping[str, int] | None = None,
) -> SunSpecValue | None:
    """Engineering value of a point: raw * 10**sf; None for sentinels, missing registers or bad sf.

    ``sf_override`` supplies cached scale factors (by sf path) when the sf registers were not read.
    """
    if path not in layout:
        return None
    placed = layout[path]
    raw = read_raw(placed, registers, model_address)
    has_sf = placed.point.sf is not None
    sf = scale_factor(layout, placed, registers, model_address) if has_sf else None
    if has_sf and sf is None and sf_override is not None and placed.sf_path is not None:
        sf = sf_override.get(placed.sf_path)
    return apply_scale(raw, sf, has_sf=has_sf)


def encode_point(placed: PointLayout, value: SunSpecValue, sf: int | None) -> list[int]:
    """Registers for engineering ``value`` of a point; enum/bitfield symbols may be given by name.

    Raises SunSpecValueError naming the point when the value cannot be represented.
    """
    point = placed.point
    try:
        if isinstance(value, str) and point.type != "string":
            if value not in point.symbols:
                raise SunSpecValueError(f"unknown symbol {value!r} (known: {', '.join(point.symbols) or 'none'})")
            value = point.symbols[value]
        if isinstance(value, str):
            return encode_raw(point.type, value, point.size)
        raw = unscale(float(value), sf, has_sf=point.sf is not None) if point.sf is not None else value
        if point.type not in ("float32", "float64"):
            raw = round(raw)
            bounds = integer_range(point.type)
            if bounds is not None and not bounds[0] <= raw <= bounds[1]:
                raise SunSpecValueError(f"value {value} (raw {raw}) outside {bounds[0]}..{bounds[1]}")
        return encode_raw(point.type, raw, point.size)
    except SunSpecValueError as exc:
        raise SunSpecValueError(f"point {placed.path} ({point.type}): {exc}") from None


def plan_writes(
    words_by_address: Mapping[int, int], max_count: int = MAX_WRITE_REGISTERS
) -> list[tuple[int, list[int]]]:
    """Group single registers into contiguous write requests of at most ``max_count`` registers."""
    requests: list[tuple[int, list[int]]] = []
    for address in sorted(words_by_address):
        word = words_by_address[address]
        if requests:
            start, values = requests[-1]
            if address == start + len(values) and len(values) < max_count:
                values.append(word)
                continue
        requests.append((address, [word]))
    return requests
