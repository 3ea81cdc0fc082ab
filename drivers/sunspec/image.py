"""Register images of SIMULATED SunSpec devices, for the simulators and tests.

``SunSpecImage`` lays out the ``SunS`` marker, model 1 and the given models (from the official
definitions) at a base address, encodes engineering values with scale factors, fills unset points
with "not implemented" sentinels and ends the chain with 0xFFFF. It decodes register writes back into
SunSpec points and summarises the control registers (``controls()``) so a simulator can react to
WSet / WMaxLimPct / 124 rate writes. ``storage_inverter_image``, ``pv_inverter_image`` and
``meter_image`` take canonical SI values (passive sign) so callers need not know SunSpec.
Never performs I/O; never used by the daemon's drivers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from drivers.sunspec.access import encode_point, read_point, read_raw
from drivers.sunspec.discovery import SUNS_MARKER, ModelBlock
from drivers.sunspec.models import END_MODEL_ID, ModelLayout, PointLayout, has_definition, load_model, model_layout
from drivers.sunspec.values import (
    SF_MAX,
    SunSpecValue,
    SunSpecValueError,
    integer_range,
    not_implemented_words,
)

ImageValue = int | float | str
"""Engineering value (scaled units of the SunSpec point), integer enum/bitfield, or symbol/text."""

DEFAULT_BASE = 40000
_SF_FIRST = -3
"""Finest scale factor tried when choosing one automatically."""


@dataclass(frozen=True, kw_only=True)
class ControlState:
    """What the control registers of a simulated device currently ask for (passive sign, SI units)."""

    p_set_w: float | None = None
    """Exact active-power setpoint (positive = charge); None when no setpoint is active."""
    p_min_w: float | None = None
    """Lower power bound (e.g. from 124 OutWRte); None = unbounded."""
    p_max_w: float | None = None
    """Upper power bound (e.g. from 124 InWRte); None = unbounded."""
    p_limit_fraction: float | None = None
    """Active-power limit as a fraction of rated power (704 / 123 WMaxLimPct); None = no limit."""
    revert_timeout_s: float | None = None
    """Reversion timer of the active control; None or 0 = none."""
    source: str = ""
    """Which registers the state came from, e.g. ``704.WSet``."""


class SunSpecImage:
    """A simulated device's SunSpec register image (``registers``: address -> 16-bit word)."""

    def __init__(self, models: Sequence[tuple[int, Mapping[str, ImageValue]]], *, base: int = DEFAULT_BASE) -> None:
        specs = list(models)
        if not specs or specs[0][0] != 1:
            specs.insert(0, (1, {"Mn": "ZOE-EMS", "Md": "simulated", "SN": "SIM-0001"}))
        self.base = base
        self.registers: dict[int, int] = {base: SUNS_MARKER[0], base + 1: SUNS_MARKER[1]}
        self._layouts: dict[int, tuple[ModelBlock, ModelLayout]] = {}
        self._chain: list[tuple[ModelBlock, ModelLayout]] = []
        self._family = ""
        self._rated_w: float | None = None
        address = base + 2
        for model_id, values in specs:
            layout = _layout_for(model_id, values)
            block = ModelBlock(model_id, address, layout.length)
            self._chain.append((block, layout))
            self._layouts.setdefault(model_id, (block, layout))
            self._fill(block, layout, values)
            address = block.end
        if address + 1 > 0xFFFF:
            raise SunSpecValueError(f"SunSpec image does not fit below 65536 (ends at {address})")
        self.registers[address] = END_MODEL_ID
        self.registers[address + 1] = 0

    @property
    def blocks(self) -> list[ModelBlock]:
        """The model chain as a driver would discover it."""
        return [block for block, _ in self._chain]

    def set(self, model_id: int, values: Mapping[str, ImageValue]) -> None:
        """Update points of ``model_id`` (engineering values); a value too large for its scale factor
        makes that scale factor coarser and re-encodes the points sharing it."""
        block, layout = self._model(model_id)
        for path in values:
            if path not in layout:
                raise KeyError(f"SunSpec model {model_id} has no point {path!r}")
        for path, value in values.items():
            if layout[path].point.type != "sunssf":
                continue
            # Keep the points that share this scale factor at their engineering values.
            users = {p.path: self.get(model_id, p.path) for p in layout if p.sf_path == path and p.path not in values}
            self._put(block, layout[path], value, None)
            for user, current in users.items():
                if current is not None:
                    self._put_scaled(block, layout, layout[user], current)
        for path, value in values.items():
            placed = layout[path]
            if placed.point.type != "sunssf":
                self._put_scaled(block, layout, placed, value)

    def get(self, model_id: int, path: str) -> SunSpecValue | None:
        """Engineering value of a point as a driver would read it (None when not implemented)."""
        block, layout = self._model(model_id)
        return read_point(layout, path, self.registers, block.address)

    def apply_write(self, address: int, values: Sequence[int]) -> dict[tuple[int, str], SunSpecValue | None]:
        """Store a register write and return the written points as ``{(model_id, path): value}``."""
        for offset, word in enumerate(values):
            if not 0 <= word <= 0xFFFF:
                raise SunSpecValueError(f"register value {word} at {address + offset} is not a 16-bit word")
            self.registers[address + offset] = word
        return self.decode_write(address, len(values))

    def decode_write(self, address: int, count: int) -> dict[tuple[int, str], SunSpecValue | None]:
        """Points touched by a write of ``count`` registers at ``address``, with their current values."""
        end = address + count
        touched: dict[tuple[int, str], SunSpecValue | None] = {}
        for block, layout in self._chain:
            if block.end <= address or block.address >= end:
                continue
            for placed in layout:
                start = block.address + placed.offset
                if start < end and start + placed.point.size > address:
                    value = read_point(layout, placed.path, self.registers, block.address)
                    touched[(block.model_id, placed.path)] = value
        return touched

    def controls(self) -> ControlState:
        """The setpoint / limit the control registers currently express (704 before 124 / 123)."""
        return _controls(self)

    def revert_controls(self) -> None:
        """What a device does when its reversion timer expires: clear the control enable flags."""
        for model_id, path in ((704, "WSetEna"), (704, "WMaxLimPctEna"), (123, "WMaxLim_Ena"), (124, "StorCtl_Mod")):
            if model_id in self._layouts and path in self._layouts[model_id][1]:
                self.set(model_id, {path: 0})

    def set_measurements(self, **canonical: float) -> None:
        """Update measured values from canonical SI values (passive sign); only for images built by
        ``storage_inverter_image``, ``pv_inverter_image`` or ``meter_image``."""
        setter = _MEASUREMENT_SETTERS.get(self._family)
        if setter is None:
            raise TypeError(
                "set_measurements() needs an image from storage_inverter_image/pv_inverter_image/meter_image"
            )
        setter(self, canonical)

    def has_model(self, model_id: int) -> bool:
        return model_id in self._layouts

    # --- private --------------------------------------------------------------------------------

    def _model(self, model_id: int) -> tuple[ModelBlock, ModelLayout]:
        try:
            return self._layouts[model_id]
        except KeyError:
            raise KeyError(f"the image has no SunSpec model {model_id}") from None

    def _fill(self, block: ModelBlock, layout: ModelLayout, values: Mapping[str, ImageValue]) -> None:
        for path in values:
            if path not in layout:
                raise KeyError(f"SunSpec model {block.model_id} has no point {path!r}")
        for placed in layout:
            words = not_implemented_words(placed.point.type, placed.point.size)
            for index, word in enumerate(words):
                self.registers[block.address + placed.offset + index] = word
        self.registers[block.address] = block.model_id
        self.registers[block.address + 1] = block.length
        for placed in layout:
            if placed.point.type == "sunssf":
                value = values.get(placed.path)
                if value is None:
                    users = [values[p.path] for p in layout if p.sf_path == placed.path and p.path in values]
                    value = _choose_sf(layout, placed.path, users) if users else 0
                self._put(block, placed, value, None)
        for path, value in values.items():
            placed = layout[path]
            if placed.point.type != "sunssf" and path not in ("ID", "L"):
                self._put_scaled(block, layout, placed, value)

    def _put(self, block: ModelBlock, placed: PointLayout, value: ImageValue, sf: int | None) -> None:
        words = encode_point(placed, value, sf)
        for index, word in enumerate(words):
            self.registers[block.address + placed.offset + index] = word

    def _put_scaled(self, block: ModelBlock, layout: ModelLayout, placed: PointLayout, value: ImageValue) -> None:
        point = placed.point
        if point.sf is None or isinstance(point.sf, int) or placed.sf_path is None:
            self._put(block, placed, value, point.sf if isinstance(point.sf, int) else None)
            return
        current = read_raw(layout[placed.sf_path], self.registers, block.address)
        sf = current if isinstance(current, int) else 0
        try:
            self._put(block, placed, value, sf)
            return
        except SunSpecValueError:
            if isinstance(value, str) or sf >= SF_MAX:
                raise
        # Re-scale every point sharing this scale factor (SunSpec allows scale factors to change).
        siblings = {p.path: read_point(layout, p.path, self.registers, block.address) for p in layout}
        users = {p.path: siblings[p.path] for p in layout if p.sf_path == placed.sf_path}
        users[placed.path] = value
        new_sf = _choose_sf(layout, placed.sf_path, [v for v in users.values() if v is not None], first=sf + 1)
        self._put(block, layout[placed.sf_path], new_sf, None)
        for path, v in users.items():
            if v is not None:
                self._put(block, layout[path], v, new_sf)


