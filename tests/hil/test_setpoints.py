"""Setpoints survive what real sites do to them: a reconnect (the device forgot its setpoint) is followed by
a re-write, setpoints are re-asserted periodically for devices with reversion timers, and read-only
devices never receive a single write, not even the safe setpoint at shutdown."""

from __future__ import annotations

import asyncio
import itertools
import time

from hil_helpers import FixedEngine, StartHil, accepted_writes, free_ports, tcp, wait_until

from zoe_ems.config import SiteConfig
from zoe_ems.config.devices import ModbusTcpTransport


def battery_devices(meter_port: int, battery_port: int, *, refresh_s: float) -> list[dict[str, object]]:
    return [
        {
            "id": "grid_meter",
            "kind": "meter",
            "role": "grid",
            "driver": "zoe_meter",
            "transport": tcp(meter_port, 1),
            "poll_ms": 250,
        },
        {
            "id": "pcs",
            "kind": "pcs",
            "driver": "zoe_pcs",
            "bms": "bms",
            "rated_power_kw": 50,
            "transport": tcp(battery_port, 1),
            "poll_ms": 250,
            "setpoint_refresh_s": refresh_s,
        },
        {"id": "bms", "kind": "bms", "driver": "zoe_bms", "transport": tcp(battery_port, 2), "poll_ms": 500},
    ]


def battery_port(config: SiteConfig) -> int:
    transport = config.device("pcs").transport
    assert isinstance(transport, ModbusTcpTransport)
    return transport.port


async def test_reconnect_reasserts_the_last_setpoint_the_device_forgot(start_hil: StartHil) -> None:
    engine = FixedEngine({"pcs": {"p_set_w": -20_000.0}})
    hil = await start_hil(
        battery_devices(*free_ports(2), refresh_s=3600.0), engine=engine
    )  # no periodic re-write in this test
    await wait_until(lambda: hil.model_value("pcs", "p_set_w") == -20_000.0, 10.0, "the PCS to take -20 kW")
    pcs_bus = f"tcp://127.0.0.1:{battery_port(hil.config)}"
    assert hil.daemon.buses.bus_stats()[pcs_bus].connects == 1

    hil.site.models["pcs"].apply({"p_set_w": 0.0})  # the device reverts: power cycle, reversion timer, ...
    await hil.site.server.stop()  # ... and drops the connection
    restarted = time.monotonic()
    await hil.site.server.start()
    assert hil.model_value("pcs", "p_set_w") == 0.0

    await wait_until(lambda: hil.model_value("pcs", "p_set_w") == -20_000.0, 15.0, "the setpoint to be re-asserted")
    assert accepted_writes(hil, "pcs", "p_set_w", since_mono=restarted) == [-20_000.0]
    assert hil.daemon.buses.bus_stats()[pcs_bus].connects == 2, "the daemon reconnected once"
    assert hil.daemon.image.setpoints("pcs") == {"p_set_w": -20_000.0}


async def test_setpoints_are_rewritten_periodically_and_read_only_devices_are_never_written(
    start_hil: StartHil,
) -> None:
    meter_port, battery_port, hp_port, spare_port = free_ports(4)
    devices = battery_devices(meter_port, battery_port, refresh_s=0.5)
    devices += [
        {
            "id": "pcs_monitor",  # another EMS controls this one; we only watch
            "kind": "pcs",
            "driver": "zoe_pcs",
            "rated_power_kw": 30,
            "read_only": True,
            "transport": tcp(spare_port, 1),
            "poll_ms": 250,
        },
        {
            "id": "heat_pump",
            "kind": "sg_ready",
            "driver": "zoe_sgready",
            "read_only": True,
            "transport": tcp(hp_port, 1),
            "poll_ms": 250,
        },
    ]
    engine = FixedEngine(
        {
            "pcs": {"p_set_w": -10_000.0},
            "pcs_monitor": {"p_set_w": 5_000.0},
            "heat_pump": {"relay1": 0.0, "relay2": 1.0},
        }
    )
    hil = await start_hil(devices, engine=engine)
    await wait_until(lambda: hil.all_fresh(["pcs_monitor", "heat_pump"]), 10.0, "read-only devices online")
    await wait_until(lambda: len(accepted_writes(hil, "pcs", "p_set_w")) >= 5, 10.0, "five writes of the PCS")

    arrivals = [r.t_mono for r in hil.site.write_log("pcs") if r.accepted and "p_set_w" in r.setpoints]
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert set(accepted_writes(hil, "pcs", "p_set_w")) == {-10_000.0}
    # A reconnect re-asserts at once after its first good poll (a request that timed out on a loaded machine
    # makes the bus reconnect): that one gap may be short; every other write waits for the 0.5 s refresh.
    reconnects = hil.daemon.buses.bus_stats()[f"tcp://127.0.0.1:{battery_port}"].connects - 1
    short = [gap for gap in gaps if gap < 0.4]
    assert len(short) <= reconnects, f"re-written every ~0.5 s, not every cycle: gaps {gaps} ({reconnects} reconnects)"
    assert all(gap <= 1.5 for gap in gaps), f"refresh too slow: gaps {gaps}"
    assert hil.site.write_log("pcs_monitor") == []
    assert hil.site.write_log("heat_pump") == []
    assert hil.daemon.links["pcs_monitor"].stats.writes == 0

    hil.daemon.request_stop()
    assert await asyncio.wait_for(hil.task, timeout=15.0) == 0
    assert accepted_writes(hil, "pcs", "p_set_w")[-1] == 0.0, "shutdown writes the safe setpoint (zero)"
    assert hil.site.write_log("pcs_monitor") == [], "not even the safe setpoint reaches a read-only device"
    assert hil.site.write_log("heat_pump") == []
