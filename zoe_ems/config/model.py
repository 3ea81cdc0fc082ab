"""The whole site file as one pydantic-settings model, with the structural cross-checks between devices.

Environment variables ``ZOE_EMS_<SECTION>__<KEY>`` override file values (secrets and paths).
Checks here need nothing but the model (ids, references, buses); checks against the installation
(profiles, files on disk) live in check.py so that the JSON Schema stays static. No file I/O here.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from drivers.points import DeviceKind
from zoe_ems.config.base import CrossCheckError, Finding
from zoe_ems.config.control import ControlConfig
from zoe_ems.config.devices import DeviceConfig, ModbusRtuTransport
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

    site: SiteSection = Field(description="identity, time zone and grid connection")
    devices: list[DeviceConfig] = Field(min_length=1, description="every Modbus device the EMS reads or controls")
    control: ControlConfig = Field(default_factory=ControlConfig, description="real-time control loop")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig, description="model-predictive planner")
    northbound: NorthboundConfig | None = Field(default=None, description="VPP link over MQTT (absent: no link)")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="SQLite history and outbox")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="process settings")

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
        findings = structural_findings(self)
        if findings:
            raise CrossCheckError(findings)
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


def structural_findings(config: SiteConfig) -> list[Finding]:
    """Problems between devices: duplicate ids, dangling or wrong references, inconsistent buses."""
    findings: list[Finding] = []
    findings += _unique_ids(config.devices)
    findings += _references(config.devices)
    findings += _bus_consistency(config.devices)
    return findings


def _unique_ids(devices: list[DeviceConfig]) -> list[Finding]:
    findings: list[Finding] = []
    first: dict[str, int] = {}
    for index, device in enumerate(devices):
        if device.id in first:
            findings.append(
                (("devices", index, "id"), f"duplicate device id {device.id!r} (also devices.{first[device.id]})")
            )
        else:
            first[device.id] = index
    return findings


def _references(devices: list[DeviceConfig]) -> list[Finding]:
    findings: list[Finding] = []
    by_id = {device.id: device for device in devices}
    for index, device in enumerate(devices):
        if device.bms is None:
            continue
        target = by_id.get(device.bms)
        if target is None:
            known = ", ".join(d.id for d in devices if d.kind is DeviceKind.BMS) or "none"
            findings.append((("devices", index, "bms"), f"no device with id {device.bms!r} (bms devices: {known})"))
        elif target.kind is not DeviceKind.BMS:
            findings.append((("devices", index, "bms"), f"device {device.bms!r} is a {target.kind.value}, not a bms"))
    return findings


_SERIAL_SETTINGS = ("baudrate", "parity", "stopbits", "bytesize")


def _bus_consistency(devices: list[DeviceConfig]) -> list[Finding]:
    """One serial line has one set of line settings, a TCP endpoint one framing; unit ids are unique per bus."""
    findings: list[Finding] = []
    first_on_bus: dict[tuple[str, str], int] = {}
    units: dict[tuple[tuple[str, str], int], int] = {}
    for index, device in enumerate(devices):
        transport = device.transport
        bus = _bus_key(device)
        where = ("devices", index, "transport")
        if bus in first_on_bus:
            other_index = first_on_bus[bus]
            other = devices[other_index].transport
            label = f"devices.{other_index} ({devices[other_index].id})"
            if isinstance(transport, ModbusRtuTransport) and isinstance(other, ModbusRtuTransport):
                for setting in _SERIAL_SETTINGS:
                    mine, theirs = getattr(transport, setting), getattr(other, setting)
                    if mine != theirs:
                        findings.append(
                            (
                                (*where, setting),
                                f"{mine!r} differs from {theirs!r} of {label} on the same serial line {bus[1]}",
                            )
                        )
            elif transport.type != other.type:
                findings.append(
                    ((*where, "type"), f"{transport.type} on {bus[1]}, but {label} uses {other.type} there")
                )
        else:
            first_on_bus[bus] = index
        unit_key = (bus, transport.unit)
        if unit_key in units:
            other_index = units[unit_key]
            findings.append(
                (
                    (*where, "unit"),
                    f"unit id {transport.unit} is already used on {bus[1]} by devices.{other_index} "
                    f"({devices[other_index].id})",
                )
            )
        else:
            units[unit_key] = index
    return findings


def _bus_key(device: DeviceConfig) -> tuple[str, str]:
    transport = device.transport
    if isinstance(transport, ModbusRtuTransport):
        return ("serial", transport.device)
    return ("tcp", f"{transport.host.strip().lower()}:{transport.port}")
