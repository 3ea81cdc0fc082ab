"""`northbound:` section: MQTT connection to the VPP aggregator and command authentication.

Owned by the northbound layer.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from zoe_ems.config.base import StrictModel


class TlsConfig(StrictModel):
    """TLS to the broker; cert_file + key_file enable mutual TLS."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


class MqttConfig(StrictModel):
    """Broker connection."""

    host: str = Field(min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    tls: TlsConfig | None = None
    topic_prefix: str = Field(default="zoe", pattern=r"^[A-Za-z0-9_/-]+$")
    client_id: str | None = None
    username: str | None = None
    password_file: Path | None = None


class NorthboundConfig(StrictModel):
    """The VPP link."""

    mqtt: MqttConfig
    command_key_file: Path
    telemetry_interval_s: float = Field(default=60.0, ge=1, le=3600)
