"""Serves simulated devices over real Modbus: TCP listeners and RTU serial lines, several unit ids each.

Owns the pymodbus servers (``SimDevice`` with an ``action`` hook that sees every read and write),
register refresh from the models through a register map (YAML profile image or SunSpec image),
decoding of writes into canonical setpoints, fault injection and the per-device write log.
It never steps physics (the site does) and never invents register layouts (the maps do).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simcore import SimCore

from drivers.codec import CodecError
from drivers.profile import Function
from simulators.faults import Faults, WriteRecord
from simulators.model import DeviceModel

_LOG = logging.getLogger(__name__)

RegisterKey = tuple[Function, int]

_FUNCTION_OF_CODE: dict[int, Function] = {
    1: Function.COIL,
    5: Function.COIL,
    15: Function.COIL,
    2: Function.DISCRETE,
    3: Function.HOLDING,
    6: Function.HOLDING,
    16: Function.HOLDING,
    22: Function.HOLDING,
    23: Function.HOLDING,
    4: Function.INPUT,
}
_BIT_FUNCTIONS = (Function.COIL, Function.DISCRETE)
_BLOCK_ORDER = (Function.COIL, Function.DISCRETE, Function.HOLDING, Function.INPUT)  # pymodbus tuple order


class RegisterMap(Protocol):
    """Turns canonical values into registers and register writes into canonical setpoints."""

    def spans(self) -> list[tuple[Function, int, int]]:
        """``(function, start, count)`` of every register/bit the device serves."""
        ...

    def encode(self, values: Mapping[str, float | None]) -> dict[RegisterKey, int]:
        """Raw registers/bits for canonical SI values (passive convention)."""
        ...

    def decode_write(self, function: Function, address: int, values: Sequence[int]) -> dict[str, float]:
        """Canonical setpoints from a write; raises CodecError for a write the device must reject."""
        ...


@dataclass(frozen=True)
class TcpEndpoint:
    """A Modbus TCP listener; devices with the same endpoint share it by unit id."""

    host: str
    port: int
    """0 = let the OS choose (see ``ModbusSimServer.tcp_port``)."""
    framer: str = "socket"
    """``socket`` (Modbus TCP) or ``rtu`` (RTU frames over TCP, like a serial device server)."""

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class SerialEndpoint:
    """An RTU line on a serial device path (e.g. one end of a ``PtyLink``)."""

    path: str
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8

    def __str__(self) -> str:
        return f"{self.path}@{self.baudrate}"


Endpoint = TcpEndpoint | SerialEndpoint


@dataclass(kw_only=True)
class ServedDevice:
    """One simulated device as the server exposes it."""

    device_id: str
    model: DeviceModel
    register_map: RegisterMap
    endpoint: Endpoint
    unit: int
    faults: Faults = field(default_factory=Faults)
    writes: list[WriteRecord] = field(default_factory=list)
    reads: int = 0
    """Read requests that reached the device (including refused ones)."""


class ModbusSimServer:
    """All Modbus listeners of a simulated site; add devices, then ``start()`` (or ``async with``)."""

    def __init__(self) -> None:
        self._devices: dict[str, ServedDevice] = {}
        self._servers: dict[Endpoint, ModbusTcpServer | ModbusSerialServer] = {}
        self._bound_ports: dict[Endpoint, int] = {}
        self._bad_points: set[tuple[str, str]] = set()

    # --- building ----------------------------------------------------------------------------

    def add_device(
        self, device_id: str, model: DeviceModel, register_map: RegisterMap, endpoint: Endpoint, unit: int
    ) -> ServedDevice:
        """Serve ``model`` through ``register_map`` at ``endpoint`` / ``unit`` (before ``start``)."""
        if self._servers:
            raise RuntimeError("add devices before starting the server")
        if device_id in self._devices:
            raise ValueError(f"device {device_id!r} is already served")
        for other in self._devices.values():
            if _same_bus(other.endpoint, endpoint) and other.unit == unit:
                raise ValueError(f"devices {other.device_id!r} and {device_id!r} both use unit {unit} on {endpoint}")
            if (
                isinstance(other.endpoint, SerialEndpoint)
                and isinstance(endpoint, SerialEndpoint)
                and other.endpoint.path == endpoint.path
                and other.endpoint != endpoint
            ):
                raise ValueError(
                    f"devices {other.device_id!r} and {device_id!r} share serial line {endpoint.path} "
                    "with different line settings"
                )
        served = ServedDevice(device_id=device_id, model=model, register_map=register_map, endpoint=endpoint, unit=unit)
        self._devices[device_id] = served
        return served

    async def start(self) -> None:
        """Open every listener and serial line."""
        groups: dict[Endpoint, list[ServedDevice]] = {}
        for served in self._devices.values():
            groups.setdefault(served.endpoint, []).append(served)
        try:
            for endpoint, members in groups.items():
                sim_devices = [self._sim_device(served) for served in members]
                server: ModbusTcpServer | ModbusSerialServer
                if isinstance(endpoint, TcpEndpoint):
                    server = ModbusTcpServer(
                        sim_devices,
                        framer=FramerType.RTU if endpoint.framer == "rtu" else FramerType.SOCKET,
                        address=(endpoint.host, endpoint.port),
                        ignore_missing_devices=True,
                    )
                else:
                    server = ModbusSerialServer(
                        sim_devices,
                        framer=FramerType.RTU,
                        port=endpoint.path,
                        baudrate=endpoint.baudrate,
                        parity=endpoint.parity,
                        stopbits=endpoint.stopbits,
                        bytesize=endpoint.bytesize,
                        ignore_missing_devices=True,
                    )
                server.context = _StrictCore(sim_devices)
                self._servers[endpoint] = server
                await server.serve_forever(background=True)
                if isinstance(endpoint, TcpEndpoint):
                    self._bound_ports[endpoint] = _bound_port(server)
        except Exception:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close every listener and serial line."""
        servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            await server.shutdown()  # type: ignore[no-untyped-call]

    async def __aenter__(self) -> ModbusSimServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # --- inspection and control -------------------------------------------------------------

    def devices(self) -> list[ServedDevice]:
        return list(self._devices.values())

    def device(self, device_id: str) -> ServedDevice:
        try:
            return self._devices[device_id]
        except KeyError:
            raise KeyError(f"no simulated device {device_id!r} (served: {', '.join(self._devices)})") from None

    def tcp_port(self, device_id: str) -> int:
        """The port a TCP device actually listens on (resolves port 0)."""
        endpoint = self.device(device_id).endpoint
        if not isinstance(endpoint, TcpEndpoint):
            raise ValueError(f"device {device_id!r} is on serial line {endpoint.path}, not TCP")
        return self._bound_ports.get(endpoint, endpoint.port)

    def address_of(self, device_id: str) -> str:
        """``host:port`` or serial path of a device."""
        served = self.device(device_id)
        if isinstance(served.endpoint, TcpEndpoint):
            return f"{served.endpoint.host}:{self.tcp_port(device_id)}"
        return served.endpoint.path

    def faults(self, device_id: str) -> Faults:
        """The live fault switches of a device (mutate them directly or use ``set_fault``)."""
        return self.device(device_id).faults

    def set_fault(
        self,
        device_id: str,
        *,
        no_response: bool | None = None,
        exception_code: int | None = None,
        delay_s: float | None = None,
        frozen: bool | None = None,
        forced: Mapping[str, float | None] | None = None,
        nan_everywhere: bool | None = None,
    ) -> Faults:
        """Switch faults of one device; arguments left as None keep their current state."""
        faults = self.faults(device_id)
        if no_response is not None:
            faults.no_response = no_response
        if exception_code is not None:
            faults.exception_code = None if exception_code == 0 else _exception(exception_code)
        if delay_s is not None:
            if delay_s < 0:
                raise ValueError(f"delay_s must be >= 0, got {delay_s}")
            faults.delay_s = delay_s
        if frozen is not None:
            faults.frozen = frozen
        if forced is not None:
            faults.forced = dict(forced)
        if nan_everywhere is not None:
            faults.nan_everywhere = nan_everywhere
        return faults

    def clear_faults(self, device_id: str | None = None) -> None:
        """Heal one device (or all)."""
        for served in [self.device(device_id)] if device_id is not None else self._devices.values():
            served.faults.clear()

    def write_log(self, device_id: str) -> list[WriteRecord]:
        """Every write that reached the device, in arrival order (arrival = ``time.monotonic()``)."""
        return list(self.device(device_id).writes)

    # --- private -----------------------------------------------------------------------------

    def _sim_device(self, served: ServedDevice) -> SimDevice:
        initial = self._encode(served)
        blocks: list[list[SimData]] = []
        spans = served.register_map.spans()
        for function in _BLOCK_ORDER:
            ranges = [(start, start + count) for fn, start, count in spans if fn is function]
            blocks.append(_block(function, ranges, initial))
        action = _DeviceAction(self, served)
        return SimDevice(id=served.unit, simdata=(blocks[0], blocks[1], blocks[2], blocks[3]), action=action.run)

    def _encode(self, served: ServedDevice) -> dict[RegisterKey, int]:
        values = served.model.points()
        if served.faults.forced:
            values = {**values, **served.faults.forced}
        if served.faults.nan_everywhere:
            values = dict.fromkeys(values)
        try:
            return served.register_map.encode(values)
        except CodecError:
            pass
        image: dict[RegisterKey, int] = {}
        for name, value in values.items():
            try:
                image.update(served.register_map.encode({name: value}))
            except CodecError as exc:
                if (served.device_id, name) not in self._bad_points:
                    self._bad_points.add((served.device_id, name))
                    _LOG.warning("simulated %s: cannot encode %s=%r: %s", served.device_id, name, value, exc)
        return image