def build_image(models: Sequence[tuple[int, Mapping[str, ImageValue]]], *, base: int = DEFAULT_BASE) -> dict[int, int]:
    """Registers (address -> word) of a SunSpec device holding ``models`` (model 1 is added when absent)."""
    return dict(SunSpecImage(models, base=base).registers)


def decode_write(
    registers: Mapping[int, int], address: int, values: Sequence[int], *, base: int = DEFAULT_BASE
) -> dict[tuple[int, str], SunSpecValue | None]:
    """Stateless form of ``SunSpecImage.apply_write``: walk the chain held in ``registers`` (from
    ``base``) and decode the points a write of ``values`` at ``address`` touches, after the write."""
    merged = dict(registers)
    for offset, word in enumerate(values):
        merged[address + offset] = word
    if (merged.get(base), merged.get(base + 1)) != SUNS_MARKER:
        raise SunSpecValueError(f"no SunSpec marker at {base}")
    end = address + len(values)
    touched: dict[tuple[int, str], SunSpecValue | None] = {}
    cursor = base + 2
    while (model_id := merged.get(cursor, END_MODEL_ID)) != END_MODEL_ID:
        length = merged.get(cursor + 1, 0)
        block = ModelBlock(model_id, cursor, length)
        if block.end > address and block.address < end and has_definition(model_id):
            words = [merged.get(a, 0) for a in range(block.address, block.end)]
            layout = model_layout(model_id, length, words)
            for placed in layout:
                start = block.address + placed.offset
                if start < end and start + placed.point.size > address:
                    touched[(model_id, placed.path)] = read_point(layout, placed.path, merged, block.address)
        cursor = block.end
    return touched


