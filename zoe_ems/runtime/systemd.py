"""sd_notify for systemd ``Type=notify`` services: READY, WATCHDOG, STOPPING, STATUS.

Speaks the datagram protocol directly (``$NOTIFY_SOCKET``); a no-op when not run by systemd.
"""

from __future__ import annotations

import os
import socket


class SystemdNotifier:
    """Sends notifications to systemd when ``NOTIFY_SOCKET`` is set."""

    def __init__(self) -> None:
        address = os.environ.get("NOTIFY_SOCKET")
        self._address: str | None = None
        if address:
            self._address = "\0" + address[1:] if address.startswith("@") else address
        watchdog_usec = os.environ.get("WATCHDOG_USEC")
        self.watchdog_interval_s: float | None = int(watchdog_usec) / 1e6 / 2.0 if watchdog_usec else None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, message: str) -> None:
        if self._address is None:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect(self._address)
                sock.sendall(message.encode())
            except OSError:
                pass

    def ready(self) -> None:
        self.notify("READY=1")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def status(self, text: str) -> None:
        self.notify(f"STATUS={text}")
