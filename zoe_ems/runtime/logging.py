"""structlog set-up: JSON lines for journald, human-readable console output on a TTY."""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO

import structlog


def configure_logging(
    level: str = "info", fmt: Literal["auto", "json", "console"] = "auto", stream: TextIO | None = None
) -> None:
    """Configure structlog and the stdlib root logger (pymodbus, aiomqtt log through it)."""
    out = stream if stream is not None else sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    numeric = logging.getLevelName(level.upper())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer]
        if not use_console
        else [*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=out, format="%(levelname)s %(name)s: %(message)s")
    # pymodbus reports every failed frame; the transport logs device episodes once instead.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