def storage_inverter_image(
    *,
    rated_w: float,
    capacity_wh: float,
    p_w: float = 0.0,
    soc: float = 0.5,
    soh: float = 1.0,
    f_hz: float = 50.0,
    u_ac_v: float = 230.0,
    u_dc_v: float = 700.0,
    control_models: Collection[int] = (704, 124),
    with_battery: bool = True,
    base: int = DEFAULT_BASE,
    serial: str = "SIM-STORAGE",
) -> SunSpecImage:
    """A storage inverter: 1, 701, 702, [704], 713, [124], [802]. ``p_w`` passive (positive = charging)."""
    _check_controls(control_models, {704, 124})
    w_sf = _sf_for(rated_w * 1.5, 0x7FFF)
    models: list[tuple[int, Mapping[str, ImageValue]]] = [
        (1, {"Mn": "ZOE-EMS", "Md": "sim-storage-inverter", "SN": serial, "Vr": "1.0", "DA": 1}),
        (
            701,
            {
                "ACType": 2,
                "St": 1,
                "InvSt": 3,
                "ConnSt": 1,
                "Alrm": 0,
                "W_SF": w_sf,
                "Var_SF": w_sf,
                "VA_SF": w_sf,
                "V_SF": -1,
                "Hz_SF": -3,
                "A_SF": -2,
                "TotWh_SF": 0,
                "Var": 0.0,
            },
        ),
        (
            702,
            {
                "W_SF": w_sf,
                "VA_SF": w_sf,
                "Var_SF": w_sf,
                "WMaxRtg": rated_w,
                "VAMaxRtg": rated_w,
                "WChaRteMaxRtg": rated_w,
                "WDisChaRteMaxRtg": rated_w,
                "WMax": rated_w,
                "WChaRteMax": rated_w,
                "WDisChaRteMax": rated_w,
            },
        ),
    ]
    if 704 in control_models:
        models.append((704, _der_controls(w_sf)))
    wh_sf = _sf_for(capacity_wh * 1.01, 0xFFFE)
    models.append((713, {"WH_SF": wh_sf, "Pct_SF": -2, "WHRtg": capacity_wh, "Sta": 0}))
    if 124 in control_models:
        models.append(
            (
                124,
                {
                    "WChaMax_SF": w_sf if w_sf >= 0 else 0,
                    "WChaMax": rated_w,
                    "WChaDisChaGra_SF": 0,
                    "WChaGra": 100,
                    "WDisChaGra": 100,
                    "StorCtl_Mod": 0,
                    "ChaState_SF": -2,
                    "InOutWRte_SF": -2,
                    "OutWRte": 100.0,
                    "InWRte": 100.0,
                    "InOutWRte_WinTms": 0,
                    "InOutWRte_RvrtTms": 0,
                    "InOutWRte_RmpTms": 0,
                },
            )
        )
    if with_battery:
        max_current = rated_w / u_dc_v
        models.append(
            (
                802,
                {
                    "WHRtg_SF": wh_sf,
                    "WHRtg": capacity_wh,
                    "WChaDisChaMax_SF": w_sf if w_sf >= 0 else 0,
                    "WChaRteMax": rated_w,
                    "WDisChaRteMax": rated_w,
                    "SoC_SF": -2,
                    "SoH_SF": -2,
                    "V_SF": -1,
                    "A_SF": _sf_for(max_current * 1.5, 0x7FFF),
                    "AMax_SF": _sf_for(max_current * 1.5, 0xFFFE),
                    "W_SF": w_sf,
                    "AHRtg_SF": 0,
                    "CellV_SF": -3,
                    "LocRemCtl": 1,
                    "Typ": 4,
                    "State": 3,
                    "Evt1": 0,
                    "Evt2": 0,
                    "EvtVnd1": 0,
                    "EvtVnd2": 0,
                    "AlmRst": 0,
                    "SetOp": 1,
                    "SetInvState": 1,
                    "AChaMax": max_current,
                    "ADisChaMax": max_current,
                },
            )
        )
    image = SunSpecImage(models, base=base)
    image._family = "storage"
    image._rated_w = rated_w
    image.set_measurements(p_w=p_w, soc=soc, soh=soh, f_hz=f_hz, u_ac_v=u_ac_v, u_dc_v=u_dc_v)
    return image


