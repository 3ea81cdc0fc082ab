"""SunSpec discovery: find the ``SunS`` marker and walk the chain of (model id, length) headers.

Reads only headers (two registers each) through a ``RegisterIO``; knows nothing about what the models
mean. A base that answers with a Modbus exception, a timeout or an undecodable reply is skipped and the
next base is tried. Unknown model ids are skipped by their length. Never writes to the device.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

from drivers.errors import DecodeError, DeviceError, DeviceExceptionResponse, DeviceTimeout
from drivers.io import RegisterIO
from drivers.profile import Function
from drivers.sunspec.models import END_MODEL_ID

BASE_ADDRESSES: tuple[int, ...] = (40000, 0, 50000)
"""Where the ``SunS`` marker is looked for, in this order (0-based protocol addresses)."""
SUNS_MARKER: tuple[int, int] = (0x5375, 0x6E53)
"""``SunS`` as two registers."""
MAX_MODELS = 256
"""Safety stop for a chain that never ends."""

_log = logging.getLogger(__name__)


class ModelBlock(NamedTuple):
    """One model in a device's chain."""

    model_id: int
    address: int
    """Address of the model's ID register; its data starts at ``address + 2``."""
    length: int
    """The model's ``L``: registers after the ID and L registers."""

    @property
    def end(self) -> int:
        """First address after the model."""
        return self.address + 2 + self.length


class SunSpecNotFound(DeviceError):
    """No ``SunS`` marker at any base address; the message says what each base answered."""


async def discover(io: RegisterIO, base_addresses: Sequence[int] = BASE_ADDRESSES) -> list[ModelBlock]:
    """The model chain of the device: every (model id, address, length) from the marker to 0xFFFF.

    Raises ``SunSpecNotFound`` when no base holds the marker, or the last ``DeviceTimeout`` when every
    base timed out (a silent device, not a non-SunSpec one); connection-level errors (bus down,
    back-off) propagate at once since trying further bases cannot help.
    """
    findings: list[str] = []
    timeouts: list[DeviceTimeout] = []
    for base in base_addresses:
        try:
            words = await io.read(Function.HOLDING, base, 2)
        except (DeviceExceptionResponse, DeviceTimeout, DecodeError) as exc:
            findings.append(f"{base}: {_short(exc)}")
            if isinstance(exc, DeviceTimeout):
                timeouts.append(exc)
            continue
        if tuple(words[:2]) != SUNS_MARKER:
            findings.append(f"{base}: no marker ({' '.join(f'0x{w:04X}' for w in words[:2])})")
            continue
        return await _walk_chain(io, base + 2)
    if timeouts and len(timeouts) == len(findings):
        raise timeouts[-1]
    raise SunSpecNotFound(io.name, "no SunSpec marker 'SunS' found; tried " + "; ".join(findings))


# --- private helpers ----------------------------------------------------------------------------


async def _walk_chain(io: RegisterIO, address: int) -> list[ModelBlock]:
    blocks: list[ModelBlock] = []
    while len(blocks) < MAX_MODELS and address + 1 <= 0xFFFF:
        try:
            header = await io.read(Function.HOLDING, address, 2)
        except DeviceExceptionResponse as exc:
            if not blocks:
                raise
            # Some devices stop answering after the last model instead of showing the end marker.
            _log.warning("%s: SunSpec chain ends without end marker at %d (%s)", io.name, address, _short(exc))
            break
        if len(header) < 2:
            raise DecodeError(io.name, f"SunSpec header at {address}: expected 2 registers, got {len(header)}")
        model_id, length = header[0], header[1]
        if model_id == END_MODEL_ID:
            break
        if model_id == 0:
            _log.warning("%s: SunSpec chain ends with model id 0 at %d", io.name, address)
            break
        if not blocks and model_id != 1:
            _log.warning("%s: SunSpec chain starts with model %d instead of model 1", io.name, model_id)
        blocks.append(ModelBlock(model_id, address, length))
        address += 2 + length
    else:
        _log.warning("%s: SunSpec chain stopped after %d models at %d", io.name, len(blocks), address)
    return blocks


def _short(exc: DeviceError) -> str:
    text = str(exc)
    prefix = f"{exc.device}: "
    return text[len(prefix) :] if text.startswith(prefix) else text
