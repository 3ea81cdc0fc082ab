"""SunSpec layouts other than the default, chosen per device in the site file (``simulation:``): the real daemon
finds a 124-only storage inverter at base 0 and a 123-only PV inverter at base 50000, and its power setpoint
(124 InWRte/OutWRte) and PV limit (123 WMaxLimPct) reach the simulated devices and read back."""

from __future__ import annotations

from hil_helpers import FixedEngine, StartHil, free_ports, tcp, wait_until

from drivers.sunspec.driver import SunSpecDriver
from simulators.images import SunSpecRegisterMap
from simulators.site import SimulatedSite


def full_sun(site: SimulatedSite) -> None:
    site.pv.set_irradiance(1000.0)
    site.load.set_base(5_000.0)


async def test_daemon_controls_a_124_only_storage_at_base_0_and_a_123_only_pv_at_base_50000(
    start_hil: StartHil,
) -> None:
    meter_port, pv_port, storage_port = free_ports(3)
    devices: list[dict[str, object]] = [
        {
            "id": "grid_meter",
            "kind": "meter",
            "role": "grid",
            "driver": "zoe_meter",
            "transport": tcp(meter_port, 1),
            "poll_ms": 250,
        },
        {
            "id": "pv",
            "kind": "pv_inverter",
            "driver": "sunspec",
            "rated_power_kw": 20,
            "transport": tcp(pv_port, 1, timeout_ms=300),
            "poll_ms": 250,
            "simulation": {"sunspec_base": 50000, "sunspec_control": "123"},
        },
        {
            "id": "storage",
            "kind": "pcs",
            "driver": "sunspec",
            "rated_power_kw": 50,
            "capacity_kwh": 100,
            "transport": tcp(storage_port, 1, timeout_ms=300),
            "poll_ms": 250,
            "simulation": {"sunspec_base": 0, "sunspec_control": "124"},
        },
    ]
    engine = FixedEngine({"pv": {"p_limit_pct": 0.4}, "storage": {"p_set_w": -15_000.0}})
    hil = await start_hil(devices, engine=engine, before_daemon=full_sun)

    storage_map, pv_map = hil.site.server.device("storage").register_map, hil.site.server.device("pv").register_map
    assert isinstance(storage_map, SunSpecRegisterMap) and isinstance(pv_map, SunSpecRegisterMap)
    assert storage_map.image.base == 0 and pv_map.image.base == 50000

    pv_driver, storage_driver = hil.daemon.drivers["pv"], hil.daemon.drivers["storage"]
    assert isinstance(pv_driver, SunSpecDriver) and isinstance(storage_driver, SunSpecDriver)
    await wait_until(lambda: bool(pv_driver.blocks and storage_driver.blocks), 10.0, "SunSpec discovery")
    assert storage_driver.blocks[0].address == 0 + 2, "storage found at base 0"
    assert pv_driver.blocks[0].address == 50000 + 2, "PV found at base 50000"
    storage_models = {block.model_id for block in storage_driver.blocks}
    pv_models = {block.model_id for block in pv_driver.blocks}
    assert 124 in storage_models and 704 not in storage_models, storage_models
    assert 123 in pv_models and 704 not in pv_models, pv_models
    assert storage_driver.control_paths.get("p_set_w") == "124.InOutWRte"
    assert pv_driver.control_paths.get("p_limit_pct") == "123.WMaxLimPct"

    storage_model, pv_model = hil.site.models["storage"], hil.site.models["pv"]
    await wait_until(
        lambda: abs(float(storage_model.points()["p_set_w"] or 0) - (-15_000.0)) <= 10.0,
        10.0,
        "the 124 setpoint to reach the PCS",
    )
    await wait_until(lambda: abs(float(pv_model.points()["p_limit_pct"] or 0) - 0.4) < 1e-3, 10.0, "the 123 PV limit")
    assert storage_map.image.controls().source == "124.InOutWRte"
    assert pv_map.image.controls().source == "123.WMaxLimPct"

    def readings_settled() -> bool:
        pv_w, storage_w = hil.value("pv", "p_w"), hil.value("storage", "p_w")
        p_set_w, limit = hil.value("storage", "p_set_w"), hil.value("pv", "p_limit_pct")
        return (
            pv_w is not None
            and abs(pv_w - (-8_000.0)) <= 20.0  # 40 % of 20 kW, production negative
            and storage_w is not None
            and abs(storage_w - (-15_000.0)) <= 20.0  # discharging: negative in the passive convention
            and p_set_w is not None
            and abs(p_set_w - (-15_000.0)) <= 10.0  # read back from 124 InWRte/OutWRte
            and limit is not None
            and abs(limit - 0.4) < 1e-3
        )

    await wait_until(readings_settled, 10.0, "the daemon to read the limited PV, the battery and both setpoints back")
    assert all(r.accepted for r in hil.site.write_log("storage")), "every 124 write was accepted"
    assert all(r.accepted for r in hil.site.write_log("pv")), "every 123 write was accepted"
