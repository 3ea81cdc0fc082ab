"""MQTT connection plumbing for the VPP link: topics, aiomqtt client construction (TLS, mutual TLS,
credentials, persistent session, will), capped reconnect back-off and readable failure causes.

Builds clients and explains failures; never decides what to publish.
"""

from __future__ import annotations

import logging
import random
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from zoe_ems.config.northbound import MqttConfig

AUTH_REASON_CODES = {134, 135, 140}
"""MQTT 5 CONNACK: bad user name or password, not authorized, bad authentication method."""

SOCKET_OPTIONS: tuple[tuple[int, int, int], ...] = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
"""Set on the connected socket (TLS or not) before CONNECT: Nagle off, so a small QoS 1 PUBLISH or PUBACK
leaves at once instead of waiting up to ~40 ms for the peer's delayed ACK."""


@dataclass(frozen=True, kw_only=True)
class Topics:
    """The protocol's topics for one site."""

    status: str
    telemetry: str
    response: str
    cmd: str
    ack: str
    events: str

    @classmethod
    def for_site(cls, prefix: str, site_id: str) -> Topics:
        base = f"{prefix}/{site_id}"
        return cls(
            status=f"{base}/status",
            telemetry=f"{base}/telemetry",
            response=f"{base}/response",
            cmd=f"{base}/cmd",
            ack=f"{base}/ack",
            events=f"{base}/events",
        )


class ConnectionSetupError(Exception):
    """The connection cannot be attempted (unreadable certificate or password file)."""


def load_credentials(config: MqttConfig) -> tuple[ssl.SSLContext | None, str | None]:
    """TLS context and password for ``config`` (reads files: call from a worker thread).

    Raises ConnectionSetupError naming the file when a certificate, key or password cannot be used.
    """
    tls_context = _tls_context(config) if config.tls is not None else None
    password = _password(config.password_file) if config.password_file is not None else None
    return tls_context, password


def build_client(
    config: MqttConfig,
    *,
    site_id: str,
    will_topic: str,
    will_payload: bytes,
    tls_context: ssl.SSLContext | None,
    password: str | None,
    max_inflight: int = 20,
    logger: logging.Logger | None = None,
) -> aiomqtt.Client:
    """A new aiomqtt client for one connection attempt (call on the event loop)."""
    will = aiomqtt.Will(topic=will_topic, payload=will_payload, qos=1, retain=True)
    identifier = config.client_id or f"zoe-ems-{site_id}"
    client = _client(config, identifier, will, tls_context, password, max_inflight, logger)
    # aiomqtt warns above 10 outstanding calls; a publish window of max_inflight is by design.
    client.pending_calls_threshold = max_inflight + 10
    return client


class PahoErrorCapture(logging.Handler):
    """Keeps the last warning/error paho-mqtt logged (e.g. a TLS alert seen only after the handshake)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()


def paho_logger(name: str) -> tuple[logging.Logger, PahoErrorCapture]:
    """A logger for paho-mqtt (WARNING and above only: paho logs every packet at DEBUG) and its capture."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.WARNING)
    capture = PahoErrorCapture()
    for handler in list(logger.handlers):
        if isinstance(handler, PahoErrorCapture):
            logger.removeHandler(handler)
    logger.addHandler(capture)
    return logger, capture


def classify_connect_error(exc: BaseException, paho_error: str | None = None) -> tuple[str, str]:
    """(category, explanation) of a failed connection: dns, tls, auth, refused, timeout, network, setup, other.

    ``paho_error`` is the last error paho-mqtt logged during the attempt; with TLS 1.3 a refused client
    certificate shows up only there, while the connection attempt itself merely times out.
    """
    category, detail = _classify(exc)
    if paho_error and category in ("timeout", "network", "other"):
        lowered = paho_error.lower()
        if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
            return "tls", f"TLS failed: {paho_error}"
    return category, detail


