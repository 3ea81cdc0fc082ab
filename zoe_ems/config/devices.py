"""`devices:` section: each device's kind, driver (profile or SunSpec), transport and ratings.

Checks that need only one device live here; checks across devices (ids, buses) live in model.py,
checks against the installation (profiles, files) in check.py. No I/O here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from drivers.points import DeviceKind, MeterRole
from zoe_ems.config.base import CrossCheckError, Finding, StrictModel


class _TransportBase(StrictModel):
    unit: int = Field(default=1, ge=0, le=247, description="Modbus unit (device) id")
    timeout_ms: int = Field(default=500, ge=10, le=10000, description="per-request timeout for this device")
    retries: int = Field(default=1, ge=0, le=5, description="retries after a timeout before the poll fails")
    inter_request_delay_ms: int = Field(
        default=0,
        ge=0,
        le=2000,
        description="pause on the bus before each request (bus-wide: the largest wins)",
    )


class ModbusTcpTransport(_TransportBase):
    """Modbus TCP to a device or a TCP gateway (several unit ids may share host:port)."""

    type: Literal["modbus_tcp"] = Field(description="transport type")
    host: str = Field(min_length=1, description="IP address or host name")
    port: int = Field(default=502, ge=1, le=65535, description="TCP port")


class ModbusRtuOverTcpTransport(_TransportBase):
    """RTU frames tunnelled over a raw TCP socket (serial device servers)."""

    type: Literal["modbus_rtu_over_tcp"] = Field(description="transport type")
    host: str = Field(min_length=1, description="IP address or host name of the serial device server")
    port: int = Field(default=502, ge=1, le=65535, description="TCP port")


class ModbusRtuTransport(_TransportBase):
    """Modbus RTU on a serial line (RS485); all devices on one line share one bus task."""

    type: Literal["modbus_rtu"] = Field(description="transport type")
    device: str = Field(min_length=1, description="serial port, e.g. /dev/ttyUSB0 (all devices on it: same settings)")
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = Field(
        default=9600, description="line speed, bit/s"
    )
    parity: Literal["N", "E", "O"] = Field(default="N", description="none, even or odd")
    stopbits: Literal[1, 2] = Field(default=1, description="stop bits")
    bytesize: Literal[7, 8] = Field(default=8, description="data bits")


TransportConfig = Annotated[
    ModbusTcpTransport | ModbusRtuTransport | ModbusRtuOverTcpTransport, Field(discriminator="type")
]


class SignConfig(StrictModel):
    """Override of a profile's sign convention for this device."""

    power: Literal["passive", "active"] | None = Field(
        default=None,
        description="passive: device reports positive = into the device; active: positive = out of the device",
    )
    setpoint: Literal["passive", "active"] | None = Field(default=None, description="same, for power setpoints")


