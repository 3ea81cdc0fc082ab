"""Block-read planning: which register ranges to read for a set of profile points, and how to split a
block's words back into raw point values.

Points are grouped by Modbus function, sorted by address and coalesced across small gaps into blocks
within the request limits (125 registers, 2000 bits). The scale-factor registers a point needs are
planned together with it. Pure data and arithmetic: no I/O, no scaling, no sign handling.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from drivers.codec import CodecError, DataType, RawValue, WordOrder, decode, is_not_implemented
from drivers.profile import Function, PollClass, Profile

MAX_READ_REGISTERS = 125
"""Modbus limit for one read of holding or input registers."""
MAX_READ_BITS = 2000
"""Modbus limit for one read of coils or discrete inputs."""
DEFAULT_MAX_GAP = 8


@dataclass(frozen=True, kw_only=True, slots=True)
class BlockEntry:
    """One value inside a block: a profile point or a scale-factor register."""

    key: str
    """Point name, or scale-factor name when ``is_scale_factor``."""
    is_scale_factor: bool
    address: int
    count: int
    data_type: DataType
    word_order: WordOrder
    sentinels: tuple[int | float, ...] | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Block:
    """One read request: ``count`` registers (or bits) of ``function`` from ``start``."""

    function: Function
    start: int
    count: int
    entries: tuple[BlockEntry, ...]

    @property
    def point_names(self) -> tuple[str, ...]:
        """Names of the profile points (not scale factors) in this block."""
        return tuple(e.key for e in self.entries if not e.is_scale_factor)

    def decode(self, words: Sequence[int]) -> DecodedBlock:
        """Split the reply into raw values; a bad entry is reported in ``errors`` and the others survive."""
        result = DecodedBlock()
        for entry in self.entries:
            begin = entry.address - self.start
            chunk = words[begin : begin + entry.count]
            try:
                if len(chunk) != entry.count:
                    raise CodecError(f"reply has {len(words)} of {self.count} {self.function.value} values")
                raw = decode(chunk, entry.data_type, entry.word_order)
                missing = is_not_implemented(raw, entry.data_type, entry.sentinels)
            except CodecError as exc:
                result.errors[entry.key] = f"{self.function.value} {entry.address}: {exc}"
                raw, missing = None, True
            if entry.is_scale_factor:
                result.scale_factors[entry.key] = None if missing or not isinstance(raw, int) else int(raw)
            else:
                result.points[entry.key] = None if missing else raw
        return result


@dataclass(kw_only=True, slots=True)
class DecodedBlock:
    """Raw values of one block (None = "not implemented" or undecodable) and decode errors by key."""

    points: dict[str, RawValue | None] = field(default_factory=dict)
    scale_factors: dict[str, int | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def points_in(profile: Profile, poll_classes: Collection[PollClass]) -> list[str]:
    """Names of the profile's points whose poll class is one of ``poll_classes``."""
    return [name for name, point in profile.points.items() if point.poll in poll_classes]


def plan_blocks(
    profile: Profile,
    points: Iterable[str],
    *,
    scale_factors: Iterable[str] = (),
    max_gap: int | None = None,
    max_registers: int | None = None,
    max_bits: int = MAX_READ_BITS,
) -> list[Block]:
    """Plan the reads for ``points`` (plus the scale factors they use and any extra ``scale_factors``).

    ``max_gap`` (unused registers a block may span) and ``max_registers`` default to the profile's
    ``max_gap`` and ``max_block_registers``. Blocks come out sorted by function and address.
    """
    gap = profile.max_gap if max_gap is None else max_gap
    register_limit = min(profile.max_block_registers if max_registers is None else max_registers, MAX_READ_REGISTERS)
    bit_limit = min(max_bits, MAX_READ_BITS)
    if gap < 0 or register_limit < 1 or bit_limit < 1:
        raise ValueError("max_gap must be >= 0 and the block limits >= 1")
    entries = _entries(profile, points, scale_factors)
    blocks: list[Block] = []
    for function in Function:
        group = sorted((e for f, e in entries if f is function), key=lambda e: e.address)
        limit = bit_limit if function.is_bit else register_limit
        blocks.extend(_coalesce(function, group, gap, limit))
    return blocks


# --- private helpers ---------------------------------------------------------------------------


def _entries(
    profile: Profile, points: Iterable[str], scale_factors: Iterable[str]
) -> list[tuple[Function, BlockEntry]]:
    entries: list[tuple[Function, BlockEntry]] = []
    wanted_sfs = list(scale_factors)
    for name in dict.fromkeys(points):
        point = profile.points.get(name)
        if point is None:
            raise KeyError(f"profile {profile.name!r} has no point {name!r}")
        entries.append(
            (
                point.function,
                BlockEntry(
                    key=name,
                    is_scale_factor=False,
                    address=point.address,
                    count=point.count,
                    data_type=point.type,
                    word_order=profile.word_order_of(point),
                    sentinels=None if point.sentinels is None else tuple(point.sentinels),
                ),
            )
        )
        if point.scale_factor is not None:
            wanted_sfs.append(point.scale_factor)
    for sf_name in dict.fromkeys(wanted_sfs):
        sf = profile.scale_factors.get(sf_name)
        if sf is None:
            raise KeyError(f"profile {profile.name!r} has no scale factor {sf_name!r}")
        entries.append(
            (
                sf.function,
                BlockEntry(
                    key=sf_name,
                    is_scale_factor=True,
                    address=sf.address,
                    count=1,
                    data_type=sf.type,
                    word_order=WordOrder.BIG,
                    sentinels=None,
                ),
            )
        )
    return entries


def _coalesce(function: Function, entries: list[BlockEntry], max_gap: int, limit: int) -> list[Block]:
    blocks: list[Block] = []
    current: list[BlockEntry] = []
    start = end = 0
    for entry in entries:
        entry_end = entry.address + entry.count
        if current and entry.address - end <= max_gap and max(end, entry_end) - start <= limit:
            current.append(entry)
            end = max(end, entry_end)
            continue
        if current:
            blocks.append(Block(function=function, start=start, count=end - start, entries=tuple(current)))
        current, start, end = [entry], entry.address, entry_end
    if current:
        blocks.append(Block(function=function, start=start, count=end - start, entries=tuple(current)))
    return blocks
