"""The `zoe-ems` command line: run, check-config, config-schema, simulate, demo, status.

Every sub-command returns an exit code; user errors print a message, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path("/etc/zoe-ems/site.yaml")
EXIT_NOT_RUNNING = 3


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `zoe-ems` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        result: int = args.func(args)
        return result
    except KeyboardInterrupt:
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoe-ems", description="ZOE-EMS edge energy-management daemon")
    from zoe_ems import __version__

    parser.add_argument("--version", action="version", version=f"zoe-ems {__version__}")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("run", help="run the daemon in the foreground (systemd runs this)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("check-config", help="validate a site file; one FILE:LINE: path: message per problem")
    p.add_argument("file", type=Path)
    p.set_defaults(func=_cmd_check_config)

    p = sub.add_parser("config-schema", help="print the JSON Schema of the site file")
    p.set_defaults(func=_cmd_config_schema)

    p = sub.add_parser("simulate", help="serve simulated devices for every loopback device of a site file")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("demo", help="simulated site + daemon with configs/demo.yaml and a live status line")
    p.add_argument("--config", type=Path, default=None, help="site file (default: the bundled demo.yaml)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("export-response", help="frequency-response evidence (frequency, setpoint, PCS power) as CSV")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="site file (locates the database)")
    p.add_argument("--from", dest="start", required=True, help="start, ISO 8601 (UTC if no offset)")
    p.add_argument("--to", dest="end", required=True, help="end, ISO 8601 (UTC if no offset)")
    p.add_argument("--format", choices=["csv"], default="csv")
    p.add_argument("--output", type=Path, default=None, help="file to write (default: stdout)")
    p.set_defaults(func=_cmd_export_response)

    for name, helptext in (("approve", "approve a command waiting in semi_auto mode"), ("reject", "reject it")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("command_id")
        p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="site file (locates the database)")
        p.add_argument("--operator", default=None, help="who decides (default: the login name)")
        p.set_defaults(func=_cmd_decide, approve=name == "approve")

    p = sub.add_parser("plan", help="the optimizer's current plan: prices, forecasts, battery, grid, SOC, cost")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="pick the daemon of this site file")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("status", help="state of the running daemon")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="pick the daemon of this site file")
    p.set_defaults(func=_cmd_status)
    return parser


def _load_or_report(path: Path) -> Any:
    from zoe_ems.config import ConfigError, load_site_config

    try:
        return load_site_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def _cmd_run(args: argparse.Namespace) -> int:
    config = _load_or_report(args.config)
    if config is None:
        return 1
    from zoe_ems.runtime.daemon import Daemon
    from zoe_ems.runtime.logging import configure_logging

    configure_logging(config.runtime.log_level, config.runtime.log_format)
    return _run_interruptible(Daemon(config, args.config).run())


def _cmd_check_config(args: argparse.Namespace) -> int:
    from zoe_ems.config.check import check_config_main

    return check_config_main(str(args.file))


def _cmd_config_schema(args: argparse.Namespace) -> int:
    from zoe_ems.config.schema import config_schema_json

    print(config_schema_json())
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from simulators.cli import run_simulate

    return _run_interruptible(run_simulate(args.config, speed=args.speed))


def _cmd_demo(args: argparse.Namespace) -> int:
    from zoe_ems.demo import run_demo

    return _run_interruptible(run_demo(args.config, duration_s=args.duration))


def _run_interruptible(main: Coroutine[Any, Any, int]) -> int:
    """``asyncio.run`` where a Ctrl-C that arrives before the program's own signal handlers are installed (during
    start-up) ends it quietly with 130 instead of a traceback."""
    try:
        return asyncio.run(main)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _cmd_status(args: argparse.Namespace) -> int:
    from zoe_ems.runtime.status_socket import request
    from zoe_ems.status_view import render_status, socket_for_config

    socket_path = socket_for_config(args.config)
    if socket_path is None:
        print(f"cannot locate the daemon of {args.config}: not running as far as this file tells", file=sys.stderr)
        return EXIT_NOT_RUNNING
    try:
        reply = asyncio.run(request(socket_path, {"cmd": "status"}))
    except (OSError, TimeoutError, ConnectionError) as exc:
        print(f"zoe-ems is not running ({socket_path}: {exc})", file=sys.stderr)
        return EXIT_NOT_RUNNING
    if args.json:
        print(json.dumps(reply, indent=2, default=str))
    else:
        print(render_status(reply))
    return 0


def _parse_time(text: str) -> float | None:
    from datetime import UTC, datetime

    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def _cmd_export_response(args: argparse.Namespace) -> int:
    import sqlite3

    from zoe_ems.frequency.response_log import export_csv

    config = _load_or_report(args.config)
    if config is None:
        return 1
    start, end = _parse_time(args.start), _parse_time(args.end)
    if start is None or end is None or end <= start:
        print("--from and --to must be ISO 8601 times with --from before --to", file=sys.stderr)
        return 2
    if not config.storage.path.exists():
        print(f"no database at {config.storage.path}", file=sys.stderr)
        return 1
    with contextlib.closing(sqlite3.connect(f"file:{config.storage.path}?mode=ro", uri=True)) as conn:
        text = export_csv(conn, start, end)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


def _cmd_decide(args: argparse.Namespace) -> int:
    import getpass

    from zoe_ems.northbound.approvals import decide

    config = _load_or_report(args.config)
    if config is None:
        return 1
    operator = args.operator or getpass.getuser()
    outcome = decide(config.storage.path, args.command_id, approve=args.approve, operator=operator)
    messages = {
        "approved": f"{args.command_id}: approved; the daemon executes it within a second",
        "rejected": f"{args.command_id}: rejected",
        "not_found": f"{args.command_id}: no command with this id is waiting for approval",
        "already_decided": f"{args.command_id}: already decided (or timed out)",
    }
    print(messages.get(outcome, f"{args.command_id}: {outcome}"))
    return 0 if outcome in ("approved", "rejected") else 1


def _cmd_plan(args: argparse.Namespace) -> int:
    from zoe_ems.optimizer.summary import render_plan_text
    from zoe_ems.runtime.status_socket import request
    from zoe_ems.status_view import socket_for_config

    socket_path = socket_for_config(args.config)
    if socket_path is None:
        return 1
    try:
        reply = asyncio.run(request(socket_path, {"cmd": "plan"}))
    except (OSError, TimeoutError, ConnectionError) as exc:
        print(f"zoe-ems is not running ({socket_path}: {exc})", file=sys.stderr)
        return EXIT_NOT_RUNNING
    plan = reply.get("plan")
    if args.json:
        print(json.dumps(reply if plan is None else plan, indent=2))
        return 0 if plan is not None else 1
    if plan is None:
        print(f"no plan: {reply.get('reason') or reply.get('error')}")
        return 1
    print(render_plan_text(plan))
    return 0