class _DeviceAction:
    """The pymodbus ``action`` hook of one device: faults, write decoding, register refresh."""

    def __init__(self, server: ModbusSimServer, served: ServedDevice) -> None:
        self._server = server
        self._served = served

    async def run(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        arrival = time.monotonic()
        served = self._served
        faults = served.faults
        function = _FUNCTION_OF_CODE.get(function_code)
        if function is None:
            return ExcCodes.ILLEGAL_FUNCTION
        is_write = set_values is not None
        words = [int(v) for v in set_values] if set_values is not None else []
        if not is_write:
            served.reads += 1
        if faults.delay_s > 0:
            await asyncio.sleep(faults.delay_s)
        refused = faults.no_response or faults.exception_code is not None
        if is_write:
            return self._write(arrival, function, address, words, refused)
        if faults.no_response:
            raise NoSuchIdException(f"simulated no-response fault on {served.device_id}")
        if faults.exception_code is not None:
            return ExcCodes(faults.exception_code)
        if not faults.frozen:
            self._refresh(function, start_address, registers)
        return None

    def _write(
        self, arrival: float, function: Function, address: int, words: list[int], refused: bool
    ) -> ExcCodes | None:
        served = self._served
        faults = served.faults
        if refused:
            served.writes.append(
                WriteRecord(t_mono=arrival, function=function, address=address, values=tuple(words), accepted=False)
            )
            if faults.no_response:
                raise NoSuchIdException(f"simulated no-response fault on {served.device_id}")
            return ExcCodes(faults.exception_code or ExcCodes.DEVICE_FAILURE)
        try:
            setpoints = served.register_map.decode_write(function, address, words)
        except CodecError as exc:
            _LOG.info("simulated %s refused a write at %s %d: %s", served.device_id, function.value, address, exc)
            setpoints = None
        accepted = bool(setpoints)
        served.writes.append(
            WriteRecord(
                t_mono=arrival,
                function=function,
                address=address,
                values=tuple(words),
                setpoints=dict(setpoints or {}),
                accepted=accepted,
            )
        )
        if setpoints is None:
            return ExcCodes.ILLEGAL_VALUE
        if not setpoints:
            return ExcCodes.ILLEGAL_ADDRESS
        served.model.apply(setpoints)
        return None

    def _refresh(self, function: Function, start_address: int, registers: list[int]) -> None:
        image = self._server._encode(self._served)
        if function in _BIT_FUNCTIONS:
            for (fn, address), bit in image.items():
                if fn is not function:
                    continue
                index = address // 16 - start_address
                if 0 <= index < len(registers):
                    mask = 1 << (address % 16)
                    registers[index] = (registers[index] | mask) if bit else (registers[index] & ~mask)
            return
        for (fn, address), word in image.items():
            if fn is function:
                index = address - start_address
                if 0 <= index < len(registers):
                    registers[index] = word


class _StrictCore(SimCore):
    """SimCore that stays silent for unit ids nobody serves (like a real RTU line) instead of failing."""

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        if device_id not in self.devices:
            raise NoSuchIdException(f"unit {device_id}")
        return await super().async_getValues(device_id, func_code, address, count)

    async def async_setValues(
        self, device_id: int, func_code: int, address: int, values: list[int] | list[bool]
    ) -> ExcCodes | None:
        if device_id not in self.devices:
            raise NoSuchIdException(f"unit {device_id}")
        return await super().async_setValues(device_id, func_code, address, values)


def _block(function: Function, ranges: list[tuple[int, int]], initial: Mapping[RegisterKey, int]) -> list[SimData]:
    """One contiguous pymodbus block per function covering all its ranges (gaps read as 0)."""
    if function in _BIT_FUNCTIONS:
        if not ranges:
            return [SimData(address=65520, values=[False] * 16, datatype=DataType.BITS)]
        low = min(r[0] for r in ranges)
        high = max(r[1] for r in ranges)
        bits = [bool(initial.get((function, a), 0)) for a in range(low, high)]
        return [SimData(address=low, values=bits, datatype=DataType.BITS)]
    if not ranges:
        return [SimData(address=65535, datatype=DataType.INVALID)]
    low = min(r[0] for r in ranges)
    high = min(max(r[1] for r in ranges), 65536)
    words = [initial.get((function, a), 0) for a in range(low, high)]
    return [SimData(address=low, values=words, datatype=DataType.REGISTERS)]


def _same_bus(a: Endpoint, b: Endpoint) -> bool:
    if isinstance(a, SerialEndpoint) and isinstance(b, SerialEndpoint):
        return a.path == b.path
    return a == b


def _bound_port(server: ModbusTcpServer | ModbusSerialServer) -> int:
    listener = server.transport
    sockets = getattr(listener, "sockets", None)
    if not sockets:
        raise RuntimeError("TCP server did not open a socket")
    port: int = sockets[0].getsockname()[1]
    return port


def _exception(code: int) -> int:
    try:
        return int(ExcCodes(code))
    except ValueError:
        raise ValueError(
            f"exception_code must be a Modbus exception code ({', '.join(str(int(c)) for c in ExcCodes)}), got {code}"
        ) from None
