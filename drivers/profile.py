"""Device profiles: YAML register maps that turn registers into canonical typed points.

A profile is data (like evcc templates): a site engineer adds a device family without code.
This module loads and validates profiles; it performs no Modbus I/O.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drivers.codec import DataType, WordOrder, register_count
from drivers.points import CATALOGUE, Access, DeviceKind

PROFILE_DIR = Path(__file__).parent / "profiles"


class Function(StrEnum):
    """Modbus object type of a point."""

    HOLDING = "holding"
    INPUT = "input"
    COIL = "coil"
    DISCRETE = "discrete"


class PollClass(StrEnum):
    """How often a point is read: fast (every poll), normal (every poll), slow (every 10th poll)."""

    FAST = "fast"
    NORMAL = "normal"
    SLOW = "slow"


class ProfilePoint(BaseModel):
    """One point of a register map."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: int = Field(ge=0, le=65535, description="register (or coil) address, 0-based")
    function: Function = Function.HOLDING
    type: DataType = DataType.U16
    length: int | None = Field(default=None, ge=1, le=125, description="registers of a string")
    word_order: WordOrder | None = Field(default=None, description="overrides the profile's word order")
    scale: float = Field(default=1.0, description="SI value = raw * scale * 10**sf + offset")
    offset: float = 0.0
    scale_factor: str | None = Field(
        default=None,
        description="name of an sf_* helper entry holding a power-of-ten exponent (SunSpec style)",
    )
    unit: str | None = Field(default=None, description="SI unit after scaling; must match the point catalogue")
    access: Access = Access.RO
    poll: PollClass = PollClass.NORMAL
    readback: bool = Field(default=False, description="read the register back after a write and compare")
    invert_sign: bool = Field(default=False, description="negate after scaling (device-specific quirk)")

    @property
    def count(self) -> int:
        return register_count(self.type, self.length)

    @model_validator(mode="after")
    def _function_type(self) -> ProfilePoint:
        if self.function in (Function.COIL, Function.DISCRETE) and self.type is not DataType.BOOL:
            raise ValueError(f"{self.function.value} points must have type bool")
        if self.function in (Function.INPUT, Function.DISCRETE) and self.access is Access.RW:
            raise ValueError(f"{self.function.value} points are read-only")
        if self.type is DataType.STRING and self.length is None:
            raise ValueError("string points need a length")
        return self


class SignConvention(BaseModel):
    """How the device signs power. passive: positive = into the device; active: positive = out of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    power: Literal["passive", "active"] = "passive"
    setpoint: Literal["passive", "active"] = "passive"


class Profile(BaseModel):
    """A register map for one device family."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: DeviceKind
    description: str = ""
    word_order: WordOrder = WordOrder.BIG
    sign: SignConvention = Field(default_factory=SignConvention)
    scale_factors: dict[str, ProfilePoint] = Field(
        default_factory=dict, description="helper registers holding int16 power-of-ten exponents"
    )
    points: dict[str, ProfilePoint]

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
        return self


class ProfileError(Exception):
    """A profile is missing or invalid; the message names the profile and the field."""


def available_profiles() -> list[str]:
    """Names of the bundled profiles."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a bundled profile by name, or a profile file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ProfileError(f"unknown profile {str(name_or_path)!r} (bundled: {', '.join(available_profiles())})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Profile.model_validate(data)
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: malformed YAML: {exc}") from None
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ProfileError(f"{path}: {details}") from None
