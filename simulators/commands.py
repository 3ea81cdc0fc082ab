"""Text commands that change a running simulated site: faults, load steps, frequency, sun, cars.

One command per line (from the ``zoe-ems simulate`` standard input, or anything else that forwards
lines). Owns parsing and applying them; each returns a one-line answer. Never performs I/O itself.
"""

from __future__ import annotations

import shlex

from simulators.ev import EvChargerModel
from simulators.io import DigitalIoModel
from simulators.site import SimulatedSite

HELP = """commands:
  fault DEVICE no-response | exception CODE | delay SECONDS | freeze | unfreeze | clear
  load +W | -W            step the site load (e.g. load +100e3)
  freq HZ                 hold the grid frequency (e.g. freq 49.6)
  freq step AFTER_S HZ [AFTER_S HZ ...]
  sun W_PER_M2 | clear    constant irradiance, or back to the clear-sky day
  ev DEVICE plug KWH [STAY_S] | unplug
  contact DEVICE N closed | open   a digital input (e.g. a §14a control box on di1)
  status                  one line per device
  help"""


class CommandError(ValueError):
    """A command line could not be understood; the message says why."""


def apply_command(site: SimulatedSite, line: str) -> str:
    """Apply one command line to ``site``; returns the answer, raises CommandError on bad input."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise CommandError(f"cannot parse {line!r}: {exc}") from None
    if not words:
        return ""
    verb, args = words[0].lower(), words[1:]
    try:
        if verb == "help":
            return HELP
        if verb == "status":
            return _status(site)
        if verb == "fault":
            return _fault(site, args)
        if verb == "load":
            _need(args, 1, "load +W")
            site.load.step(float(args[0]))
            return f"load offset now {site.load.offset_w:+.0f} W"
        if verb == "freq":
            return _freq(site, args)
        if verb == "sun":
            _need(args, 1, "sun W_PER_M2 | clear")
            if args[0] == "clear":
                site.pv.set_clear_sky()
                return "irradiance: clear-sky day curve"
            site.pv.set_irradiance(float(args[0]))
            return f"irradiance held at {float(args[0]):.0f} W/m²"
        if verb == "ev":
            return _ev(site, args)
        if verb == "contact":
            return _contact(site, args)
    except (KeyError, ValueError) as exc:
        if isinstance(exc, CommandError):
            raise
        raise CommandError(f"{line.strip()!r}: {exc}") from None
    raise CommandError(f"unknown command {verb!r} (try: help)")


def _need(args: list[str], count: int, usage: str) -> None:
    if len(args) < count:
        raise CommandError(f"usage: {usage}")


def _fault(site: SimulatedSite, args: list[str]) -> str:
    _need(args, 2, "fault DEVICE no-response | exception CODE | delay SECONDS | freeze | unfreeze | clear")
    device_id, mode = args[0], args[1].lower()
    if mode == "clear":
        site.clear_faults(device_id)
    elif mode == "no-response":
        site.set_fault(device_id, no_response=True)
    elif mode == "exception":
        _need(args, 3, "fault DEVICE exception CODE")
        site.set_fault(device_id, exception_code=int(args[2], 0))
    elif mode == "delay":
        _need(args, 3, "fault DEVICE delay SECONDS")
        site.set_fault(device_id, delay_s=float(args[2]))
    elif mode in ("freeze", "unfreeze"):
        site.set_fault(device_id, frozen=mode == "freeze")
    else:
        raise CommandError(f"unknown fault {mode!r}")
    return f"{device_id}: {site.server.faults(device_id).describe()}"


def _freq(site: SimulatedSite, args: list[str]) -> str:
    _need(args, 1, "freq HZ | freq step AFTER_S HZ ...")
    if args[0] == "step":
        pairs = args[1:]
        if not pairs or len(pairs) % 2:
            raise CommandError("usage: freq step AFTER_S HZ [AFTER_S HZ ...]")
        steps = [(float(pairs[i]), float(pairs[i + 1])) for i in range(0, len(pairs), 2)]
        site.frequency.play_steps(steps)
        return f"frequency steps scheduled: {steps}"
    site.frequency.set(float(args[0]))
    return f"frequency held at {float(args[0]):.3f} Hz"


def _ev(site: SimulatedSite, args: list[str]) -> str:
    _need(args, 2, "ev DEVICE plug KWH [STAY_S] | unplug")
    model = site.model(args[0])
    if not isinstance(model, EvChargerModel):
        raise CommandError(f"{args[0]} is not an EV charger")
    if args[1] == "unplug":
        model.unplug()
        return f"{args[0]}: car unplugged"
    if args[1] == "plug":
        _need(args, 3, "ev DEVICE plug KWH [STAY_S]")
        stay = float(args[3]) if len(args) > 3 else None
        model.plug_in(float(args[2]) * 1e3, stay_s=stay)
        return f"{args[0]}: car plugged in, wants {float(args[2]):g} kWh"
    raise CommandError(f"unknown ev action {args[1]!r}")


def _status(site: SimulatedSite) -> str:
    lines = [f"t={site.t_s:.1f} s  f={site.frequency.hz:.3f} Hz  grid balance={site.grid_balance_w() / 1e3:.1f} kW"]
    for device_id, model in site.models.items():
        points = model.points()
        shown = ", ".join(
            f"{name}={value:.3g}" for name, value in points.items() if value is not None and name in _STATUS_POINTS
        )
        lines.append(f"  {device_id:<20} {shown}  [{site.server.faults(device_id).describe()}]")
    return "\n".join(lines)


_STATUS_POINTS = frozenset({"p_w", "soc", "state", "i_limit_a", "t_storage_c", "p_set_w", "f_hz"})


def _contact(site: SimulatedSite, args: list[str]) -> str:
    _need(args, 3, "contact DEVICE N closed | open")
    model = site.model(args[0])
    if not isinstance(model, DigitalIoModel):
        raise CommandError(f"{args[0]} is not a digital_io device")
    if args[2] not in ("closed", "open"):
        raise CommandError(f"contact state must be closed or open, not {args[2]!r}")
    model.set_input(int(args[1]), args[2] == "closed")
    return f"{args[0]}: input {int(args[1])} {args[2]}"