def pv_inverter_image(
    *,
    rated_w: float,
    p_w: float = 0.0,
    f_hz: float = 50.0,
    e_total_wh: float = 0.0,
    u_ac_v: float = 230.0,
    float_model: bool = False,
    control_models: Collection[int] = (123,),
    base: int = DEFAULT_BASE,
    serial: str = "SIM-PV",
) -> SunSpecImage:
    """A three-phase PV inverter: 1, 103 (or 113), 120, [123], [702 + 704]. ``p_w`` passive (<= 0 producing)."""
    _check_controls(control_models, {704, 123})
    w_sf = _sf_for(rated_w * 1.5, 0x7FFF)
    inverter: dict[str, ImageValue] = {"St": 4, "Evt1": 0}
    if not float_model:
        inverter.update(
            {
                "A_SF": -2,
                "V_SF": -1,
                "W_SF": w_sf,
                "Hz_SF": -2,
                "VA_SF": w_sf,
                "VAr_SF": w_sf,
                "PF_SF": -2,
                "WH_SF": 0,
                "DCA_SF": -2,
                "DCV_SF": -1,
                "DCW_SF": w_sf,
                "Tmp_SF": -1,
            }
        )
    models: list[tuple[int, Mapping[str, ImageValue]]] = [
        (1, {"Mn": "ZOE-EMS", "Md": "sim-pv-inverter", "SN": serial, "Vr": "1.0", "DA": 1}),
        (113 if float_model else 103, inverter),
        (120, {"DERTyp": 4, "WRtg_SF": max(w_sf, 0), "WRtg": rated_w, "VARtg_SF": max(w_sf, 0), "VARtg": rated_w}),
    ]
    if 123 in control_models:
        models.append(
            (
                123,
                {
                    "Conn": 1,
                    "WMaxLimPct_SF": -1,
                    "WMaxLimPct": 100.0,
                    "WMaxLimPct_WinTms": 0,
                    "WMaxLimPct_RvrtTms": 0,
                    "WMaxLimPct_RmpTms": 0,
                    "WMaxLim_Ena": 0,
                    "OutPFSet_SF": -3,
                    "OutPFSet_Ena": 0,
                },
            )
        )
    if 704 in control_models:
        models.append((702, {"W_SF": w_sf, "WMaxRtg": rated_w, "WMax": rated_w}))
        models.append((704, _der_controls(w_sf)))
    image = SunSpecImage(models, base=base)
    image._family = "pv"
    image._rated_w = rated_w
    image.set_measurements(p_w=p_w, f_hz=f_hz, e_total_wh=e_total_wh, u_ac_v=u_ac_v)
    return image


