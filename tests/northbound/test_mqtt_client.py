"""The MQTT client the link builds: Nagle is off on its socket (small QoS 1 publishes and PUBACKs leave at once),
for MQTT 3.1.1 and 5, and the persistent-session settings of both protocol versions reach the broker."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiomqtt
import pytest
from nb_helpers import Broker, site_config

from zoe_ems.northbound.mqtt import Topics, build_client


def nodelay(client: aiomqtt.Client) -> int:
    sock = client._client.socket()  # paho's socket: the only place the option can be read back
    assert isinstance(sock, socket.socket)
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_link_client_sets_tcp_nodelay_and_keeps_its_session(
    broker: Broker, key_file: Path, protocol: str
) -> None:
    config = site_config(port=broker.port, key_file=key_file, mqtt={"protocol": protocol})
    assert config.northbound is not None
    topics = Topics.for_site("zoe", "plant-7")

    def client() -> aiomqtt.Client:
        return build_client(
            config.northbound.mqtt,  # type: ignore[union-attr]
            site_id="plant-7",
            will_topic=topics.status,
            will_payload=b"offline",
            tls_context=None,
            password=None,
        )

    first = client()
    async with first:
        assert nodelay(first) != 0
        await first.subscribe(topics.cmd, qos=1)
    assert first.identifier == "zoe-ems-plant-7"
    # A persistent session: a command published while the site is offline is delivered on reconnection.
    async with aiomqtt.Client("127.0.0.1", broker.port) as vpp:
        await vpp.publish(topics.cmd, b"queued while offline", qos=1)
    second = client()
    async with second, asyncio.timeout(5.0):
        assert nodelay(second) != 0
        message = await anext(aiter(second.messages))
    assert message.payload == b"queued while offline"
