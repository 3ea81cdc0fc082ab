"""`zoe-ems check-config`: a site file checked against the model and against this installation.

Beyond the model (types, ranges, ids, references, buses) this checks what the JSON Schema cannot:
driver profiles exist and match the device kind, referenced ``*_file`` files exist, and the site has
the grid meter its control needs. It never writes anything and never lets a traceback reach the user.
"""

from __future__ import annotations

import difflib
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from drivers.points import DeviceKind, MeterRole
from zoe_ems.config.base import ConfigPath
from zoe_ems.config.loader import ConfigProblem, Severity, is_profile_path, iter_fields, read_site_file
from zoe_ems.config.model import SiteConfig

SiteFinding = tuple[ConfigPath, str, Severity]
"""A problem found against the installation: path in the site file, message, severity."""

SUNSPEC = "sunspec"
SUNSPEC_KINDS = frozenset({DeviceKind.METER, DeviceKind.PCS, DeviceKind.BMS, DeviceKind.PV_INVERTER})
"""Device kinds SunSpec has models for (meters 20x/21x, inverters 1xx/70x, storage 124/713/802)."""

CONTROLLED_KINDS = frozenset({DeviceKind.PCS, DeviceKind.PV_INVERTER, DeviceKind.EV_CHARGER, DeviceKind.SG_READY})


def check_config(path: str | Path) -> tuple[SiteConfig | None, list[ConfigProblem]]:
    """Validate and check a site file: the config (None when any error) and every problem, sorted by line."""
    result = read_site_file(path)
    config = result.config
    problems = list(result.problems)
    if config is not None:
        problems += [result.source.problem(where, text, severity) for where, text, severity in site_findings(config)]
    problems.sort(key=lambda p: (p.line, p.path))
    if any(p.severity == "error" for p in problems):
        return None, problems
    return config, problems


def check_config_main(path: str) -> int:
    """Print each problem as ``FILE:LINE: dotted.path: message`` on stdout; 0 when valid, 1 otherwise."""
    try:
        config, problems = check_config(path)
    except Exception as exc:  # the contract is "never a traceback": report even our own bugs as a line
        print(f"{path}:0: (internal): unexpected {type(exc).__name__} while checking: {exc}")
        return 1
    for problem in problems:
        print(problem)
    if config is None:
        return 1
    warnings = sum(1 for p in problems if p.severity == "warning")
    note = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
    count = len(config.devices)
    print(f"{path}: OK ({count} device{'s' if count != 1 else ''}{note})", file=sys.stderr)
    return 0


def site_findings(config: SiteConfig) -> list[SiteFinding]:
    """Checks that need the installation or express site policy; run by ``run`` and ``check-config``."""
    return [
        *_driver_findings(config),
        *_grid_meter_findings(config),
        *_ffr_findings(config),
        *_control_reference_findings(config),
        *_file_findings(config),
    ]


# --- private helpers -------------------------------------------------------------------------------------


