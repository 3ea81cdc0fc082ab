"""Human-readable rendering of the daemon's status reply, and finding a daemon's socket from its site file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def socket_for_config(config_path: Path) -> Path | None:
    """The status socket of the daemon running ``config_path``; None (after printing why) if unreadable."""
    from zoe_ems.config import ConfigError, load_site_config

    try:
        config = load_site_config(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None
    return Path(config.socket_path())


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if unit == "W":
            return f"{value / 1000.0:.2f} kW"
        if unit == "Wh":
            return f"{value / 1000.0:.1f} kWh"
        if unit == "1":
            return f"{value * 100.0:.1f} %"
        return f"{value:.3f} {unit}".strip()
    return f"{value} {unit}".strip()


def render_status(reply: dict[str, Any]) -> str:
    """Text for `zoe-ems status`."""
    lines = [f"zoe-ems {reply.get('version')}  site {reply.get('site')}  up {reply.get('uptime_s')} s"]
    control = reply.get("control") or {}
    lines.append(
        f"control: {control.get('cycles')} cycles, {control.get('overruns')} overruns, "
        f"compute p99 {control.get('compute_p99_ms')} ms"
    )
    decision = control.get("decision") or {}
    record = decision.get("record") or {}
    if record.get("mode") == "failsafe":
        lines.append("  MODE: FAILSAFE")
    for asset in record.get("assets", []) or []:
        lines.append(f"  {asset.get('text')}")
    for heat_pump in record.get("heat_pumps", []) or []:
        lines.append(
            f"  heat pump {heat_pump.get('device_id')}: SG{heat_pump.get('state')} ({heat_pump.get('reason')})"
        )
    for alarm in decision.get("alarms", []) or []:
        where = f" [{alarm.get('device_id')}]" if alarm.get("device_id") else ""
        lines.append(f"  ALARM {alarm.get('severity')} {alarm.get('code')}{where}: {alarm.get('message')}")
    frequency = reply.get("frequency")
    if frequency:
        lines.append(
            f"frequency: {frequency.get('f_hz')} Hz, response {frequency.get('response_w')} W, "
            f"available={frequency.get('available')} ({frequency.get('reason')})"
        )
    northbound = reply.get("northbound")
    if northbound:
        lines.extend(_northbound_lines(northbound))
    lines.append("devices:")
    links = reply.get("links") or {}
    for device_id, device in (reply.get("devices") or {}).items():
        state = "online" if device.get("online") else "OFFLINE"
        role = f"/{device['role']}" if device.get("role") else ""
        stats = links.get(device_id, {})
        lines.append(f"  {device_id} ({device.get('kind')}{role}) {state}  polls {stats.get('polls')}")
        for alarm in device.get("alarms", []):
            lines.append(f"    alarm: {alarm}")
        for name, point in (device.get("points") or {}).items():
            quality = "" if point.get("quality") == "fresh" else f" [{point.get('quality')}]"
            lines.append(f"    {name:<18} {_fmt(point.get('value'), point.get('unit', ''))}{quality}")
        for name, value in (device.get("setpoints") or {}).items():
            lines.append(f"    setpoint {name:<9} {value}")
    for name, task in (reply.get("tasks") or {}).items():
        if task.get("restarts"):
            lines.append(f"task {name}: {task['restarts']} restarts, last error {task.get('last_error')}")
    return "\n".join(lines)


def _northbound_lines(northbound: dict[str, Any]) -> list[str]:
    """The VPP link, the commands in force, those waiting for an operator and those logged in manual mode."""
    link = "connected" if northbound.get("connected") else "DISCONNECTED"
    lines = [f"northbound: {link}, mode {northbound.get('mode')}"]
    error = northbound.get("last_connect_error")
    if error and not northbound.get("connected"):
        lines.append(f"  last connect error ({error.get('category')}): {error.get('detail')}")
    for active in northbound.get("active_commands") or []:
        lines.append(f"  active  {active.get('id')}  {active.get('summary')}  until {active.get('until')}")
    pending = northbound.get("pending_commands") or []
    if pending:
        lines.append("  waiting for approval (zoe-ems approve ID | zoe-ems reject ID):")
        lines.extend(_held_line(held, "approve before") for held in pending)
    logged = northbound.get("logged_commands") or []
    if logged:
        lines.append("  logged in manual mode, not executed (newest first):")
        lines.extend(_held_line(held, "valid until") for held in logged)
    return lines


def _held_line(held: dict[str, Any], expiry_label: str) -> str:
    return (
        f"    {held.get('id')}  {held.get('summary')}  "
        f"received {held.get('received')}  {expiry_label} {held.get('expires')}"
    )