def meter_image(
    *,
    p_w: float = 0.0,
    f_hz: float = 50.0,
    e_import_wh: float = 0.0,
    e_export_wh: float = 0.0,
    u_v: float = 230.0,
    phases: int = 3,
    max_power_w: float = 100_000.0,
    float_model: bool = False,
    base: int = DEFAULT_BASE,
    serial: str = "SIM-METER",
) -> SunSpecImage:
    """A meter: 1 and 203 (three phase) / 201 (single phase), or 213 / 211 with ``float_model``.

    ``p_w`` is positive for import into the metered side (SunSpec meter convention = passive).
    """
    if phases not in (1, 3):
        raise ValueError(f"meter_image: phases must be 1 or 3, got {phases}")
    model_id = (211 if phases == 1 else 213) if float_model else (201 if phases == 1 else 203)
    values: dict[str, ImageValue] = {"Evt": 0}
    if not float_model:
        w_sf = _sf_for(max_power_w * 1.5, 0x7FFF)
        a_sf = _sf_for(max_power_w / u_v / phases * 1.5, 0x7FFF)
        values.update(
            {
                "A_SF": a_sf,
                "V_SF": -1,
                "Hz_SF": -2,
                "W_SF": w_sf,
                "VA_SF": w_sf,
                "VAR_SF": w_sf,
                "PF_SF": -2,
                "TotWh_SF": 0,
                "TotVAh_SF": 0,
                "TotVArh_SF": 0,
            }
        )
    image = SunSpecImage(
        [(1, {"Mn": "ZOE-EMS", "Md": "sim-meter", "SN": serial, "Vr": "1.0", "DA": 1}), (model_id, values)],
        base=base,
    )
    image._family = "meter"
    image.set_measurements(p_w=p_w, f_hz=f_hz, e_import_wh=e_import_wh, e_export_wh=e_export_wh, u_v=u_v)
    return image


# --- private helpers ----------------------------------------------------------------------------


def _layout_for(model_id: int, values: Mapping[str, ImageValue]) -> ModelLayout:
    model = load_model(model_id)
    if not model.has_repeating_groups:
        return model_layout(model_id)
    counts: dict[str, int] = {}
    extra = 0
    for group in model.group.groups:
        if not group.repeating:
            continue
        prefix = f"{group.name}["
        indexes = [int(p[len(prefix) :].split("]", 1)[0]) for p in values if p.startswith(prefix)]
        n = max(indexes, default=0)
        if isinstance(group.count, int) and group.count > 0:
            continue
        if isinstance(group.count, str):
            given = values.get(group.count)
            n = int(given) if isinstance(given, int | float) else n
            counts[group.count] = n
        extra += n * group.fixed_size
    length = model.declared_length + extra
    return model_layout(model_id, length, counts=counts)


def _choose_sf(layout: ModelLayout, sf_path: str, values: Sequence[object], first: int = _SF_FIRST) -> int:
    """Finest exponent from ``first`` at which every value fits the types of the points using ``sf_path``."""
    users = [p for p in layout if p.sf_path == sf_path]
    numbers = [abs(float(v)) for v in values if isinstance(v, int | float) and math.isfinite(float(v))]
    peak = max(numbers, default=0.0)
    limit = min((r[1] for p in users if (r := integer_range(p.point.type)) is not None), default=0x7FFF)
    for sf in range(first, SF_MAX + 1):
        if round(peak / 10.0**sf) <= limit:
            return sf
    raise SunSpecValueError(f"no scale factor in {first}..{SF_MAX} fits {peak} in the points using {sf_path}")


