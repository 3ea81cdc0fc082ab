"""SunSpec devices found at run time: the daemon discovers the model chain of a simulated PV inverter and a
simulated storage inverter, reads them in SI units and the passive convention, and its power limit
(704/123 WMaxLimPct) and power setpoint (704 WSet) reach the simulated devices."""

from __future__ import annotations

from hil_helpers import FixedEngine, StartHil, free_ports, tcp, wait_until

from drivers.sunspec.driver import SunSpecDriver
from simulators.site import SimulatedSite


def full_sun(site: SimulatedSite) -> None:
    site.pv.set_irradiance(1000.0)
    site.load.set_base(5_000.0)


async def test_sunspec_discovery_and_power_control_reach_the_simulated_inverters(start_hil: StartHil) -> None:
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
        },
        {
            "id": "storage",
            "kind": "pcs",
            "driver": "sunspec",
            "rated_power_kw": 50,
            "capacity_kwh": 100,
            "transport": tcp(storage_port, 1, timeout_ms=300),
            "poll_ms": 250,
        },
    ]
    engine = FixedEngine({"pv": {"p_limit_pct": 0.4}, "storage": {"p_set_w": -15_000.0}})
    hil = await start_hil(devices, engine=engine, before_daemon=full_sun)

    pv_driver, storage_driver = hil.daemon.drivers["pv"], hil.daemon.drivers["storage"]
    assert isinstance(pv_driver, SunSpecDriver) and isinstance(storage_driver, SunSpecDriver)
    await wait_until(lambda: bool(pv_driver.blocks and storage_driver.blocks), 10.0, "SunSpec discovery")
    pv_models = [block.model_id for block in pv_driver.blocks]
    storage_models = [block.model_id for block in storage_driver.blocks]
    assert pv_models[0] == 1 and 103 in pv_models, pv_models
    assert storage_models[0] == 1 and {701, 704} <= set(storage_models), storage_models
    assert pv_driver.identity.get("Mn") == "ZOE-EMS"
    assert storage_driver.control_paths.get("p_set_w") == "704.WSet"
    assert pv_driver.control_paths.get("p_limit_pct") in ("704.WMaxLimPct", "123.WMaxLimPct")

    pv_model, storage_model = hil.site.models["pv"], hil.site.models["storage"]
    await wait_until(lambda: storage_model.points()["p_set_w"] == -15_000.0, 10.0, "WSet to reach the PCS")
    await wait_until(lambda: abs(float(pv_model.points()["p_limit_pct"] or 0) - 0.4) < 1e-3, 10.0, "the PV limit")

    def readings_settled() -> bool:
        pv_w, storage_w = hil.value("pv", "p_w"), hil.value("storage", "p_w")
        return (
            pv_w is not None
            and abs(pv_w - (-8_000.0)) <= 20.0  # 40 % of 20 kW, production negative
            and storage_w is not None
            and abs(storage_w - (-15_000.0)) <= 20.0  # discharging: negative in the passive convention
        )

    await wait_until(readings_settled, 10.0, "the daemon to read the limited PV and the discharging battery")
    soc = hil.value("storage", "soc")
    model_soc = storage_model.points()["soc"]
    assert soc is not None and model_soc is not None and abs(soc - model_soc) <= 0.01
    assert all(r.accepted for r in hil.site.write_log("storage")), "every SunSpec write was accepted"
