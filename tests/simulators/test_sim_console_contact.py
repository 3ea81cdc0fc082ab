"""The simulator console's ``contact`` command and the simulated digital input module behind it."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.commands import CommandError, apply_command
from simulators.io import DigitalIoModel
from simulators.site import SimulatedSite
from zoe_ems.config import load_site_config

SITE = """
site:
  id: contact-test
  grid: {import_limit_kw: 100, export_limit_kw: 10}
devices:
  - id: grid_meter
    kind: meter
    role: grid
    driver: zoe_meter
    transport: {type: modbus_tcp, host: 127.0.0.1, port: 1502}
  - {id: box, kind: digital_io, driver: zoe_io, transport: {type: modbus_tcp, host: 127.0.0.1, port: 1503}}
control:
  load_limit: {contact: {device: box, point: di2}}
"""


@pytest.fixture
def site(tmp_path: Path) -> SimulatedSite:
    path = tmp_path / "site.yaml"
    path.write_text(SITE, encoding="utf-8")
    return SimulatedSite.from_config(load_site_config(path))


def test_contact_command_closes_and_opens_an_input(site: SimulatedSite) -> None:
    box = site.model("box")
    assert isinstance(box, DigitalIoModel)
    assert box.points() == {"di1": 0.0, "di2": 0.0, "di3": 0.0, "di4": 0.0}
    assert apply_command(site, "contact box 2 closed") == "box: input 2 closed"
    assert box.points()["di2"] == 1.0
    apply_command(site, "contact box 2 open")
    assert box.points()["di2"] == 0.0


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("contact box 5 closed", "digital input 5 does not exist"),
        ("contact box 1 shut", "closed or open"),
        ("contact grid_meter 1 closed", "not a digital_io"),
        ("contact box 1", "usage: contact"),
    ],
)
def test_bad_contact_commands_say_why(site: SimulatedSite, line: str, fragment: str) -> None:
    with pytest.raises(CommandError, match=fragment):
        apply_command(site, line)
