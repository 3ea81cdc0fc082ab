"""`storage:` section: the SQLite database path and history retention."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from zoe_ems.config.base import StrictModel


class StorageConfig(StrictModel):
    """Where and how long data is kept."""

    path: Path = Field(default=Path("/var/lib/zoe-ems/zoe.db"), description="SQLite database file")
    history_retention_days: float = Field(default=30.0, gt=0, le=3650, description="history older than this is deleted")
    history_interval_s: float = Field(default=1.0, ge=0.1, le=3600, description="history sampling interval")
    flush_interval_s: float = Field(default=1.0, ge=0.05, le=60, description="batched write interval")