def _sf_for(peak: float, limit: int) -> int:
    for sf in range(_SF_FIRST, SF_MAX + 1):
        if abs(peak) / 10.0**sf <= limit:
            return sf
    return SF_MAX


def _check_controls(control_models: Collection[int], allowed: set[int]) -> None:
    unknown = set(control_models) - allowed
    if unknown:
        raise ValueError(f"control_models: {sorted(unknown)} not supported here (choose from {sorted(allowed)})")


def _der_controls(w_sf: int) -> dict[str, ImageValue]:
    return {
        "WMaxLimPctEna": 0, "WMaxLimPct_SF": -1, "WMaxLimPct": 100.0, "WMaxLimPctEnaRvrt": 0,
        "WMaxLimPctRvrtTms": 0, "WSetEna": 0, "WSetMod": 1, "WSet_SF": w_sf, "WSet": 0.0, "WSetRvrt": 0.0,
        "WSetEnaRvrt": 0, "WSetRvrtTms": 0, "WSetPct_SF": -1, "WSetPct": 0.0,
    }  # fmt: skip


def _controls(image: SunSpecImage) -> ControlState:
    def value(model_id: int, path: str) -> float | None:
        if not image.has_model(model_id):
            return None
        v = image.get(model_id, path)
        return float(v) if isinstance(v, int | float) else None

    if value(704, "WSetEna") == 1:
        timeout = value(704, "WSetRvrtTms")
        if value(704, "WSetMod") == 0:
            pct, w_max = value(704, "WSetPct"), value(702, "WMax") or image._rated_w
            watts = None if pct is None or w_max is None else pct / 100.0 * w_max
        else:
            watts = value(704, "WSet")
        p_set = None if watts is None else 0.0 - watts
        return ControlState(p_set_w=p_set, p_min_w=p_set, p_max_w=p_set, revert_timeout_s=timeout, source="704.WSet")
    mode = value(124, "StorCtl_Mod")
    if mode is not None and int(mode) & 0b11:
        w_cha_max = value(124, "WChaMax")
        in_rte, out_rte = value(124, "InWRte"), value(124, "OutWRte")
        p_max = in_rte / 100.0 * w_cha_max if int(mode) & 0b01 and in_rte is not None and w_cha_max else None
        p_min = -out_rte / 100.0 * w_cha_max if int(mode) & 0b10 and out_rte is not None and w_cha_max else None
        exact = p_max if p_max is not None and p_min is not None and math.isclose(p_max, p_min) else None
        return ControlState(
            p_set_w=exact,
            p_min_w=p_min,
            p_max_w=p_max,
            revert_timeout_s=value(124, "InOutWRte_RvrtTms"),
            source="124.InOutWRte",
        )
    if value(704, "WMaxLimPctEna") == 1:
        pct = value(704, "WMaxLimPct")
        return ControlState(
            p_limit_fraction=None if pct is None else pct / 100.0,
            revert_timeout_s=value(704, "WMaxLimPctRvrtTms"),
            source="704.WMaxLimPct",
        )
    if value(123, "WMaxLim_Ena") == 1:
        pct = value(123, "WMaxLimPct")
        return ControlState(
            p_limit_fraction=None if pct is None else pct / 100.0,
            revert_timeout_s=value(123, "WMaxLimPct_RvrtTms"),
            source="123.WMaxLimPct",
        )
    return ControlState()


def _take(canonical: Mapping[str, float], allowed: Collection[str], family: str) -> dict[str, float]:
    unknown = set(canonical) - set(allowed)
    if unknown:
        raise ValueError(f"{family} image: unknown measurement(s) {sorted(unknown)} (known: {sorted(allowed)})")
    return {k: float(v) for k, v in canonical.items()}


