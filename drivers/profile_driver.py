"""The YAML-profile driver: reads a profile's points through a ``RegisterIO`` and writes setpoints.

Converts once, here, to SI units and the passive sign convention (and back for writes). It never
decides what to write or when: that belongs to the control layer. It never opens connections:
the transport behind ``RegisterIO`` does.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from drivers.blocks import Block, plan_blocks, points_in
from drivers.codec import CodecError, DataType, RawValue, encode, from_si, to_si
from drivers.driver import DriverOptions, PointReading
from drivers.errors import DecodeError, DeviceError, DeviceExceptionResponse, ReadOnlyDevice
from drivers.io import RegisterIO
from drivers.points import Access, DeviceKind
from drivers.profile import Function, PollClass, Profile, ProfileError, ProfilePoint


class ProfileDriver:
    """``DeviceDriver`` for a device described by a YAML ``Profile``."""

    def __init__(self, profile: Profile, io: RegisterIO, options: DriverOptions) -> None:
        if profile.kind is not options.kind:
            raise ProfileError(
                f"device {options.device_id}: profile {profile.name!r} is for kind {profile.kind.value}, "
                f"but the device is configured as {options.kind.value}"
            )
        self._profile = profile
        self._io = io
        self._options = options
        self._plans: dict[frozenset[PollClass], list[Block]] = {}
        self._scale_factors: dict[str, int] = {}
        self._negate = {
            name: profile.negates(name, options.sign_power, options.sign_setpoint) for name in profile.points
        }
        self._writable = (
            frozenset()
            if options.read_only
            else frozenset(name for name, point in profile.points.items() if point.access is Access.RW)
        )
        self._slow = frozenset(name for name, point in profile.points.items() if point.poll is PollClass.SLOW)
        self.last_errors: dict[str, str] = {}
        """Per-point problems of the latest ``read`` (decode errors, failed blocks, missing scale factors)."""

    @property
    def device_id(self) -> str:
        return self._options.device_id

    @property
    def kind(self) -> DeviceKind:
        return self._options.kind

    @property
    def profile(self) -> Profile:
        return self._profile

    @property
    def writable_points(self) -> frozenset[str]:
        return self._writable

    @property
    def slow_points(self) -> frozenset[str]:
        return self._slow

    async def connect(self) -> None:
        """Read every scale-factor register once so that writes can be scaled before the first poll."""
        self._scale_factors.clear()
        if not self._profile.scale_factors:
            return
        for block in plan_blocks(self._profile, (), scale_factors=self._profile.scale_factors):
            words = await self._read_block(block)
            decoded = block.decode(words)
            self._remember_scale_factors(decoded.scale_factors)

    async def read(self, poll_classes: Collection[PollClass]) -> dict[str, PointReading]:
        """Read the points of ``poll_classes``: SI units, passive sign, None for "not implemented".

        A failed block (Modbus exception, short reply) or an undecodable point turns only those points
        into None and records why in ``last_errors``; when every block fails the first error is raised.
        Timeouts and lost connections raise at once.
        """
        plan = self._plan(frozenset(poll_classes))
        errors: dict[str, str] = {}
        raw_points: dict[str, RawValue | None] = {}
        scale_factors: dict[str, int | None] = {}
        first_failure: DeviceError | None = None
        failed_blocks = 0
        for block in plan:
            try:
                words = await self._read_block(block)
            except (DeviceExceptionResponse, DecodeError) as exc:
                first_failure = first_failure or exc
                failed_blocks += 1
                for entry in block.entries:
                    errors[entry.key] = str(exc)
                    if entry.is_scale_factor:
                        scale_factors[entry.key] = None
                    else:
                        raw_points[entry.key] = None
                continue
            decoded = block.decode(words)
            raw_points.update(decoded.points)
            scale_factors.update(decoded.scale_factors)
            errors.update(decoded.errors)
        self._remember_scale_factors(scale_factors)
        if first_failure is not None and failed_blocks == len(plan):
            self.last_errors = errors
            raise first_failure
        result: dict[str, PointReading] = {}
        for name, raw in raw_points.items():
            result[name] = self._to_reading(name, raw, scale_factors, errors)
        self.last_errors = errors
        return result

    async def write(self, setpoints: Mapping[str, float]) -> None:
        """Write canonical setpoints (SI, passive); verify those marked ``readback``.

        Every value is checked and encoded before anything is sent. Setpoints in adjacent registers
        (or coils) go out in one request, so e.g. both SG-Ready relays switch together.
        """
        if self._options.read_only:
            raise ReadOnlyDevice(self._device, "device is configured read-only; nothing was written")
        for name in setpoints:
            point = self._profile.points.get(name)
            if point is None:
                raise DeviceError(self._device, f"profile {self._profile.name!r} has no point {name!r} to write")
            if point.access is not Access.RW:
                raise ReadOnlyDevice(self._device, f"point {name} is read-only")
        pending: list[_PendingWrite] = []
        for name, value in setpoints.items():
            point = self._profile.points[name]
            pending.append(_PendingWrite(name, point, await self._encode_setpoint(name, point, value)))
        for function, address, words in _runs(pending):
            if function is Function.COIL:
                await self._io.write_coils(address, [bool(w) for w in words])
            else:
                await self._io.write_registers(address, words)
        for item in pending:
            if item.point.readback:
                await self._verify(item)

    # --- private -------------------------------------------------------------------------------

    @property
    def _device(self) -> str:
        return f"{self._options.device_id} ({self._io.name})"

    def _plan(self, poll_classes: frozenset[PollClass]) -> list[Block]:
        plan = self._plans.get(poll_classes)
        if plan is None:
            plan = plan_blocks(self._profile, points_in(self._profile, poll_classes))
            self._plans[poll_classes] = plan
        return plan

    async def _read_block(self, block: Block) -> list[int]:
        words = await self._io.read(block.function, block.start, block.count)
        if len(words) != block.count:
            raise DecodeError(
                self._device,
                f"read {block.function.value} {block.start}+{block.count} returned {len(words)} values",
            )
        return [int(w) for w in words]

    def _remember_scale_factors(self, values: Mapping[str, int | None]) -> None:
        for name, sf in values.items():
            if sf is None:
                self._scale_factors.pop(name, None)
            else:
                self._scale_factors[name] = sf

    def _to_reading(
        self,
        name: str,
        raw: RawValue | None,
        scale_factors: Mapping[str, int | None],
        errors: dict[str, str],
    ) -> PointReading:
        if raw is None:
            return None
        point = self._profile.points[name]
        if isinstance(raw, str):
            return raw
        sf = 0
        if point.scale_factor is not None:
            sf_value = scale_factors.get(point.scale_factor)
            if sf_value is None:
                errors.setdefault(name, f"scale factor {point.scale_factor} is not available")
                return None
            sf = sf_value
        value = to_si(float(raw), scale=point.scale, sf=sf, offset=point.offset)
        if self._negate[name]:
            value = -value
        if self._profile.integral(name):
            return round(value)
        return value + 0.0  # normalises -0.0

    async def _encode_setpoint(self, name: str, point: ProfilePoint, value: float) -> list[int]:
        if not math.isfinite(value):
            raise DeviceError(self._device, f"{name}: cannot write {value}")
        if point.type is DataType.BOOL:
            return [1 if value else 0]
        device_value = -value if self._negate[name] else value
        sf = await self._write_scale_factor(name, point)
        raw = from_si(device_value, scale=point.scale, sf=sf, offset=point.offset)
        try:
            return encode(raw, point.type, self._profile.word_order_of(point), point.length)
        except CodecError as exc:
            raise DeviceError(self._device, f"{name}: cannot write {value} ({exc})") from None

    async def _verify(self, item: _PendingWrite) -> None:
        point = item.point
        echoed = [int(w) for w in await self._io.read(point.function, point.address, point.count)]
        if echoed != item.words:
            raise DeviceError(
                self._device,
                f"{item.name}: read-back mismatch at {point.function.value} {point.address}: "
                f"wrote {item.words}, device holds {echoed}",
            )

    async def _write_scale_factor(self, name: str, point: ProfilePoint) -> int:
        if point.scale_factor is None:
            return 0
        sf = self._scale_factors.get(point.scale_factor)
        if sf is None:
            for block in plan_blocks(self._profile, (), scale_factors=[point.scale_factor]):
                self._remember_scale_factors(block.decode(await self._read_block(block)).scale_factors)
            sf = self._scale_factors.get(point.scale_factor)
        if sf is None:
            raise DeviceError(self._device, f"{name}: scale factor {point.scale_factor} is not implemented")
        return sf


# --- private helpers ---------------------------------------------------------------------------

_MAX_WRITE = {Function.HOLDING: 123, Function.COIL: 1968}
"""Modbus limits for one write-multiple request."""


@dataclass(frozen=True, slots=True)
class _PendingWrite:
    name: str
    point: ProfilePoint
    words: list[int]


def _runs(pending: list[_PendingWrite]) -> list[tuple[Function, int, list[int]]]:
    """Merge writes to adjacent addresses of the same function into single requests."""
    runs: list[tuple[Function, int, list[int]]] = []
    for item in sorted(pending, key=lambda p: (p.point.function.value, p.point.address)):
        function, address = item.point.function, item.point.address
        if runs:
            last_function, last_address, last_words = runs[-1]
            contiguous = last_function is function and last_address + len(last_words) == address
            if contiguous and len(last_words) + len(item.words) <= _MAX_WRITE[function]:
                last_words.extend(item.words)
                continue
        runs.append((function, address, list(item.words)))
    return runs
