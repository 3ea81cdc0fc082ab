"""The whole site file as one pydantic-settings model, with cross-checks between sections.

Environment variables ``ZOE_EMS_<SECTION>__<KEY>`` override file values (secrets and paths).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from drivers.points import DeviceKind
from zoe_ems.config.control import ControlConfig
from zoe_ems.config.devices import DeviceConfig
from zoe_ems.config.northbound import NorthboundConfig
from zoe_ems.config.optimizer import OptimizerConfig
from zoe_ems.config.runtime import RuntimeConfig
from zoe_ems.config.site import SiteSection
from zoe_ems.config.storage import StorageConfig


class SiteConfig(BaseSettings):
    """A validated site file."""

    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, env_prefix="ZOE_EMS_", env_nested_delimiter="__", validate_default=True
    )

    site: SiteSection
    devices: list[DeviceConfig] = Field(min_length=1)
    control: ControlConfig = Field(default_factory=ControlConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    northbound: NorthboundConfig | None = None
    storage: StorageConfig = Field(default_factory=StorageConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file: secrets and paths are injected by systemd or the operator.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _cross_checks(self) -> SiteConfig:
        ids: dict[str, int] = {}
        for index, device in enumerate(self.devices):
            if device.id in ids:
                raise ValueError(
                    f"devices.{index}.id: duplicate device id {device.id!r} (also devices.{ids[device.id]})"
                )
            ids[device.id] = index
        for index, device in enumerate(self.devices):
            if device.bms is not None:
                target = next((d for d in self.devices if d.id == device.bms), None)
                if target is None:
                    raise ValueError(f"devices.{index}.bms: no device with id {device.bms!r}")
                if target.kind is not DeviceKind.BMS:
                    raise ValueError(f"devices.{index}.bms: device {device.bms!r} is a {target.kind.value}, not a bms")
        return self

    def device(self, device_id: str) -> DeviceConfig:
        """The device with ``device_id``; KeyError if absent."""
        for device in self.devices:
            if device.id == device_id:
                return device
        raise KeyError(device_id)

    def socket_path(self) -> Any:
        """Status socket path (explicit, or next to the database)."""
        if self.runtime.socket_path is not None:
            return self.runtime.socket_path
        return self.storage.path.parent / "zoe-ems.sock"
