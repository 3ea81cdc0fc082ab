"""TLS to the broker: mutual TLS works with generated test certificates; a bad CA or a missing client
certificate is refused and explained."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest
from nb_helpers import (
    KEY,
    MOSQUITTO,
    Broker,
    command,
    encode,
    free_port,
    make_service,
    running,
    site_config,
    subscriber,
    wait_until,
)

from zoe_ems.northbound.signing import verify

OPENSSL = "openssl"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(directory: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=directory)  # fmt: skip


def _make_cert(directory: Path, ca: str, name: str, *, server: bool) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", cwd=directory)  # fmt: skip
    ext = directory / f"{name}.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n" if server else "extendedKeyUsage=clientAuth\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
             "-days", "2", "-out", f"{name}.pem", "-extfile", ext.name, cwd=directory)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    _make_ca(directory, "ca")
    _make_ca(directory, "other-ca")
    _make_cert(directory, "ca", "server", server=True)
    _make_cert(directory, "ca", "client", server=False)
    return directory


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Path) -> Broker:
    if MOSQUITTO is None:
        pytest.skip("mosquitto binary not found (apt-get install mosquitto)")
    directory = tmp_path / "tls-broker"
    directory.mkdir()
    broker = Broker(
        directory=directory,
        port=free_port(),
        extra_config=(
            f"cafile {pki / 'ca.pem'}\ncertfile {pki / 'server.pem'}\nkeyfile {pki / 'server.key'}\n"
            "require_certificate true\nuse_identity_as_username true\nallow_anonymous true\n"
        ),
    )
    broker.start()
    yield broker  # type: ignore[misc]
    broker.stop()


def _client_context(pki: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    return context


async def test_mutual_tls_carries_telemetry_commands_and_acks(
    tls_broker: Broker, pki: Path, key_file: Path, tmp_path: Path
) -> None:
    tls = {"ca_file": str(pki / "ca.pem"), "cert_file": str(pki / "client.pem"), "key_file": str(pki / "client.key")}
    config = site_config(port=tls_broker.port, key_file=key_file, mqtt={"tls": tls, "protocol": "5"})
    service, inputs = make_service(config, tmp_path)
    order = command("setpoint", {"target": "battery", "p_kw": -40.0})
    async with (
        subscriber(tls_broker.port, "zoe/plant-7/#", tls_context=_client_context(pki)) as (rec, client),
        running(service),
    ):
        await wait_until(lambda: len(rec.on("telemetry")) >= 1, 10, "telemetry over mutual TLS")
        await client.publish("zoe/plant-7/cmd", encode(order), qos=1)
        await wait_until(lambda: "accepted" in rec.statuses(order["id"]), 10, "the ack over mutual TLS")
    assert rec.on("telemetry")[0]["site_id"] == "plant-7"
    assert verify(rec.on("telemetry")[0], KEY) and verify(rec.acks(order["id"])[0], KEY)
    assert inputs.setpoint is not None and inputs.setpoint.command_id == order["id"]


async def test_untrusted_broker_certificate_is_refused_and_explained(
    tls_broker: Broker, pki: Path, key_file: Path, tmp_path: Path
) -> None:
    tls = {
        "ca_file": str(pki / "other-ca.pem"),
        "cert_file": str(pki / "client.pem"),
        "key_file": str(pki / "client.key"),
    }
    service, _ = make_service(site_config(port=tls_broker.port, key_file=key_file, mqtt={"tls": tls}), tmp_path)
    runner = asyncio.create_task(service.run())
    try:
        await wait_until(lambda: service.last_connect_error is not None, 10, "a connection failure")
    finally:
        await service.stop()
        await asyncio.wait_for(runner, 10)
    assert not service.connected
    assert service.last_connect_error is not None
    category, detail = service.last_connect_error
    assert category == "tls" and "certificate" in detail


async def test_missing_client_certificate_never_connects(
    tls_broker: Broker, pki: Path, key_file: Path, tmp_path: Path
) -> None:
    tls = {"ca_file": str(pki / "ca.pem")}
    config = site_config(port=tls_broker.port, key_file=key_file, mqtt={"tls": tls, "timeout_s": 1.0})
    service, _ = make_service(config, tmp_path)
    runner = asyncio.create_task(service.run())
    try:
        await wait_until(lambda: service.last_connect_error is not None, 10, "a connection failure")
    finally:
        await service.stop()
        await asyncio.wait_for(runner, 10)
    assert service.publisher.published_total == 0
    assert service.last_connect_error is not None
    category, detail = service.last_connect_error
    assert category == "tls" and "certificate" in detail.lower()
