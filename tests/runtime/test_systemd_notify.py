"""sd_notify over a real Unix datagram socket, as systemd's NOTIFY_SOCKET receives it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from zoe_ems.runtime.systemd import SystemdNotifier


def test_notifications_reach_the_notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(5.0)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.setenv("WATCHDOG_USEC", "10000000")
        notifier = SystemdNotifier()
        assert notifier.enabled
        assert notifier.watchdog_interval_s == 5.0
        notifier.ready()
        notifier.watchdog()
        notifier.status("3 devices online")
        notifier.stopping()
        received = [server.recv(256).decode() for _ in range(4)]
    assert received == ["READY=1", "WATCHDOG=1", "STATUS=3 devices online", "STOPPING=1"]


def test_without_notify_socket_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = SystemdNotifier()
    assert not notifier.enabled
    notifier.ready()  # must not raise
