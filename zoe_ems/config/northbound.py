"""`northbound:` section: MQTT connection to the VPP aggregator, command authentication and policy.

Owned by the northbound layer. Only describes settings; never opens files or sockets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from zoe_ems.config.base import StrictModel

OperatingMode = Literal["auto", "semi_auto", "manual"]
Asset = Literal["battery", "grid"]


class TlsConfig(StrictModel):
    """TLS to the broker; cert_file + key_file enable mutual TLS."""

    ca_file: Path | None = Field(default=None, description="CA bundle that signs the broker (default: system CAs)")
    cert_file: Path | None = Field(default=None, description="client certificate (mutual TLS)")
    key_file: Path | None = Field(default=None, description="client private key (mutual TLS)")
    verify_hostname: bool = Field(default=True, description="check the broker certificate's name against host")

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together (mutual TLS)")
        return self


class MqttConfig(StrictModel):
    """Broker connection."""

    host: str = Field(min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    tls: TlsConfig | None = None
    protocol: Literal["3.1.1", "5"] = Field(default="3.1.1", description="MQTT protocol version")
    topic_prefix: str = Field(default="zoe", pattern=r"^[A-Za-z0-9_/-]+$")
    client_id: str | None = Field(default=None, description="fixed client id (default: zoe-ems-<site.id>)")
    username: str | None = None
    password_file: Path | None = Field(default=None, description="file holding the password (first line)")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(default=86400, ge=0, description="MQTT 5 persistent-session expiry")
    reconnect_min_s: float = Field(default=1.0, gt=0, le=60, description="first reconnect delay")
    reconnect_max_s: float = Field(default=60.0, gt=0, le=3600, description="cap of the exponential back-off")
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="connect / PUBACK timeout")

    @model_validator(mode="after")
    def _backoff_order(self) -> MqttConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError(
                f"reconnect_min_s ({self.reconnect_min_s}) exceeds reconnect_max_s ({self.reconnect_max_s})"
            )
        return self


class ApprovalConfig(StrictModel):
    """semi_auto mode: which commands wait for a local operator."""

    threshold_kw: float = Field(
        default=0.0, ge=0, description="commands moving more than this many kW wait for approval (0 = all)"
    )
    assets: list[Asset] = Field(default_factory=list, description="commands touching these assets always wait")
    timeout_s: float = Field(default=300.0, ge=1, le=86400, description="pending commands are rejected after this")


class OutboxConfig(StrictModel):
    """Store-and-forward of outgoing messages."""

    quota_mb: float = Field(default=200.0, gt=0, description="outbox size limit; oldest telemetry dropped beyond it")
    historical_rate_per_s: float = Field(
        default=1000.0, gt=0, description="backlog replay rate after an outage (messages per second)"
    )
    max_in_flight: int = Field(default=64, ge=1, le=1000, description="QoS 1 messages awaiting PUBACK")


class NorthboundConfig(StrictModel):
    """The VPP link."""

    mqtt: MqttConfig
    command_key_file: Path
    telemetry_interval_s: float = Field(default=60.0, ge=1, le=3600)
    response_interval_s: float = Field(default=5.0, ge=1, le=60, description="response packets during dispatch")
    max_clock_skew_s: float = Field(default=30.0, gt=0, le=3600, description="allowed |issued_at - gateway clock|")
    max_command_validity_s: float = Field(
        default=7 * 86400.0, gt=0, description="longest valid_until - issued_at accepted (bounds the replay cache)"
    )
    mode: OperatingMode = Field(default="auto", description="auto | semi_auto | manual")
    allow_remote_mode_change: bool = Field(default=False, description="accept signed `mode` commands")
    approval: ApprovalConfig = Field(default_factory=ApprovalConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
