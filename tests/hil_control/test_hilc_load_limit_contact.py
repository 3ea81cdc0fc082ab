"""§14a / ripple-control contact against the simulators: a contact on a simulated Modbus I/O module caps the EV
charger while it is closed, releases it when it opens, and a module that stops answering limits as well (fail
safe) with an alarm.

EV in mode ``now`` on a 3-phase 32 A charger (22 kW); with the contact closed and ``limit_kw: 0`` the charger is
capped at the §14a minimum of 4.2 kW: 4200 / (230 V × 3) = 6.09 A.
"""

from __future__ import annotations

from hilc_helpers import Device, StartControlHil, accepted, ev_charger, free_port, grid_meter, tcp, wait_until

from simulators.ev import EvChargerModel
from simulators.io import DigitalIoModel
from simulators.site import SimulatedSite

CAP_A = 4200.0 / (230.0 * 3)
CONTROL = {
    "cycle_ms": 200,
    "ev_charging": {"chargers": {"evse": {"mode": "now"}}},
    "load_limit": {"contact": {"device": "steuerbox", "point": "di1"}},
}


def io_module() -> Device:
    return {"id": "steuerbox", "kind": "digital_io", "driver": "zoe_io", "transport": tcp(free_port()), "poll_ms": 100}


def car_plugged_in(site: SimulatedSite) -> None:
    site.load.set_base(5_000.0)
    charger = site.models["evse"]
    assert isinstance(charger, EvChargerModel)
    charger.plug_in(100_000.0)


async def test_a_closed_contact_caps_the_charger_and_an_unreadable_one_fails_safe(
    start_control_hil: StartControlHil,
) -> None:
    hil = await start_control_hil(
        [grid_meter(poll_ms=100), ev_charger(max_current_a=32), io_module()],
        import_kw=100,
        export_kw=50,
        control=CONTROL,
        prepare=car_plugged_in,
    )
    module = hil.site.models["steuerbox"]
    assert isinstance(module, DigitalIoModel)

    def current_a() -> float:
        written = accepted(hil.site, "evse", "i_limit_a")
        return written[-1][1] if written else -1.0

    await wait_until(lambda: current_a() >= 31.9, 10.0, "the charger at 32 A with the contact open")
    assert "LOAD_LIMIT_CONTACT_UNKNOWN" not in hil.alarm_codes()

    module.set_input(1, True)
    await wait_until(lambda: abs(current_a() - CAP_A) < 0.15, 5.0, "the charger capped at 6.1 A")
    decision = hil.engine.decisions[-1][1]
    assert "load_limit" in decision.record.asset("ev:evse").render()

    module.set_input(1, False)
    await wait_until(lambda: current_a() >= 31.9, 5.0, "the charger back at 32 A after the contact opened")

    hil.site.set_fault("steuerbox", no_response=True)
    await wait_until(lambda: "LOAD_LIMIT_CONTACT_UNKNOWN" in hil.alarm_codes(), 10.0, "the contact alarm")
    await wait_until(lambda: abs(current_a() - CAP_A) < 0.15, 5.0, "the charger capped while the contact is unknown")
