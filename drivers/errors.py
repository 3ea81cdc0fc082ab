"""Errors raised by transports and drivers; the poller turns them into point quality and alarms."""

from __future__ import annotations


class DeviceError(Exception):
    """A request to a device failed. ``device`` names the device (id or bus/unit)."""

    def __init__(self, device: str, message: str) -> None:
        super().__init__(f"{device}: {message}")
        self.device = device


class DeviceTimeout(DeviceError):
    """The device did not answer within its timeout (after its retries)."""


class DeviceExceptionResponse(DeviceError):
    """The device answered with a Modbus exception code."""

    def __init__(self, device: str, code: int, message: str = "") -> None:
        super().__init__(device, f"Modbus exception {code}{': ' + message if message else ''}")
        self.code = code


class DeviceBackingOff(DeviceError):
    """The device failed recently and is in back-off; the request was not sent."""


class BusUnavailable(DeviceError):
    """The bus (TCP connection or serial port) is not connected."""


class DecodeError(DeviceError):
    """A reply could not be decoded (wrong length, impossible value)."""


class ReadOnlyDevice(DeviceError):
    """A write was attempted on a device or point marked read-only."""
