"""Device profiles: YAML register maps that turn registers into canonical typed points.

A profile is data (like evcc templates): a site engineer adds a device family without code.
This module loads and validates profiles and answers questions about them (sign handling);
it performs no Modbus I/O and knows nothing of transports or control.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drivers.codec import INTEGER_TYPES, DataType, WordOrder, register_count
from drivers.points import CATALOGUE, Access, DeviceKind, PointSpec

PROFILE_DIR = Path(__file__).parent / "profiles"

SignMode = Literal["passive", "active"]


class Function(StrEnum):
    """Modbus object type of a point."""

    HOLDING = "holding"
    INPUT = "input"
    COIL = "coil"
    DISCRETE = "discrete"

    @property
    def is_bit(self) -> bool:
        """Coils and discrete inputs address single bits, not 16-bit registers."""
        return self in (Function.COIL, Function.DISCRETE)


class PollClass(StrEnum):
    """How often a point is read. The poller decides the rates: fast and normal points are read at
    the device's poll interval (fast ones also by the fast path), slow ones every Nth poll."""

    FAST = "fast"
    NORMAL = "normal"
    SLOW = "slow"


class ProfilePoint(BaseModel):
    """One point of a register map."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: int = Field(ge=0, le=65535, description="register (or coil) address, 0-based protocol address")
    function: Function = Function.HOLDING
    type: DataType = DataType.U16
    length: int | None = Field(default=None, ge=1, le=125, description="registers of a string")
    word_order: WordOrder | None = Field(default=None, description="overrides the profile's word order")
    scale: float = Field(default=1.0, description="SI value = raw * scale * 10**sf + offset")
    offset: float = 0.0
    scale_factor: str | None = Field(
        default=None,
        description="name of a scale_factors entry holding a power-of-ten exponent (SunSpec style)",
    )
    unit: str | None = Field(default=None, description="SI unit after scaling; must match the point catalogue")
    access: Access = Access.RO
    poll: PollClass = PollClass.NORMAL
    readback: bool = Field(default=False, description="read the register back after a write and compare")
    invert_sign: bool = Field(default=False, description="negate after scaling (device-specific quirk)")
    sentinels: list[int | float] | None = Field(
        default=None,
        description="raw values meaning 'not implemented' (-> None); omitted: SunSpec defaults of the type; []: none",
    )

    @property
    def count(self) -> int:
        """Registers (or bits) the point occupies."""
        return register_count(self.type, self.length)

    @model_validator(mode="after")
    def _consistent(self) -> ProfilePoint:
        if self.function.is_bit and self.type is not DataType.BOOL:
            raise ValueError(f"type: {self.function.value} points must have type bool, not {self.type.value}")
        if self.function in (Function.INPUT, Function.DISCRETE) and self.access is Access.RW:
            raise ValueError(f"access: {self.function.value} points are read-only")
        if self.type is DataType.STRING and self.length is None:
            raise ValueError("length: string points need a length in registers")
        if self.type is not DataType.STRING and self.length is not None:
            raise ValueError("length: only string points take a length")
        if self.scale == 0:
            raise ValueError("scale: must not be 0")
        if self.type in (DataType.BOOL, DataType.STRING) and (
            self.scale != 1 or self.offset != 0 or self.scale_factor is not None or self.invert_sign
        ):
            raise ValueError(f"scale: {self.type.value} points take no scale, offset, scale_factor or invert_sign")
        if self.readback and self.access is not Access.RW:
            raise ValueError("readback: only rw points are written and read back")
        if self.address + self.count > 65536:
            raise ValueError(f"address: {self.address} + {self.count} registers runs past 65535")
        return self


class ScaleFactor(BaseModel):
    """A helper register holding a power-of-ten exponent (SunSpec ``*_SF``), shared by points."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: int = Field(ge=0, le=65535, description="register address, 0-based")
    function: Literal[Function.HOLDING, Function.INPUT] = Function.HOLDING
    type: Literal[DataType.I16, DataType.U16] = DataType.I16
    simulated_value: int = Field(
        default=0, ge=-10, le=10, description="exponent the simulators serve; real devices report their own"
    )


