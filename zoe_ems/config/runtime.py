"""`runtime:` section: process-level settings (status socket, logging, watchdog)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from zoe_ems.config.base import StrictModel


class RuntimeConfig(StrictModel):
    """How the daemon process runs."""

    socket_path: Path | None = Field(
        default=None, description="status socket (default: zoe-ems.sock next to the database)"
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: human-readable on a TTY, JSON otherwise"
    )
    shutdown_action: Literal["zero", "hold", "release"] = Field(
        default="zero",
        description="setpoints written on SIGTERM: zero power, hold the last, or hand back control",
    )
