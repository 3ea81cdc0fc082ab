"""Which register map a simulated device serves: a YAML profile image or a SunSpec image.

Owns the choice by the site file's ``driver`` key and the adaptation of each image builder
(``drivers.register_image.RegisterImage``, ``drivers.sunspec.image``) to the server's ``RegisterMap``
protocol, including the SunSpec layout a site file asks for in ``devices[].simulation`` (base address,
control model). Never models physics and never opens sockets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from drivers.codec import CodecError
from drivers.points import DeviceKind
from drivers.profile import Function, ProfileError, load_profile
from drivers.register_image import RegisterImage
from drivers.sunspec.discovery import BASE_ADDRESSES
from drivers.sunspec.image import (
    DEFAULT_BASE,
    SunSpecImage,
    meter_image,
    pv_inverter_image,
    storage_inverter_image,
)
from drivers.sunspec.values import SunSpecValueError
from simulators.battery import PcsModel
from simulators.model import DeviceModel
from simulators.pv import PvInverterModel
from simulators.server import RegisterKey, RegisterMap

if TYPE_CHECKING:
    from zoe_ems.config.devices import DeviceConfig

SUNSPEC_KINDS = (DeviceKind.PCS, DeviceKind.PV_INVERTER, DeviceKind.METER)
"""Device kinds the simulator can serve as SunSpec devices."""


def register_map_for(device: DeviceConfig, model: DeviceModel) -> RegisterMap:
    """The register map of ``device``: its profile with the device's sign overrides, or a SunSpec image."""
    if device.driver == "sunspec":
        simulation = device.simulation
        control = None if simulation.sunspec_control is None else int(simulation.sunspec_control)
        return SunSpecRegisterMap.for_model(device.kind, model, base=simulation.sunspec_base, control_model=control)
    try:
        profile = load_profile(device.driver)
    except ProfileError as exc:
        raise ValueError(str(exc)) from None
    if profile.kind is not device.kind:
        raise ValueError(f"profile {profile.name!r} is for {profile.kind.value} devices, not {device.kind.value}")
    return RegisterImage(profile, sign_power=device.sign.power, sign_setpoint=device.sign.setpoint)


