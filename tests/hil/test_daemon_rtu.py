"""The daemon on a Modbus RTU line (a pty pair at 115200 baud) shared by several unit ids: an Eastron
SDM630 load meter, a ZOE grid meter and a ZOE BMS all read correctly through the one bus task."""

from __future__ import annotations

from pathlib import Path

from hil_helpers import StartHil, compared_points, mismatches, rtu, wait_until

from simulators.site import SimulatedSite

DEVICE_IDS = ("load_meter", "grid_meter", "bms")


def some_load(site: SimulatedSite) -> None:
    site.load.set_base(7_654.0)


async def test_three_unit_ids_on_one_rtu_line_all_read_the_simulated_values(
    start_hil: StartHil, tmp_path: Path
) -> None:
    line = tmp_path / "ttyRS485-1"
    devices: list[dict[str, object]] = [
        {
            "id": "load_meter",
            "kind": "meter",
            "role": "load",
            "driver": "eastron_sdm630",
            "transport": rtu(line, 1),
            "poll_ms": 300,
        },
        {
            "id": "grid_meter",
            "kind": "meter",
            "role": "grid",
            "driver": "zoe_meter",
            "transport": rtu(line, 7),
            "poll_ms": 300,
        },
        {
            "id": "bms",
            "kind": "bms",
            "driver": "zoe_bms",
            "capacity_kwh": 50,
            "transport": rtu(line, 42),
            "poll_ms": 300,
        },
    ]
    hil = await start_hil(devices, before_daemon=some_load)
    assert line.is_symlink(), "the simulator links the EMS end of its pty at the configured path"

    await wait_until(lambda: hil.all_fresh(DEVICE_IDS), 15.0, "all three unit ids online with FRESH points")
    try:
        await wait_until(lambda: not any(mismatches(hil, d) for d in DEVICE_IDS), 5.0, "values equal to the models")
    except AssertionError:
        problems = [p for d in DEVICE_IDS for p in mismatches(hil, d)]
        raise AssertionError("daemon and simulator disagree:\n" + "\n".join(problems)) from None
    assert all(len(compared_points(hil, d)) >= 5 for d in DEVICE_IDS)

    load_w = hil.value("load_meter", "p_w")
    grid_w = hil.value("grid_meter", "p_w")
    assert load_w is not None and abs(load_w - 7_654.0) <= 0.1, "float32 load meter reads the load"
    assert grid_w is not None and abs(grid_w - 7_654.0) <= 1.0, "idle battery: the grid carries the load"
    buses = hil.daemon.buses.bus_stats()
    assert list(buses) == [f"serial://{line}"], "one bus task serves the whole line"
    assert buses[f"serial://{line}"].timeouts == 0, "no unit id times out on a healthy line"
