"""One Modbus request: argument checks, the pymodbus call for one attempt, and reply validation.

Owns the mapping from ``Function`` and write operations to Modbus function codes and pymodbus client calls,
and the checks that a reply really answers the request (unit, function, address, count), so a late or stray
frame is never taken for the answer. Must never retry, time out or sleep: the bus does that.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from pymodbus.client.base import ModbusBaseClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu import ModbusPDU

from drivers.profile import Function
from drivers.transport.device import DeviceLink

FC_READ_COILS = 1
FC_READ_DISCRETE = 2
FC_READ_HOLDING = 3
FC_READ_INPUT = 4
FC_WRITE_COIL = 5
FC_WRITE_REGISTER = 6
FC_WRITE_COILS = 15
FC_WRITE_REGISTERS = 16

READ_FUNCTION_CODES: dict[Function, int] = {
    Function.COIL: FC_READ_COILS,
    Function.DISCRETE: FC_READ_DISCRETE,
    Function.HOLDING: FC_READ_HOLDING,
    Function.INPUT: FC_READ_INPUT,
}
MAX_READ_REGISTERS = 125
MAX_WRITE_REGISTERS = 123
MAX_READ_BITS = 2000
MAX_WRITE_BITS = 1968

GATEWAY_PATH_UNAVAILABLE = 0x0A
GATEWAY_TARGET_NO_RESPONSE = 0x0B


class BadReply(Exception):
    """A frame arrived that does not answer the request (stale, stray or malformed)."""


class ExceptionReply(Exception):
    """The device answered with a Modbus exception code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"exception code {code}")
        self.code = code


@dataclass(slots=True, eq=False)
class Request:
    """A queued request of one device; ``future`` gets the registers/bits read (``[]`` for writes)."""

    link: DeviceLink
    function_code: int
    address: int
    count: int
    values: list[int] = field(default_factory=list)
    future: asyncio.Future[list[int]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    @property
    def is_write(self) -> bool:
        return self.function_code in (FC_WRITE_COIL, FC_WRITE_REGISTER, FC_WRITE_COILS, FC_WRITE_REGISTERS)

    def describe(self) -> str:
        return f"fc {self.function_code} @{self.address} x{self.count}"


def read_request(link: DeviceLink, function: Function, address: int, count: int) -> Request:
    """Build a read request; ``ValueError`` on counts or addresses Modbus cannot carry."""
    fc = READ_FUNCTION_CODES[Function(function)]
    limit = MAX_READ_BITS if fc in (FC_READ_COILS, FC_READ_DISCRETE) else MAX_READ_REGISTERS
    _check_span(f"read {function.value}", address, count, limit)
    return Request(link, fc, address, count)


def write_registers_request(link: DeviceLink, address: int, values: list[int]) -> Request:
    """Build a register write (function 6 for one register, 16 for several)."""
    _check_span("write_registers", address, len(values), MAX_WRITE_REGISTERS)
    for value in values:
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"write_registers: register value {value} is not a 16-bit unsigned integer")
    fc = FC_WRITE_REGISTER if len(values) == 1 else FC_WRITE_REGISTERS
    return Request(link, fc, address, len(values), list(values))


def write_coils_request(link: DeviceLink, address: int, values: list[bool]) -> Request:
    """Build a coil write (function 5 for one coil, 15 for several)."""
    _check_span("write_coils", address, len(values), MAX_WRITE_BITS)
    fc = FC_WRITE_COIL if len(values) == 1 else FC_WRITE_COILS
    return Request(link, fc, address, len(values), [1 if v else 0 for v in values])


async def perform(client: ModbusBaseClient, request: Request) -> list[int]:
    """Send the request once and return the validated data. Raises ``BadReply``, ``ExceptionReply``,
    and pymodbus ``ConnectionException`` when the client is not connected."""
    unit = request.link.params.unit
    address = request.address
    fc = request.function_code
    try:
        if fc == FC_READ_HOLDING:
            reply = await client.read_holding_registers(address, count=request.count, device_id=unit)
        elif fc == FC_READ_INPUT:
            reply = await client.read_input_registers(address, count=request.count, device_id=unit)
        elif fc == FC_READ_COILS:
            reply = await client.read_coils(address, count=request.count, device_id=unit)
        elif fc == FC_READ_DISCRETE:
            reply = await client.read_discrete_inputs(address, count=request.count, device_id=unit)
        elif fc == FC_WRITE_REGISTER:
            reply = await client.write_register(address, request.values[0], device_id=unit)
        elif fc == FC_WRITE_REGISTERS:
            reply = await client.write_registers(address, request.values, device_id=unit)
        elif fc == FC_WRITE_COIL:
            reply = await client.write_coil(address, bool(request.values[0]), device_id=unit)
        elif fc == FC_WRITE_COILS:
            reply = await client.write_coils(address, [bool(v) for v in request.values], device_id=unit)
        else:  # pragma: no cover - Request builders only produce the codes above
            raise AssertionError(f"unsupported function code {fc}")
    except ModbusIOException as exc:
        raise BadReply(str(exc)) from exc
    return check_reply(request, reply)


def check_reply(request: Request, reply: ModbusPDU) -> list[int]:
    """Return the data of ``reply`` if it answers ``request``; raise ``ExceptionReply`` or ``BadReply``."""
    unit = request.link.params.unit
    fc = request.function_code
    if unit and reply.dev_id != unit:
        raise BadReply(f"reply from unit {reply.dev_id} to a request for unit {unit}")
    if reply.isError():
        if reply.function_code & 0x7F != fc:
            raise BadReply(f"exception reply for function {reply.function_code & 0x7F} to function {fc}")
        raise ExceptionReply(reply.exception_code)
    if reply.function_code != fc:
        raise BadReply(f"reply for function {reply.function_code} to function {fc}")
    if fc in (FC_READ_HOLDING, FC_READ_INPUT):
        registers = list(reply.registers)
        if len(registers) != request.count:
            raise BadReply(f"{len(registers)} registers in reply, {request.count} requested")
        return registers
    if fc in (FC_READ_COILS, FC_READ_DISCRETE):
        bits = list(reply.bits)
        if not request.count <= len(bits) < request.count + 8:
            raise BadReply(f"{len(bits)} bits in reply, {request.count} requested")
        return [1 if bit else 0 for bit in bits[: request.count]]
    if reply.address != request.address:
        raise BadReply(f"write echo for address {reply.address}, {request.address} written")
    if fc == FC_WRITE_REGISTER and list(reply.registers) != request.values:
        raise BadReply(f"write echo {list(reply.registers)}, {request.values} written")
    if fc == FC_WRITE_COIL and [1 if b else 0 for b in reply.bits[:1]] != request.values:
        raise BadReply(f"write echo {list(reply.bits[:1])}, {request.values} written")
    if fc in (FC_WRITE_REGISTERS, FC_WRITE_COILS) and reply.count != request.count:
        raise BadReply(f"write echo count {reply.count}, {request.count} written")
    return []


def _check_span(what: str, address: int, count: int, limit: int) -> None:
    if not 1 <= count <= limit:
        raise ValueError(f"{what}: count must be 1..{limit}, got {count}")
    if address < 0 or address + count > 0x10000:
        raise ValueError(f"{what}: address range {address}..{address + count - 1} is outside 0..65535")
