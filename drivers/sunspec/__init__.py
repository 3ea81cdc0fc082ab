"""SunSpec: model-chain discovery and point access using the official pysunspec2 model definitions.

Public API (see docs/sunspec.md): ``SunSpecDriver`` (a DeviceDriver), ``discover`` / ``ModelBlock``,
``load_model`` / ``model_layout`` (parsed definitions), and for simulators ``SunSpecImage`` with the
``storage_inverter_image`` / ``pv_inverter_image`` / ``meter_image`` builders.
"""

from drivers.sunspec.discovery import BASE_ADDRESSES, ModelBlock, SunSpecNotFound, discover
from drivers.sunspec.driver import DEFAULT_REVERT_TIMEOUT_S, SunSpecDriver, SunSpecError
from drivers.sunspec.image import (
    ControlState,
    SunSpecImage,
    build_image,
    decode_write,
    meter_image,
    pv_inverter_image,
    storage_inverter_image,
)
from drivers.sunspec.models import ModelDef, ModelDefinitionError, ModelLayout, load_model, model_layout

__all__ = [
    "BASE_ADDRESSES",
    "DEFAULT_REVERT_TIMEOUT_S",
    "ControlState",
    "ModelBlock",
    "ModelDef",
    "ModelDefinitionError",
    "ModelLayout",
    "SunSpecDriver",
    "SunSpecError",
    "SunSpecImage",
    "SunSpecNotFound",
    "build_image",
    "decode_write",
    "discover",
    "load_model",
    "meter_image",
    "model_layout",
    "pv_inverter_image",
    "storage_inverter_image",
]
