"""Builds the driver a site file names: ``sunspec`` or a YAML profile (bundled name or file path).

The only place that maps a ``driver:`` string to a driver class. It opens no connections.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from drivers.driver import DeviceDriver, DriverOptions
from drivers.io import RegisterIO
from drivers.profile import ProfileError, load_profile
from drivers.profile_driver import ProfileDriver

SUNSPEC = "sunspec"

_SunSpecFactory = Callable[[RegisterIO, DriverOptions], DeviceDriver]


def build_driver(driver_name: str, io: RegisterIO, options: DriverOptions) -> DeviceDriver:
    """A driver for one device: ``'sunspec'``, a bundled profile name, or a path to a profile YAML file.

    Raises ProfileError (naming the device and the driver) for an unknown or invalid profile, or a
    profile written for a different device kind.
    """
    if driver_name == SUNSPEC:
        return _sunspec_factory(options)(io, options)
    try:
        profile = load_profile(driver_name)
    except ProfileError as exc:
        raise ProfileError(f"device {options.device_id}: driver {driver_name!r}: {exc}") from None
    if profile.kind is not options.kind:
        raise ProfileError(
            f"device {options.device_id}: driver {driver_name!r} is a {profile.kind.value} profile, "
            f"but the device kind is {options.kind.value}"
        )
    return ProfileDriver(profile, io, options)


# --- private helpers ---------------------------------------------------------------------------


def _sunspec_factory(options: DriverOptions) -> _SunSpecFactory:
    try:
        module = importlib.import_module("drivers.sunspec.driver")
    except ModuleNotFoundError as exc:
        if exc.name not in ("drivers.sunspec", "drivers.sunspec.driver"):
            raise  # a dependency of the SunSpec driver is missing: a broken installation, not a config error
        raise ProfileError(
            f"device {options.device_id}: driver 'sunspec' is not available in this installation ({exc})"
        ) from None
    factory = getattr(module, "SunSpecDriver", None)
    if factory is None:
        raise ProfileError(f"device {options.device_id}: drivers.sunspec.driver has no SunSpecDriver")
    return cast(_SunSpecFactory, factory)