class SignConvention(BaseModel):
    """How the device signs power. passive: positive = into the device; active: positive = out of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    power: SignMode = "passive"
    setpoint: SignMode = "passive"


class Profile(BaseModel):
    """A register map for one device family."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    kind: DeviceKind
    description: str = ""
    word_order: WordOrder = WordOrder.BIG
    sign: SignConvention = Field(default_factory=SignConvention)
    max_gap: int = Field(default=8, ge=0, le=124, description="unused registers a block read may span")
    max_block_registers: int = Field(default=125, ge=1, le=125, description="registers per read request")
    scale_factors: dict[str, ScaleFactor] = Field(
        default_factory=dict, description="helper registers holding int16 power-of-ten exponents"
    )
    points: dict[str, ProfilePoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _points_exist(self) -> Profile:
        catalogue = CATALOGUE[self.kind]
        for name, point in self.points.items():
            spec = catalogue.get(name)
            if spec is None:
                raise ValueError(f"points.{name}: not a {self.kind.value} point (known: {', '.join(catalogue)})")
            if point.unit is not None and point.unit != spec.unit:
                raise ValueError(f"points.{name}.unit: {point.unit!r} but the catalogue unit is {spec.unit!r}")
            if point.access is Access.RW and spec.access is not Access.RW:
                raise ValueError(f"points.{name}.access: {name} is read-only in the catalogue")
            if point.scale_factor is not None and point.scale_factor not in self.scale_factors:
                raise ValueError(f"points.{name}.scale_factor: no scale_factors entry {point.scale_factor!r}")
            if point.type is DataType.STRING and spec.unit != "":
                raise ValueError(f"points.{name}.type: a string cannot hold a value in {spec.unit!r}")
        self._no_overlaps()
        return self

    def spec(self, name: str) -> PointSpec:
        """Catalogue entry of one of this profile's points."""
        return CATALOGUE[self.kind][name]

    def word_order_of(self, point: ProfilePoint) -> WordOrder:
        """Effective word order of a point (its own, else the profile's)."""
        return point.word_order or self.word_order

    def negates(self, name: str, sign_power: SignMode | None = None, sign_setpoint: SignMode | None = None) -> bool:
        """True when the device value of point ``name`` is the negative of its passive SI value.

        Power-like catalogue points follow ``sign.power`` (measurements) or ``sign.setpoint`` (rw
        setpoints), overridable per device; ``invert_sign`` flips on top of that.
        """
        point = self.points[name]
        spec = self.spec(name)
        negate = point.invert_sign
        if spec.power:
            is_setpoint = spec.access is Access.RW
            mode = (sign_setpoint or self.sign.setpoint) if is_setpoint else (sign_power or self.sign.power)
            negate ^= mode == "active"
        return negate

    def integral(self, name: str) -> bool:
        """True when the point's SI value is an integer code (enums, bitfields, relays, counters)."""
        point = self.points[name]
        return (
            self.spec(name).unit == ""
            and (point.type in INTEGER_TYPES or point.type is DataType.BOOL)
            and point.scale == 1
            and point.offset == 0
            and point.scale_factor is None
        )

    def _no_overlaps(self) -> None:
        spans: list[tuple[Function, int, int, str]] = [
            (p.function, p.address, p.address + p.count, f"points.{n}") for n, p in self.points.items()
        ]
        spans += [
            (sf.function, sf.address, sf.address + 1, f"scale_factors.{n}") for n, sf in self.scale_factors.items()
        ]
        spans.sort(key=lambda s: (s[0].value, s[1]))
        previous: tuple[Function, int, int, str] | None = None
        for span in spans:
            if previous is not None and span[0] is previous[0] and span[1] < previous[2]:
                raise ValueError(
                    f"{span[3]}.address: {span[0].value} {span[1]} overlaps {previous[3]} "
                    f"({previous[1]}..{previous[2] - 1})"
                )
            if previous is None or span[0] is not previous[0] or span[2] > previous[2]:
                previous = span


class ProfileError(Exception):
    """A profile is missing or invalid; the message names the profile and the field."""


def available_profiles() -> list[str]:
    """Names of the bundled profiles."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a bundled profile by name, or a profile file by path (ending in .yaml/.yml or containing a slash)."""
    text = str(name_or_path)
    path = Path(name_or_path)
    if not isinstance(name_or_path, Path) and not text.endswith((".yaml", ".yml")) and "/" not in text:
        path = PROFILE_DIR / f"{text}.yaml"
    if not path.is_file():
        raise ProfileError(f"unknown profile {text!r} (bundled: {', '.join(available_profiles())})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: malformed YAML: {exc}") from None
    profile = parse_profile(data, source=str(path))
    if path.parent == PROFILE_DIR and profile.name != path.stem:
        raise ProfileError(f"{path}: name: {profile.name!r} but bundled profiles are named after their file")
    return profile


def parse_profile(data: Any, source: str = "<profile>") -> Profile:
    """Validate an already-parsed profile document; errors name ``source`` and the dotted field."""
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{source}: {_describe(exc)}") from None


# --- private helpers ---------------------------------------------------------------------------


_FIELD_PREFIX = re.compile(r"^([a-z_]+): ")


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"])
        msg = str(error["msg"]).removeprefix("Value error, ")
        field = _FIELD_PREFIX.match(msg)
        if field and loc and error["type"] == "value_error":
            loc, msg = f"{loc}.{field.group(1)}", msg[field.end() :]
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)