def _set_storage(image: SunSpecImage, canonical: Mapping[str, float]) -> None:
    m = _take(canonical, ("p_w", "q_var", "soc", "soh", "f_hz", "u_ac_v", "u_dc_v", "i_a", "alarm"), "storage")
    if "p_w" in m:
        w = 0.0 - m["p_w"]
        image.set(701, {"W": w, "WL1": w / 3, "WL2": w / 3, "WL3": w / 3, "VA": abs(w)})
        if image.has_model(802):
            u_dc = m.get("u_dc_v") or image.get(802, "V")
            amps = m.get("i_a", m["p_w"] / float(u_dc) if isinstance(u_dc, int | float) and u_dc else 0.0)
            image.set(802, {"W": w, "A": 0.0 - amps})
    if "q_var" in m:
        image.set(701, {"Var": 0.0 - m["q_var"]})
    if "f_hz" in m:
        image.set(701, {"Hz": m["f_hz"]})
    if "u_ac_v" in m:
        u = m["u_ac_v"]
        image.set(701, {"LNV": u, "VL1": u, "VL2": u, "VL3": u, "LLV": u * math.sqrt(3)})
    if "soc" in m:
        pct = 100.0 * m["soc"]
        capacity = image.get(713, "WHRtg")
        image.set(713, {"SoC": pct, "WHAvail": m["soc"] * float(capacity) if isinstance(capacity, float) else 0.0})
        if image.has_model(124):
            image.set(124, {"ChaState": pct})
        if image.has_model(802):
            image.set(802, {"SoC": pct})
    if "soh" in m:
        image.set(713, {"SoH": 100.0 * m["soh"]})
        if image.has_model(802):
            image.set(802, {"SoH": 100.0 * m["soh"]})
    if "u_dc_v" in m and image.has_model(802):
        image.set(802, {"V": m["u_dc_v"]})
    if "alarm" in m:
        image.set(701, {"Alrm": int(m["alarm"])})
        if image.has_model(802):
            image.set(802, {"Evt1": int(m["alarm"])})


def _set_pv(image: SunSpecImage, canonical: Mapping[str, float]) -> None:
    m = _take(canonical, ("p_w", "f_hz", "e_total_wh", "u_ac_v", "state"), "pv")
    model_id = 113 if image.has_model(113) else 103
    values: dict[str, ImageValue] = {}
    if "p_w" in m:
        w = 0.0 - m["p_w"]
        values.update({"W": w, "VA": abs(w)})
        u = m.get("u_ac_v") or image.get(model_id, "PhVphA")
        if isinstance(u, float) and u > 0:
            values.update({"A": abs(w) / u, "AphA": abs(w) / u / 3, "AphB": abs(w) / u / 3, "AphC": abs(w) / u / 3})
    if "f_hz" in m:
        values["Hz"] = m["f_hz"]
    if "e_total_wh" in m:
        values["WH"] = m["e_total_wh"]
    if "u_ac_v" in m:
        u = m["u_ac_v"]
        values.update({"PhVphA": u, "PhVphB": u, "PhVphC": u})
    if "state" in m:
        values["St"] = int(m["state"])
    image.set(model_id, values)


def _set_meter(image: SunSpecImage, canonical: Mapping[str, float]) -> None:
    allowed = ("p_w", "p_l1_w", "p_l2_w", "p_l3_w", "q_var", "f_hz", "e_import_wh", "e_export_wh", "u_v")
    m = _take(canonical, allowed, "meter")
    model_id = next(mid for mid in (201, 203, 211, 213) if image.has_model(mid))
    three = model_id in (203, 213)
    phases = ("A", "B", "C") if three else ("A",)
    values: dict[str, ImageValue] = {}
    if "u_v" in m:
        values["PhV"] = m["u_v"]
        values.update({f"PhVph{x}": m["u_v"] for x in phases})
    u_now = m.get("u_v") or image.get(model_id, "PhVphA")
    u = float(u_now) if isinstance(u_now, int | float) and u_now else 230.0
    if "p_w" in m:
        values["W"] = m["p_w"]
        values["VA"] = abs(m["p_w"])
        for ph, x in zip(("l1", "l2", "l3"), phases, strict=False):
            values[f"Wph{x}"] = m.get(f"p_{ph}_w", m["p_w"] / len(phases))
        values["A"] = abs(m["p_w"]) / u
        for x in phases:
            values[f"Aph{x}"] = abs(float(values[f"Wph{x}"])) / u
    if "q_var" in m:
        values["VAR"] = m["q_var"]
    if "f_hz" in m:
        values["Hz"] = m["f_hz"]
    if "e_import_wh" in m:
        values["TotWhImp"] = m["e_import_wh"]
    if "e_export_wh" in m:
        values["TotWhExp"] = m["e_export_wh"]
    image.set(model_id, values)


_MEASUREMENT_SETTERS: dict[str, Callable[[SunSpecImage, Mapping[str, float]], None]] = {
    "storage": _set_storage,
    "pv": _set_pv,
    "meter": _set_meter,
}
