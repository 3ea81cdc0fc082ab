"""The daemon against a whole simulated site over Modbus TCP: every device kind online with fresh points
that match the simulator's physics models within one register step."""

from __future__ import annotations

from hil_helpers import StartHil, compared_points, free_ports, mismatches, tcp, wait_until

from simulators.site import SimulatedSite

DEVICE_IDS = ("grid_meter", "pcs", "bms", "pv", "evse", "heat_pump")


def demo_like_devices() -> list[dict[str, object]]:
    """Grid meter, PCS + BMS behind one gateway (two unit ids), PV, EV charger and SG-Ready heat pump."""
    meter_port, battery_port, pv_port, ev_port, hp_port = free_ports(5)
    return [
        {
            "id": "grid_meter",
            "kind": "meter",
            "role": "grid",
            "driver": "zoe_meter",
            "transport": tcp(meter_port, 1),
            "poll_ms": 200,
        },
        {
            "id": "pcs",
            "kind": "pcs",
            "driver": "zoe_pcs",
            "bms": "bms",
            "rated_power_kw": 50,
            "transport": tcp(battery_port, 1),
            "poll_ms": 500,
        },
        {
            "id": "bms",
            "kind": "bms",
            "driver": "zoe_bms",
            "capacity_kwh": 100,
            "transport": tcp(battery_port, 2),
            "poll_ms": 500,
        },
        {
            "id": "pv",
            "kind": "pv_inverter",
            "driver": "zoe_pv",
            "rated_power_kw": 30,
            "transport": tcp(pv_port, 1),
            "poll_ms": 500,
        },
        {
            "id": "evse",
            "kind": "ev_charger",
            "driver": "zoe_evse",
            "rated_power_kw": 22,
            "phases": 3,
            "max_current_a": 32,
            "transport": tcp(ev_port, 1),
            "poll_ms": 500,
        },
        {"id": "heat_pump", "kind": "sg_ready", "driver": "zoe_sgready", "transport": tcp(hp_port, 1), "poll_ms": 500},
    ]


def sunny_afternoon(site: SimulatedSite) -> None:
    """12.345 kW of load and 600 W/m² of sun: non-trivial values on the meter and the inverter."""
    site.load.set_base(12_345.0)
    site.pv.set_irradiance(600.0)


async def test_every_device_goes_online_with_fresh_points_matching_the_simulated_models(start_hil: StartHil) -> None:
    hil = await start_hil(demo_like_devices(), before_daemon=sunny_afternoon)

    await wait_until(lambda: hil.all_fresh(DEVICE_IDS), 15.0, "every device online with only FRESH points")
    # The simulated inverter ramps to its output at its rated power per second: wait for it to settle.
    await wait_until(lambda: (hil.value("pv", "p_w") or 0.0) < -5_000.0, 10.0, "PV producing")
    failures_when_online = {d: hil.daemon.links[d].stats.failures for d in DEVICE_IDS}
    polls_when_online = {d: hil.daemon.links[d].stats.polls for d in DEVICE_IDS}
    for device_id in DEVICE_IDS:
        assert len(compared_points(hil, device_id)) >= 2, f"{device_id}: too few points to compare"
    try:
        await wait_until(lambda: not any(mismatches(hil, d) for d in DEVICE_IDS), 5.0, "values equal to the models")
    except AssertionError:
        problems = [p for d in DEVICE_IDS for p in mismatches(hil, d)]
        raise AssertionError("daemon and simulator disagree:\n" + "\n".join(problems)) from None

    balance_w = hil.site.grid_balance_w()
    pv_w = hil.value("pv", "p_w")
    grid_w = hil.value("grid_meter", "p_w")
    soc = hil.value("bms", "soc")
    assert pv_w is not None and pv_w < -5_000.0, "PV produces (negative power, passive convention)"
    assert grid_w is not None and abs(grid_w - balance_w) <= 1.0, "grid meter reads the site balance"
    assert abs(grid_w - (12_345.0 + pv_w)) <= 2.0, "site balance = load + pv (battery, EV and heat pump idle)"
    assert soc is not None and abs(soc - hil.model_value("bms", "soc")) <= 0.001
    await wait_until(
        lambda: all(hil.daemon.links[d].stats.polls >= polls_when_online[d] + 2 for d in DEVICE_IDS),
        5.0,
        "two more polls of every device",
    )
    status = hil.daemon.status()
    assert all(status["devices"][d]["online"] for d in DEVICE_IDS)
    for device_id in DEVICE_IDS:
        failures = status["links"][device_id]["failures"]
        assert failures == failures_when_online[device_id], f"{device_id}: no failed poll once online"