def _driver_findings(config: SiteConfig) -> list[SiteFinding]:
    from drivers.profile import available_profiles, load_profile

    findings: list[SiteFinding] = []
    bundled = available_profiles()
    loaded: dict[str, Any] = {}
    for index, device in enumerate(config.devices):
        where: ConfigPath = ("devices", index, "driver")
        driver = device.driver
        if driver == SUNSPEC:
            if device.kind not in SUNSPEC_KINDS:
                findings.append((where, f"SunSpec has no model for kind {device.kind.value}; use a profile", "error"))
            continue
        if not is_profile_path(driver) and driver not in bundled:
            close = difflib.get_close_matches(driver, [*bundled, SUNSPEC], n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            findings.append(
                (
                    where,
                    f"unknown profile {driver!r}; {hint}(bundled: {', '.join(bundled) or 'none'}; "
                    "or 'sunspec', or a path to a profile .yaml)",
                    "error",
                )
            )
            continue
        if is_profile_path(driver) and not Path(driver).is_file():
            findings.append((where, f"profile file not found: {driver}", "error"))
            continue
        if driver not in loaded:
            try:
                loaded[driver] = load_profile(driver)
            except Exception as exc:  # ProfileError, or anything a broken profile file triggers
                loaded[driver] = exc
        profile = loaded[driver]
        if isinstance(profile, Exception):
            findings.append((where, f"profile {driver!r} is invalid: {profile}", "error"))
        elif profile.kind != device.kind:
            findings.append(
                (
                    where,
                    f"profile {driver!r} is for kind {profile.kind.value}, but this device is kind {device.kind.value}",
                    "error",
                )
            )
    return findings


def _grid_meter_findings(config: SiteConfig) -> list[SiteFinding]:
    """Error when controlled devices run without a grid meter: the grid limits could not be enforced."""
    grid = [i for i, d in enumerate(config.devices) if d.kind is DeviceKind.METER and d.role is MeterRole.GRID]
    controlled = [d.id for d in config.devices if d.kind in CONTROLLED_KINDS and not d.read_only]
    if not grid and controlled:
        return [
            (
                ("devices",),
                "no grid meter (kind: meter, role: grid): site.grid import/export limits cannot be enforced "
                f"while the EMS controls {', '.join(controlled)}; add one, or mark those devices read_only",
                "error",
            )
        ]
    if not grid:
        return [(("devices",), "no grid meter: site.grid import/export limits are not monitored", "warning")]
    if len(grid) > 1:
        first = config.devices[grid[0]].id
        return [
            (
                ("devices", index, "role"),
                f"second grid meter; the control loop reads the grid power of one meter ({first})",
                "warning",
            )
            for index in grid[1:]
        ]
    return []


def _ffr_findings(config: SiteConfig) -> list[SiteFinding]:
    ffr = getattr(config.control, "ffr", None)
    if ffr is None or not getattr(ffr, "enabled", False):
        return []
    if any(d.kind is DeviceKind.PCS and not d.read_only for d in config.devices):
        return []
    return [(("control", "ffr", "enabled"), "FFR needs a pcs the EMS may write (none found)", "error")]


def _control_reference_findings(config: SiteConfig) -> list[SiteFinding]:
    """Per-device control settings must name devices of the right kind (read defensively: control evolves)."""
    findings: list[SiteFinding] = []
    kinds = {device.id: device.kind for device in config.devices}
    ev_charging = getattr(config.control, "ev_charging", None)
    chargers = getattr(ev_charging, "chargers", None)
    if isinstance(chargers, dict):
        for charger_id in chargers:
            where: ConfigPath = ("control", "ev_charging", "chargers", charger_id)
            kind = kinds.get(charger_id)
            if kind is None:
                known = ", ".join(i for i, k in kinds.items() if k is DeviceKind.EV_CHARGER) or "none"
                findings.append((where, f"no device with id {charger_id!r} (ev_charger devices: {known})", "error"))
            elif kind is not DeviceKind.EV_CHARGER:
                findings.append((where, f"device {charger_id!r} is a {kind.value}, not an ev_charger", "error"))
    load_limit = getattr(config.control, "load_limit", None)
    contact = getattr(load_limit, "contact", None)
    if contact is not None:
        where = ("control", "load_limit", "contact", "device")
        kind = kinds.get(contact.device)
        if kind is None:
            known = ", ".join(i for i, k in kinds.items() if k is DeviceKind.DIGITAL_IO) or "none"
            findings.append((where, f"no device with id {contact.device!r} (digital_io devices: {known})", "error"))
        elif kind is not DeviceKind.DIGITAL_IO:
            findings.append((where, f"device {contact.device!r} is a {kind.value}, not a digital_io", "error"))
    return findings


def _file_findings(config: SiteConfig) -> list[SiteFinding]:
    """Every ``*_file`` key must name an existing regular file; unreadable ones are warnings (user may differ)."""
    findings: list[SiteFinding] = []
    for where, key, value in iter_fields(config):
        if not key.endswith("_file") or not isinstance(value, Path):
            continue
        if not value.exists():
            findings.append((where, f"file not found: {value}", "error"))
        elif not value.is_file():
            findings.append((where, f"not a regular file: {value}", "error"))
        elif not os.access(value, os.R_OK):
            findings.append(
                (where, f"{value} is not readable by {_user()} (the daemon's user must read it)", "warning")
            )
    return findings


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid {os.getuid()}"