class SunSpecRegisterMap:
    """A SunSpec device (storage inverter, PV inverter or meter) as a ``RegisterMap``.

    Measurements are pushed into the image on every refresh; a write is stored in the image and the
    control registers (704 WSet / WMaxLimPct, 124 rates, 123 WMaxLimPct) are turned into canonical
    setpoints (``p_set_w`` for storage, ``p_limit_pct`` for PV).
    """

    def __init__(self, kind: DeviceKind, image: SunSpecImage) -> None:
        if kind not in SUNSPEC_KINDS:
            raise ValueError(
                f"SunSpec simulation supports {', '.join(k.value for k in SUNSPEC_KINDS)}, not {kind.value}"
            )
        self.kind = kind
        self.image = image
        addresses = sorted(image.registers)
        self._start = addresses[0]
        self._count = addresses[-1] - addresses[0] + 1

    @classmethod
    def for_model(
        cls,
        kind: DeviceKind,
        model: DeviceModel,
        *,
        base: int = DEFAULT_BASE,
        control_model: int | None = None,
    ) -> SunSpecRegisterMap:
        """Build the image that fits a simulated model (ratings and capacity from the model).

        ``base``: address of the ``SunS`` marker (40000, 0 or 50000). ``control_model``: the only control
        model to serve (pcs: 704 or 124, pv_inverter: 704 or 123); None gives both (pcs 704 + 124, PV 123 + 704).
        """
        if base not in BASE_ADDRESSES:
            raise ValueError(f"SunSpec base must be one of {', '.join(map(str, BASE_ADDRESSES))}, not {base}")
        if kind is DeviceKind.PCS and isinstance(model, PcsModel):
            controls = _control_models(kind, control_model, default=(704, 124))
            image = storage_inverter_image(
                rated_w=model.rated_w, capacity_wh=model.pack.params.capacity_wh, control_models=controls, base=base
            )
        elif kind is DeviceKind.PV_INVERTER and isinstance(model, PvInverterModel):
            controls = _control_models(kind, control_model, default=(123, 704))
            image = pv_inverter_image(rated_w=model.rated_w, control_models=controls, base=base)
        elif kind is DeviceKind.METER:
            _control_models(kind, control_model, default=())
            image = meter_image(base=base)
        else:
            raise _unsupported(kind)
        return cls(kind, image)

    def spans(self) -> list[tuple[Function, int, int]]:
        return [(Function.HOLDING, self._start, self._count)]

    def encode(self, values: Mapping[str, float | None]) -> dict[RegisterKey, int]:
        known = {name: float(value) for name, value in values.items() if value is not None}
        try:
            self.image.set_measurements(**_measurements(self.kind, known))
            if self.kind is DeviceKind.PCS and self.image.has_model(702):
                limits = {
                    "WChaRteMax": known.get("p_max_charge_w"),
                    "WDisChaRteMax": known.get("p_max_discharge_w"),
                }
                self.image.set(702, {k: v for k, v in limits.items() if v is not None})
        except SunSpecValueError as exc:
            raise CodecError(str(exc)) from None
        return {(Function.HOLDING, address): word for address, word in self.image.registers.items()}

    def decode_write(self, function: Function, address: int, values: Sequence[int]) -> dict[str, float]:
        if function is not Function.HOLDING:
            raise CodecError(f"a SunSpec device has no {function.value} objects")
        if address < self._start or address + len(values) > self._start + self._count:
            return {}
        try:
            touched = self.image.apply_write(address, [int(v) for v in values])
        except SunSpecValueError as exc:
            raise CodecError(str(exc)) from None
        if not touched:
            return {}
        controls = self.image.controls()
        if self.kind is DeviceKind.PCS:
            if controls.p_set_w is not None:
                return {"p_set_w": controls.p_set_w}
            low = controls.p_min_w if controls.p_min_w is not None else float("-inf")
            high = controls.p_max_w if controls.p_max_w is not None else float("inf")
            return {"p_set_w": min(max(0.0, low), high)}  # idle inside the allowed band
        if self.kind is DeviceKind.PV_INVERTER:
            fraction = controls.p_limit_fraction
            return {"p_limit_pct": 1.0 if fraction is None else fraction}
        return {}


_CONTROL_MODELS: dict[DeviceKind, tuple[int, ...]] = {DeviceKind.PCS: (704, 124), DeviceKind.PV_INVERTER: (704, 123)}


def _control_models(kind: DeviceKind, chosen: int | None, *, default: tuple[int, ...]) -> tuple[int, ...]:
    if chosen is None:
        return default
    allowed = _CONTROL_MODELS.get(kind, ())
    if chosen not in allowed:
        choices = " or ".join(map(str, allowed)) if allowed else "none"
        raise ValueError(f"a simulated SunSpec {kind.value} cannot serve control model {chosen} (choose {choices})")
    return (chosen,)


def _unsupported(kind: DeviceKind) -> ValueError:
    return ValueError(f"SunSpec simulation supports {', '.join(k.value for k in SUNSPEC_KINDS)}, not {kind.value}")


def _measurements(kind: DeviceKind, values: Mapping[str, float]) -> dict[str, float]:
    if kind is DeviceKind.PCS:
        picked = {k: values[k] for k in ("p_w", "q_var", "soc", "f_hz", "alarm") if k in values}
        if "alarm" in picked:
            picked["alarm"] = float(int(picked["alarm"]))
        return picked
    if kind is DeviceKind.PV_INVERTER:
        picked = {k: values[k] for k in ("p_w", "f_hz", "e_total_wh") if k in values}
        state = values.get("state")
        if state is not None:
            # SunSpec inverter states: 2 sleeping (night), 4 MPPT, 5 throttled, 7 fault
            picked["state"] = {1: 2.0, 2: 4.0, 3: 7.0}.get(int(state), 2.0)
        return picked
    picked = {
        k: values[k]
        for k in ("p_w", "p_l1_w", "p_l2_w", "p_l3_w", "q_var", "f_hz", "e_import_wh", "e_export_wh")
        if k in values
    }
    if "u_l1_v" in values:
        picked["u_v"] = values["u_l1_v"]
    return picked
