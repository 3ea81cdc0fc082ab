"""SunSpecDriver: a DeviceDriver for meters, PV inverters, storage inverters (pcs) and batteries (bms)
that speak SunSpec, discovered at run time.

``connect()`` discovers the model chain, reads every model the mapping uses once (scale factors,
ratings, which optional points are implemented); ``read()`` reads only the models behind the requested
poll classes in requests of at most 125 registers and returns canonical points in SI units and the
passive sign convention; ``write()`` turns canonical setpoints into 704 / 123 / 124 writes with
reversion timers. Knows nothing about control decisions; never writes outside ``write()``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from drivers.driver import DriverOptions, PointReading
from drivers.errors import DecodeError, DeviceError, ReadOnlyDevice
from drivers.io import RegisterIO
from drivers.points import DeviceKind
from drivers.profile import Function, PollClass
from drivers.sunspec.access import (
    Span,
    encode_point,
    plan_reads,
    plan_writes,
    point_ranges,
    read_point,
    read_raw,
)
from drivers.sunspec.control import (
    ControlContext,
    ControlError,
    ControlPath,
    WriteStep,
    limit_fraction_from_watts,
    limit_path,
    plan_power_limit,
    plan_power_setpoint,
    plan_release,
    power_path,
    setpoint_from_storage_rates,
)
from drivers.sunspec.discovery import BASE_ADDRESSES, ModelBlock, discover
from drivers.sunspec.mapping import (
    DEFAULT_POWER_SIGN,
    DEFAULT_SETPOINT_SIGN,
    DER_STATE_MAP,
    INVERTER_STATE_MAP,
    CanonicalSource,
    Conversion,
    Source,
    mapping_for,
    supported_kinds,
)
from drivers.sunspec.models import ModelLayout, has_definition, load_model, model_layout
from drivers.sunspec.values import SunSpecValue, SunSpecValueError

DEFAULT_REVERT_TIMEOUT_S = 60.0
"""Reversion timer written with every setpoint: the device falls back this long after the EMS goes quiet."""

_log = logging.getLogger(__name__)


class SunSpecError(DeviceError):
    """A SunSpec-specific failure: unsupported setpoint, missing scale factor, unusable model."""


class SunSpecDriver:
    """DeviceDriver over a discovered SunSpec model chain."""

    def __init__(
        self,
        io: RegisterIO,
        options: DriverOptions,
        *,
        revert_timeout_s: float = DEFAULT_REVERT_TIMEOUT_S,
        base_addresses: Sequence[int] = BASE_ADDRESSES,
    ) -> None:
        if options.kind not in supported_kinds():
            supported = ", ".join(sorted(k.value for k in supported_kinds()))
            raise ValueError(
                f"devices.{options.device_id}.kind: SunSpec driver supports {supported}, not {options.kind.value!r}"
            )
        if revert_timeout_s <= 0:
            raise ValueError(f"devices.{options.device_id}: revert_timeout_s must be > 0, got {revert_timeout_s}")
        self._io = io
        self._options = options
        self._revert_timeout_s = revert_timeout_s
        self._base_addresses = tuple(base_addresses)
        self._power_sign = options.sign_power or DEFAULT_POWER_SIGN[options.kind]
        self._setpoint_sign = options.sign_setpoint or DEFAULT_SETPOINT_SIGN
        self._mapping = mapping_for(options.kind, self._power_sign)
        self._blocks: list[ModelBlock] = []
        self._models: dict[int, _Model] = {}
        self._sf_cache: dict[tuple[int, str], int] = {}
        self._implemented: set[tuple[int, str]] = set()
        self._identity: dict[str, str] = {}
        self._rated_w: float | None = None
        self._w_cha_max_w: float | None = None
        self._connected = False

    # --- DeviceDriver ---------------------------------------------------------------------------

    @property
    def device_id(self) -> str:
        return self._options.device_id

    @property
    def kind(self) -> DeviceKind:
        return self._options.kind

    @property
    def writable_points(self) -> frozenset[str]:
        if self._options.read_only or not self._connected:
            return frozenset()
        names: set[str] = set()
        if self._power_path() is not None:
            names.add("p_set_w")
        if self._limit_path() is not None:
            names.add("p_limit_pct")
            if self._rating() is not None:
                names.add("p_limit_w")
        return frozenset(names)

    @property
    def slow_points(self) -> frozenset[str]:
        slow = {c.name for c in self._mapping if c.poll is PollClass.SLOW}
        if "p_limit_pct" in slow:
            slow.add("p_limit_w")  # derived from p_limit_pct in read()
        return frozenset(slow)

    async def connect(self) -> None:
        """Discover the chain and read every used model once. Safe to call again after a reconnect."""
        self._connected = False
        blocks = await discover(self._io, self._base_addresses)
        wanted = self._wanted_models()
        models: dict[int, _Model] = {}
        for block in blocks:
            if block.model_id in models or block.model_id not in wanted or not has_definition(block.model_id):
                continue
            models[block.model_id] = _Model(block, model_layout(block.model_id, block.length))
        # Layouts with point-valued repeat counts need the model's registers first.
        registers = await self._read_spans(plan_reads((m.block.address, m.block.length + 2) for m in models.values()))
        for model_id, model in list(models.items()):
            if load_model(model_id).has_repeating_groups:
                words = [registers.get(a, 0) for a in range(model.block.address, model.block.end)]
                models[model_id] = _Model(model.block, model_layout(model_id, model.block.length, words))
        self._blocks = blocks
        self._models = models
        self._sf_cache.clear()
        self._implemented.clear()
        self._remember(registers)
        self._identity = {
            key: str(value)
            for key in ("Mn", "Md", "Opt", "Vr", "SN")
            if 1 in models and (value := self._value(models[1], key, registers)) is not None
        }
        self._connected = True
        if not self._has_any_source():
            _log.warning(
                "%s: SunSpec models %s carry no %s points",
                self.device_id,
                [b.model_id for b in blocks],
                self.kind.value,
            )
        _log.info(
            "%s: SunSpec %s %s, models %s",
            self.device_id,
            self._identity.get("Mn", "?"),
            self._identity.get("Md", "?"),
            [b.model_id for b in blocks],
        )

    async def read(self, poll_classes: frozenset[PollClass]) -> dict[str, PointReading]:
        """Canonical points of the given poll classes that this device's models can supply."""
        if not self._connected:
            await self.connect()
        selected = [c for c in self._mapping if c.poll in poll_classes]
        ranges: list[tuple[int, int]] = []
        for canonical in selected:
            for source, model in self._present_sources(canonical):
                paths = [source.point, *(name for name, _ in source.conditions), *source.needs]
                ranges.extend(point_ranges(model.layout, model.block.address, paths))
        registers = await self._read_spans(plan_reads(ranges))
        self._remember(registers)
        result: dict[str, PointReading] = {}
        for canonical in selected:
            present = self._present_sources(canonical)
            if not present:
                continue
            result[canonical.name] = self._evaluate(present, registers)
        if "p_limit_pct" in result and "p_limit_pct" in self.writable_points:
            fraction, rated = result["p_limit_pct"], self._rating()
            if isinstance(fraction, float) and rated is not None:
                result["p_limit_w"] = fraction * rated
        return result

    async def write(self, setpoints: Mapping[str, float]) -> None:
        """Write canonical setpoints (SI, passive convention) through 704, 123 or 124."""
        if self._options.read_only:
            raise ReadOnlyDevice(self.device_id, "device is configured read-only")
        if not self._connected:
            await self.connect()
        writable = self.writable_points
        for name in setpoints:
            if name not in writable:
                raise SunSpecError(
                    self.device_id,
                    f"cannot write {name!r}: {self._why_not_writable(name)} "
                    f"(writable: {', '.join(sorted(writable)) or 'none'})",
                )
        steps: list[WriteStep] = []
        try:
            if "p_set_w" in setpoints:
                path = self._power_path()
                assert path is not None
                steps += plan_power_setpoint(path, float(setpoints["p_set_w"]), self._control_context())
            limits: list[float] = []
            if "p_limit_pct" in setpoints:
                limits.append(float(setpoints["p_limit_pct"]))
            if "p_limit_w" in setpoints:
                limits.append(limit_fraction_from_watts(float(setpoints["p_limit_w"]), self._rating()))
            if limits:
                path = self._limit_path()
                assert path is not None
                steps += plan_power_limit(path, min(limits), self._control_context())
        except ControlError as exc:
            raise SunSpecError(self.device_id, str(exc)) from None
        await self._write_steps(steps)

    # --- extras ---------------------------------------------------------------------------------

    async def release_control(self) -> None:
        """Hand control back to the device: clear the 704 / 123 / 124 enable flags this driver sets."""
        if self._options.read_only or not self._connected:
            return
        await self._write_steps(plan_release(self._models, self.kind))

    @property
    def blocks(self) -> list[ModelBlock]:
        """The discovered model chain (empty before ``connect()``)."""
        return list(self._blocks)

    @property
    def identity(self) -> Mapping[str, str]:
        """Model 1 strings: Mn (manufacturer), Md (model), Opt, Vr (version), SN (serial number)."""
        return dict(self._identity)

    @property
    def control_paths(self) -> Mapping[str, str]:
        """Which SunSpec mechanism carries each writable point, e.g. ``{"p_set_w": "704.WSet"}``."""
        paths: dict[str, str] = {}
        if (power := self._power_path()) is not None:
            paths["p_set_w"] = power.value
        if (limit := self._limit_path()) is not None:
            paths["p_limit_pct"] = paths["p_limit_w"] = limit.value
        return paths

    # --- private --------------------------------------------------------------------------------

    def _wanted_models(self) -> set[int]:
        wanted = {1, 123, 124, 704}
        for canonical in self._mapping:
            for source in canonical.sources:
                wanted.update(source.models)
        return wanted

    def _has_any_source(self) -> bool:
        return any(self._present_sources(c) for c in self._mapping)

    def _present_sources(self, canonical: CanonicalSource) -> list[tuple[Source, _Model]]:
        present: list[tuple[Source, _Model]] = []
        for source in canonical.sources:
            for model_id in source.models:
                model = self._models.get(model_id)
                if model is not None and source.point in model.layout:
                    present.append((source, model))
                    break
        return present

    def _evaluate(self, present: list[tuple[Source, _Model]], registers: Mapping[int, int]) -> PointReading:
        for source, model in present:
            if not self._conditions_hold(source, model, registers):
                return source.otherwise
            value = self._value(model, source.point, registers)
            if value is None:
                continue
            if source.conversion is Conversion.STORAGE_RATES_124:
                converted: PointReading = self._storage_setpoint_w(model, registers)
            else:
                converted = self._convert(source.conversion, value)
            if converted is not None:
                return converted
        return None

    def _storage_setpoint_w(self, model: _Model, registers: Mapping[int, int]) -> float | None:
        """Model 124 read-back of ``p_set_w`` (InWRte / OutWRte in % of WChaMax, both caps active)."""

        def number(path: str) -> float | None:
            value = self._value(model, path, registers)
            return float(value) if isinstance(value, int | float) else None

        mode = self._value(model, "StorCtl_Mod", registers)
        sf = self._cached_sf(model, "InWRte")
        w_cha_max = number("WChaMax")
        return setpoint_from_storage_rates(
            mode if isinstance(mode, int) else None,
            number("InWRte"),
            number("OutWRte"),
            w_cha_max if w_cha_max is not None else self._w_cha_max_w,
            tolerance_pct=10.0**sf if sf is not None else 0.0,
        )

    def _conditions_hold(self, source: Source, model: _Model, registers: Mapping[int, int]) -> bool:
        for name, expected in source.conditions:
            if name not in model.layout:
                continue
            raw = read_raw(model.layout[name], registers, model.block.address)
            if raw is not None and raw != expected:
                return False
        return True

    def _convert(self, conversion: Conversion, value: SunSpecValue) -> PointReading:
        if isinstance(value, str):
            return value
        if conversion is Conversion.VALUE:
            return value if isinstance(value, int) else float(value)
        if conversion is Conversion.POWER:
            return _negate(value) if self._power_sign == "active" else float(value)
        if conversion is Conversion.SETPOINT:
            return _negate(value) if self._setpoint_sign == "active" else float(value)
        if conversion is Conversion.PERCENT:
            return float(value) / 100.0
        if conversion is Conversion.INVERTER_STATE:
            return INVERTER_STATE_MAP.get(int(value))
        if conversion is Conversion.DER_STATE:
            return DER_STATE_MAP.get(int(value))
        raise AssertionError(f"unhandled conversion {conversion}")

    def _value(self, model: _Model, path: str, registers: Mapping[int, int]) -> SunSpecValue | None:
        overrides = {sf: v for (mid, sf), v in self._sf_cache.items() if mid == model.block.model_id}
        return read_point(model.layout, path, registers, model.block.address, overrides)

    async def _read_spans(self, spans: Sequence[Span]) -> dict[int, int]:
        registers: dict[int, int] = {}
        for span in spans:
            address, count = span.address, span.count
            words = await self._io.read(Function.HOLDING, address, count)
            if len(words) != count:
                raise DecodeError(self._io.name, f"read {count} registers at {address}, got {len(words)}")
            for offset, word in enumerate(words):
                registers[address + offset] = word
        return registers

    def _remember(self, registers: Mapping[int, int]) -> None:
        """Refresh scale factors, implemented points and control references from freshly read registers."""
        for model_id, model in self._models.items():
            address = model.block.address
            if not (address in registers or any(a in registers for a in range(address, model.block.end))):
                continue
            for placed in model.layout:
                start = address + placed.offset
                if start not in registers:
                    continue
                raw = read_raw(placed, registers, address)
                if raw is not None:
                    self._implemented.add((model_id, placed.path))
                if placed.point.type == "sunssf" and isinstance(raw, int):
                    self._sf_cache[(model_id, placed.path)] = raw
        if 124 in self._models:
            value = self._value(self._models[124], "WChaMax", registers)
            if isinstance(value, float | int):
                self._w_cha_max_w = float(value)
        for canonical in self._mapping:
            if canonical.name == "rated_p_w":
                present = self._present_sources(canonical)
                if present and any(self._has_registers(m, s.point, registers) for s, m in present):
                    rated = self._evaluate(present, registers)
                    if isinstance(rated, float | int) and rated > 0:
                        self._rated_w = float(rated)

    def _has_registers(self, model: _Model, path: str, registers: Mapping[int, int]) -> bool:
        return model.block.address + model.layout[path].offset in registers

    def _rating(self) -> float | None:
        if self._options.rated_power_w is not None:
            return self._options.rated_power_w
        return self._rated_w

    def _power_path(self) -> ControlPath | None:
        return power_path(self.kind, self._models)

    def _limit_path(self) -> ControlPath | None:
        return limit_path(self.kind, self._models)

    def _why_not_writable(self, name: str) -> str:
        if name == "p_set_w":
            if self.kind is not DeviceKind.PCS:
                return f"only pcs devices take p_set_w, this is a {self.kind.value}"
            return "the device has neither model 704 (DER AC controls) nor 124 (basic storage controls)"
        if name in ("p_limit_pct", "p_limit_w"):
            if self.kind is not DeviceKind.PV_INVERTER:
                return f"only pv_inverter devices take {name}, this is a {self.kind.value}"
            if self._limit_path() is None:
                return "the device has neither model 704 (DER AC controls) nor 123 (immediate controls)"
            return "no rated power known (120 WRtg, 702 WMaxRtg, 121 WMax) and no rated_power_w configured"
        return "not a SunSpec setpoint"

    def _control_context(self) -> ControlContext:
        return ControlContext(
            implemented=lambda model_id, path: (model_id, path) in self._implemented,
            revert_timeout_s=self._revert_timeout_s,
            setpoint_sign=self._setpoint_sign,
            w_cha_max_w=self._w_cha_max_w,
            rated_w=self._rating(),
        )

    async def _write_steps(self, steps: Sequence[WriteStep]) -> None:
        requests: list[tuple[int, list[int]]] = []
        for step in steps:
            model = self._models.get(step.model_id)
            if model is None:
                raise SunSpecError(self.device_id, f"model {step.model_id} is not present")
            words: dict[int, int] = {}
            for path, value in step.values:
                if path not in model.layout:
                    raise SunSpecError(self.device_id, f"model {step.model_id} has no point {path}")
                placed = model.layout[path]
                sf: int | None = None
                if placed.point.sf is not None:
                    sf = self._cached_sf(model, path)
                    if sf is None:
                        sf_name = placed.sf_path or placed.point.sf
                        raise SunSpecError(
                            self.device_id, f"scale factor {sf_name} of {step.model_id}.{path} is not available"
                        )
                try:
                    encoded = encode_point(placed, value, sf)
                except SunSpecValueError as exc:
                    raise SunSpecError(self.device_id, f"model {step.model_id}: {exc}") from None
                for index, word in enumerate(encoded):
                    words[model.block.address + placed.offset + index] = word
            requests.extend(plan_writes(words))
        for address, values in requests:
            await self._io.write_registers(address, values)

    def _cached_sf(self, model: _Model, path: str) -> int | None:
        placed = model.layout[path]
        if isinstance(placed.point.sf, int):
            return placed.point.sf
        if placed.sf_path is None:
            return None
        return self._sf_cache.get((model.block.model_id, placed.sf_path))


@dataclass(frozen=True)
class _Model:
    block: ModelBlock
    layout: ModelLayout


def _negate(value: int | float) -> float:
    return 0.0 - float(value)