def _classify(exc: BaseException) -> tuple[str, str]:
    for cause in _chain(exc):
        if isinstance(cause, ConnectionSetupError):
            return "setup", str(cause)
        if isinstance(cause, socket.gaierror):
            return "dns", f"cannot resolve the broker host name: {cause.strerror or cause}"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "tls", f"broker certificate not trusted: {cause.verify_message or cause}"
        if isinstance(cause, ssl.SSLError):
            return "tls", f"TLS handshake failed: {cause.reason or cause}"
        if isinstance(cause, ConnectionRefusedError):
            return "refused", "connection refused: nothing listens on the broker host/port"
        if isinstance(cause, TimeoutError):
            return "timeout", "no answer from the broker in time"
        if isinstance(cause, aiomqtt.MqttCodeError) and _is_connack_refusal(cause):
            rc = cause.rc
            value = rc.value if isinstance(rc, ReasonCode) else rc
            if value in (4, 5) or value in AUTH_REASON_CODES:
                return "auth", f"broker refused the credentials or client certificate: {cause}"
            return "refused", f"broker refused the connection: {cause}"
        if isinstance(cause, aiomqtt.MqttCodeError):
            return "network", f"connection lost: {cause}"
    text = str(exc)
    lowered = text.lower()
    if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
        return "tls", f"TLS failed: {text}"
    if "name or service not known" in lowered or "getaddrinfo" in lowered or "temporary failure in name" in lowered:
        return "dns", f"cannot resolve the broker host name: {text}"
    if "connection refused" in lowered:
        return "refused", "connection refused: nothing listens on the broker host/port"
    if "timed out" in lowered:
        return "timeout", "no answer from the broker in time"
    if "connection reset" in lowered or "broken pipe" in lowered:
        return "network", f"connection dropped: {text}"
    return "other", text or type(exc).__name__


class Backoff:
    """Capped exponential back-off with ±20 % jitter."""

    def __init__(self, min_s: float, max_s: float) -> None:
        self._min_s = min_s
        self._max_s = max_s
        self._next_s = min_s

    def next_delay(self) -> float:
        delay = self._next_s
        self._next_s = min(self._max_s, self._next_s * 2.0)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next_s = self._min_s


def _client(
    config: MqttConfig,
    identifier: str,
    will: aiomqtt.Will,
    tls_context: ssl.SSLContext | None,
    password: str | None,
    max_inflight: int,
    logger: logging.Logger | None,
) -> aiomqtt.Client:
    session: dict[str, Any]
    if config.protocol == "5":
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = config.session_expiry_s
        session = {"protocol": aiomqtt.ProtocolVersion.V5, "clean_start": False, "properties": properties}
    else:
        session = {"protocol": aiomqtt.ProtocolVersion.V311, "clean_session": False}
    return aiomqtt.Client(
        hostname=config.host,
        port=config.port,
        username=config.username,
        password=password,
        identifier=identifier,
        will=will,
        keepalive=config.keepalive_s,
        timeout=config.timeout_s,
        max_inflight_messages=max_inflight,
        logger=logger,
        tls_context=tls_context,
        socket_options=SOCKET_OPTIONS,
        **session,
    )


def _is_connack_refusal(exc: aiomqtt.MqttCodeError) -> bool:
    return isinstance(exc, MqttConnectError) or (
        isinstance(exc.rc, ReasonCode) and exc.rc.packetType == PacketTypes.CONNACK
    )


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _tls_context(config: MqttConfig) -> ssl.SSLContext:
    tls = config.tls
    assert tls is not None
    try:
        context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file is not None else None)
        if tls.cert_file is not None and tls.key_file is not None:
            context.load_cert_chain(certfile=str(tls.cert_file), keyfile=str(tls.key_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConnectionSetupError(
            f"northbound.mqtt.tls: cannot load CA/certificate/key "
            f"({tls.ca_file}, {tls.cert_file}, {tls.key_file}): {exc}"
        ) from None
    context.check_hostname = tls.verify_hostname
    return context


def _password(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()[0] if Path(path).stat().st_size else ""
    except (OSError, IndexError, UnicodeDecodeError) as exc:
        raise ConnectionSetupError(f"northbound.mqtt.password_file: cannot read {path}: {exc}") from None


__all__ = [
    "SOCKET_OPTIONS",
    "Backoff",
    "ConnectionSetupError",
    "Topics",
    "build_client",
    "classify_connect_error",
    "load_credentials",
    "paho_logger",
]
