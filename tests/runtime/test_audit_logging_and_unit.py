"""Audit of issue 2 §7–§9: structlog writes JSON lines when stderr is a pipe (journald) and human-readable
text on a TTY (a real pty); the systemd unit has the options the issue asks for; the README shows the two
set-up commands and `.ci/run` runs the README's test command.
"""

from __future__ import annotations

import configparser
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOG_ONE_LINE = (
    "import structlog; from zoe_ems.runtime.logging import configure_logging; "
    "configure_logging('info', 'auto'); structlog.get_logger('audit').warning('device offline', device='pcs1')"
)


def test_logs_are_json_lines_on_a_pipe() -> None:
    done = subprocess.run([sys.executable, "-c", LOG_ONE_LINE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    record = json.loads(lines[0])
    assert record["event"] == "device offline" and record["device"] == "pcs1"
    assert record["level"] == "warning" and record["timestamp"].endswith("Z")


def test_logs_are_human_readable_on_a_tty() -> None:
    master, slave = os.openpty()
    try:
        process = subprocess.Popen([sys.executable, "-c", LOG_ONE_LINE], stderr=slave, stdout=subprocess.DEVNULL)
        os.close(slave)
        slave = -1
        output = b""
        deadline = time.monotonic() + 60.0
        while process.poll() is None or select.select([master], [], [], 0)[0]:
            assert time.monotonic() < deadline, f"no exit; got {output!r}"
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the pty
                    break
                if not chunk:
                    break
                output += chunk
        assert process.wait(timeout=10) == 0
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    text = output.decode(errors="replace")
    assert "device offline" in text and "pcs1" in text, text
    first = text.strip().splitlines()[0]
    assert not first.lstrip().startswith("{"), f"a TTY gets console text, not JSON: {first!r}"


def _service() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(REPO / "systemd" / "zoe-ems.service", encoding="utf-8")
    return parser


def test_systemd_unit_is_notify_with_watchdog_restart_user_state_dir_dialout_and_hardening() -> None:
    service = _service()["Service"]
    assert service["Type"] == "notify"
    assert service.get("WatchdogSec"), "the daemon feeds a watchdog"
    assert service["Restart"] == "on-failure"
    assert service.get("User") and service["User"] != "root", "a dedicated user"
    assert service.get("StateDirectory") == "zoe-ems"
    assert "dialout" in service.get("SupplementaryGroups", ""), "serial ports"
    for option in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert service.get(option) == "yes", option
    assert service.get("ProtectSystem") == "strict"
    assert "zoe-ems run --config" in service["ExecStart"]
    unit_lines = (REPO / "systemd" / "zoe-ems.service").read_text(encoding="utf-8").splitlines()
    db_env = [line for line in unit_lines if line.startswith("Environment=ZOE_EMS_STORAGE__PATH=")]
    assert db_env and "/var/lib/zoe-ems/" in db_env[0], "the database lives in the StateDirectory"


def test_readme_shows_two_setup_commands_and_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci
    assert os.access(REPO / ".ci" / "run", os.X_OK), ".ci/run is executable"
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    for step in ("ruff check", "ruff format --check", "mypy", "pytest"):
        assert step in test_recipe, f"`make test` runs {step}"
