"""The reverse of the profile driver: canonical point values -> the raw registers a device would serve.

Simulators use ``RegisterImage`` to serve any profile over Modbus, and to turn the register writes
they receive back into canonical setpoints. ``MemoryRegisterIO`` is a ``RegisterIO`` over a plain
dict, for exercising a driver without a bus. Nothing here opens sockets or models physics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from drivers.codec import CodecError, DataType, encode, from_si, not_implemented_value, to_si
from drivers.codec import decode as decode_words
from drivers.errors import DeviceExceptionResponse
from drivers.points import CATALOGUE, Access
from drivers.profile import Function, Profile, ProfilePoint, SignMode

RegisterKey = tuple[Function, int]
"""(function, address) of one register or bit."""


class RegisterImage:
    """Encodes canonical SI values (passive sign) into a profile's registers, and decodes writes."""

    def __init__(
        self,
        profile: Profile,
        *,
        sign_power: SignMode | None = None,
        sign_setpoint: SignMode | None = None,
        scale_factors: Mapping[str, int] | None = None,
    ) -> None:
        """``scale_factors`` overrides the exponents served (default: each entry's ``simulated_value``)."""
        self._profile = profile
        self._negate = {name: profile.negates(name, sign_power, sign_setpoint) for name in profile.points}
        self._sf = {name: sf.simulated_value for name, sf in profile.scale_factors.items()}
        for name, value in (scale_factors or {}).items():
            if name not in self._sf:
                raise KeyError(f"profile {profile.name!r} has no scale factor {name!r}")
            self._sf[name] = value

    @property
    def profile(self) -> Profile:
        return self._profile

    @property
    def scale_factors(self) -> dict[str, int]:
        """Exponent served for each scale-factor register."""
        return dict(self._sf)

    def spans(self) -> list[tuple[Function, int, int]]:
        """``(function, start, count)`` of every point and scale-factor register, sorted."""
        spans = [(p.function, p.address, p.count) for p in self._profile.points.values()]
        spans += [(sf.function, sf.address, 1) for sf in self._profile.scale_factors.values()]
        return sorted(spans, key=lambda s: (s[0].value, s[1]))

    def encode(self, values: Mapping[str, float | None]) -> dict[RegisterKey, int]:
        """Raw registers/bits for ``values`` plus every scale-factor register.

        None becomes the point's "not implemented" sentinel (left out when the point has none).
        Catalogue points the profile does not map are ignored; unknown names raise KeyError.
        """
        image: dict[RegisterKey, int] = {}
        for sf_name, sf in self._profile.scale_factors.items():
            image[(sf.function, sf.address)] = self._encode_words(sf_name, self._sf[sf_name], sf.type, None)[0]
        for name, value in values.items():
            point = self._profile.points.get(name)
            if point is None:
                if name not in CATALOGUE[self._profile.kind]:
                    raise KeyError(f"{name!r} is not a {self._profile.kind.value} point")
                continue
            words = self._point_words(name, point, value)
            for i, word in enumerate(words):
                image[(point.function, point.address + i)] = word
        return image

    def decode_write(self, function: Function, address: int, values: Sequence[int]) -> dict[str, float]:
        """Canonical setpoints (SI, passive) written by a register or coil write from ``address``.

        Only ``rw`` points are decoded; other registers in the range are ignored. A write that covers
        part of a multi-register rw point raises CodecError (a device would reject it).
        """
        if function not in (Function.HOLDING, Function.COIL):
            raise CodecError(f"{function.value} objects cannot be written")
        end = address + len(values)
        result: dict[str, float] = {}
        for name, point in self._profile.points.items():
            if point.function is not function or point.access is not Access.RW:
                continue
            p_end = point.address + point.count
            if p_end <= address or point.address >= end:
                continue
            if point.address < address or p_end > end:
                raise CodecError(
                    f"{self._profile.name}.{name}: write {function.value} {address}+{len(values)} covers only "
                    f"part of {point.address}+{point.count}"
                )
            chunk = [int(v) for v in values[point.address - address : p_end - address]]
            raw = decode_words(chunk, point.type, self._profile.word_order_of(point))
            if isinstance(raw, str):
                continue
            sf = self._sf[point.scale_factor] if point.scale_factor is not None else 0
            value = to_si(float(raw), scale=point.scale, sf=sf, offset=point.offset)
            result[name] = (-value if self._negate[name] else value) + 0.0
        return result

    # --- private -------------------------------------------------------------------------------

    def _point_words(self, name: str, point: ProfilePoint, value: float | None) -> list[int]:
        if value is None:
            sentinel = not_implemented_value(point.type, point.sentinels)
            if sentinel is None or point.type is DataType.BOOL:
                return []
            return self._encode_words(name, sentinel, point.type, point)
        if point.type is DataType.BOOL:
            return [1 if value else 0]
        device_value = -value if self._negate[name] else value
        sf = self._sf[point.scale_factor] if point.scale_factor is not None else 0
        raw = from_si(device_value, scale=point.scale, sf=sf, offset=point.offset)
        return self._encode_words(name, raw, point.type, point)

    def _encode_words(self, name: str, raw: float, data_type: DataType, point: ProfilePoint | None) -> list[int]:
        word_order = self._profile.word_order_of(point) if point is not None else self._profile.word_order
        try:
            return encode(raw, data_type, word_order, point.length if point is not None else None)
        except CodecError as exc:
            raise CodecError(f"{self._profile.name}.{name}: {exc}") from None


class MemoryRegisterIO:
    """A ``RegisterIO`` over a dict of ``(function, address) -> word/bit``.

    Unset addresses read as 0, or raise Modbus exception 2 (illegal data address) when ``strict``.
    Every write is appended to ``writes`` as ``(function, address, values)``.
    """

    def __init__(
        self,
        registers: Mapping[RegisterKey, int] | None = None,
        *,
        name: str = "memory",
        strict: bool = False,
    ) -> None:
        self.registers: dict[RegisterKey, int] = dict(registers or {})
        self.writes: list[tuple[Function, int, list[int]]] = []
        self.strict = strict
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        if self.strict and any((function, a) not in self.registers for a in range(address, address + count)):
            raise DeviceExceptionResponse(self._name, 2, f"illegal address in {function.value} {address}+{count}")
        return [self.registers.get((function, a), 0) for a in range(address, address + count)]

    async def write_registers(self, address: int, values: list[int]) -> None:
        for word in values:
            if not 0 <= word <= 0xFFFF:
                raise DeviceExceptionResponse(self._name, 3, f"{word} is not a 16-bit word")
        self.writes.append((Function.HOLDING, address, list(values)))
        self.store(Function.HOLDING, address, list(values))

    async def write_coils(self, address: int, values: list[bool]) -> None:
        bits = [1 if v else 0 for v in values]
        self.writes.append((Function.COIL, address, bits))
        self.store(Function.COIL, address, bits)

    def store(self, function: Function, address: int, values: Sequence[int]) -> None:
        """Put values into the image (what a device does with an accepted write)."""
        for i, value in enumerate(values):
            self.registers[(function, address + i)] = value
