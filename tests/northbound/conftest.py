"""Fixtures for the northbound tests: a real mosquitto on a free loopback port and a signing key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nb_helpers import KEY, MOSQUITTO, Broker, free_port


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if MOSQUITTO is None:
        pytest.skip("mosquitto binary not found (apt-get install mosquitto)")
    directory = tmp_path / "broker"
    directory.mkdir()
    instance = Broker(directory=directory, port=free_port())
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "command.key"
    path.write_bytes(KEY)
    return path