class SimulationConfig(StrictModel):
    """How `zoe-ems simulate` serves this device; used only by zoe-ems simulate, the daemon ignores it."""

    sunspec_base: Literal[40000, 0, 50000] = Field(
        default=40000, description="driver: sunspec only: address of the simulated `SunS` marker"
    )
    sunspec_control: Literal["704", "123", "124"] | None = Field(
        default=None,
        description=(
            "driver: sunspec only: the one control model the simulated device has (pcs: 704 or 124; "
            "pv_inverter: 704 or 123); unset: pcs 704 + 124, pv_inverter 123 + 704"
        ),
    )

    @field_validator("sunspec_control", mode="before")
    @classmethod
    def _model_number_as_text(cls, value: object) -> object:
        """`sunspec_control: 124` (a YAML number) means the same as `"124"`."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


_SIMULATED_CONTROLS: dict[DeviceKind, tuple[str, ...]] = {
    DeviceKind.PCS: ("704", "124"),
    DeviceKind.PV_INVERTER: ("704", "123"),
}


class DeviceConfig(StrictModel):
    """One device on the site."""

    id: str = Field(
        pattern=r"^[A-Za-z0-9_-]+$", min_length=1, max_length=64, description="unique device id (letters, digits, _ -)"
    )
    kind: DeviceKind = Field(description="meter | pcs | bms | pv_inverter | ev_charger | sg_ready | digital_io")
    role: MeterRole | None = Field(default=None, description="meters only: grid | pv | load | ev")
    driver: str = Field(
        min_length=1,
        description="'sunspec', a bundled profile name, or a path to a profile .yaml (relative to the site file)",
    )
    transport: TransportConfig = Field(description="how to reach the device; `type` selects the variant")
    poll_ms: int = Field(default=1000, ge=20, le=60000, description="poll interval of normal-class points")
    read_only: bool = Field(default=False, description="never write to this device")
    rated_power_kw: float | None = Field(default=None, gt=0, description="pcs / pv_inverter / ev_charger rating")
    capacity_kwh: float | None = Field(default=None, gt=0, description="bms (or storage pcs) usable capacity")
    bms: str | None = Field(default=None, description="pcs only: id of the BMS of this battery")
    phases: Literal[1, 3] | None = Field(default=None, description="ev_charger: phases the charger uses")
    min_current_a: float = Field(default=6.0, gt=0, description="ev_charger: minimum charging current")
    max_current_a: float | None = Field(default=None, gt=0, description="ev_charger: maximum charging current")
    sign: SignConfig = Field(default_factory=SignConfig, description="override of the profile's sign convention")
    setpoint_refresh_s: float = Field(
        default=10.0, ge=0.5, le=3600, description="re-write the last setpoints at least this often"
    )
    stale_after_s: float | None = Field(
        default=None, gt=0, description="point values older than this are stale (default 3 x poll interval)"
    )
    simulation: SimulationConfig = Field(
        default_factory=SimulationConfig,
        description="used only by zoe-ems simulate (SunSpec layout of the simulated device); the daemon ignores it",
    )

    @model_validator(mode="after")
    def _kind_specific(self) -> DeviceConfig:
        findings: list[Finding] = []
        if self.kind is DeviceKind.METER and self.role is None:
            findings.append((("role",), "meters need a role: grid | pv | load | ev"))
        if self.kind is not DeviceKind.METER and self.role is not None:
            findings.append((("role",), f"only meters have a role, this device is a {self.kind.value}"))
        if self.bms is not None and self.kind is not DeviceKind.PCS:
            findings.append((("bms",), f"only a pcs refers to a bms, this device is a {self.kind.value}"))
        if isinstance(self.transport, ModbusRtuTransport) and self.transport.unit == 0:
            findings.append((("transport", "unit"), "unit 0 is the RTU broadcast address; devices use 1..247"))
        if self.max_current_a is not None and self.min_current_a > self.max_current_a:
            findings.append(
                (("min_current_a",), f"{self.min_current_a} A is above max_current_a ({self.max_current_a} A)")
            )
        if self.stale_after_s is not None and self.stale_after_s < self.poll_interval_s:
            findings.append(
                (
                    ("stale_after_s",),
                    f"{self.stale_after_s} s is shorter than the poll interval ({self.poll_interval_s} s): "
                    "every value would be stale before the next poll",
                )
            )
        findings += self._simulation_findings()
        if findings:
            raise CrossCheckError(findings)
        return self

    def _simulation_findings(self) -> list[Finding]:
        given = self.simulation.model_fields_set
        if given and self.driver != "sunspec":
            return [
                (("simulation",), f"only driver: sunspec devices take SunSpec simulation settings, not {self.driver!r}")
            ]
        control = self.simulation.sunspec_control
        if control is not None and control not in _SIMULATED_CONTROLS.get(self.kind, ()):
            allowed = _SIMULATED_CONTROLS.get(self.kind)
            choices = f"choose {' or '.join(allowed)}" if allowed else "only pcs and pv_inverter have control models"
            return [(("simulation", "sunspec_control"), f"{control!r} does not fit a {self.kind.value}: {choices}")]
        return []

    @property
    def poll_interval_s(self) -> float:
        return self.poll_ms / 1000.0

    @property
    def stale_window_s(self) -> float:
        return self.stale_after_s if self.stale_after_s is not None else 3.0 * self.poll_interval_s
