"""The SunSpec layout a simulated device serves follows its site file's `simulation:` section: base address
(40000, 0, 50000) and control model (pcs 704 / 124, PV 704 / 123); without it, base 40000 and both models."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_helpers import site_file, tcp

from drivers.points import DeviceKind
from drivers.profile import Function
from drivers.sunspec.discovery import SUNS_MARKER
from simulators.images import SunSpecRegisterMap, register_map_for
from simulators.site import SimulatedSite
from zoe_ems.config import load_site_config


def sunspec_maps(tmp_path: Path, simulations: dict[str, dict[str, object]]) -> dict[str, SunSpecRegisterMap]:
    """Register maps of a SunSpec grid meter, storage inverter and PV inverter with the given sections."""
    devices: list[dict[str, object]] = [
        {"id": "meter", "kind": "meter", "role": "grid", "driver": "sunspec", "transport": tcp(15020, 1)},
        {"id": "storage", "kind": "pcs", "driver": "sunspec", "transport": tcp(15020, 2), "rated_power_kw": 10},
        {"id": "pv", "kind": "pv_inverter", "driver": "sunspec", "transport": tcp(15020, 3), "rated_power_kw": 8},
    ]
    for device in devices:
        if device["id"] in simulations:
            device["simulation"] = simulations[str(device["id"])]
    config = load_site_config(site_file(tmp_path, devices))
    site = SimulatedSite.from_config(config, realistic=False)
    maps: dict[str, SunSpecRegisterMap] = {}
    for device_id in ("meter", "storage", "pv"):
        register_map = register_map_for(config.device(device_id), site.models[device_id])
        assert isinstance(register_map, SunSpecRegisterMap)
        maps[device_id] = register_map
    return maps


def models_of(register_map: SunSpecRegisterMap) -> set[int]:
    return {block.model_id for block in register_map.image.blocks}


def test_without_a_simulation_section_devices_sit_at_40000_with_both_control_models(tmp_path: Path) -> None:
    maps = sunspec_maps(tmp_path, {})
    assert {m.image.base for m in maps.values()} == {40000}
    assert {704, 124} <= models_of(maps["storage"])
    assert {704, 123} <= models_of(maps["pv"])


@pytest.mark.parametrize(("base", "control", "absent"), [(0, "124", 704), (50000, "704", 124)])
def test_the_storage_inverter_serves_the_chosen_base_and_only_the_chosen_control_model(
    tmp_path: Path, base: int, control: str, absent: int
) -> None:
    storage = sunspec_maps(tmp_path, {"storage": {"sunspec_base": base, "sunspec_control": control}})["storage"]
    registers = storage.image.registers
    assert (registers[base], registers[base + 1]) == SUNS_MARKER
    assert int(control) in models_of(storage) and absent not in models_of(storage)
    assert storage.kind is DeviceKind.PCS


@pytest.mark.parametrize(("base", "control", "absent"), [(50000, "123", 704), (0, "704", 123)])
def test_the_pv_inverter_serves_the_chosen_base_and_only_the_chosen_control_model(
    tmp_path: Path, base: int, control: str, absent: int
) -> None:
    pv = sunspec_maps(tmp_path, {"pv": {"sunspec_base": base, "sunspec_control": control}})["pv"]
    assert (pv.image.registers[base], pv.image.registers[base + 1]) == SUNS_MARKER
    assert int(control) in models_of(pv) and absent not in models_of(pv)


def test_a_124_write_on_a_124_only_storage_becomes_the_pcs_setpoint(tmp_path: Path) -> None:
    storage = sunspec_maps(tmp_path, {"storage": {"sunspec_base": 0, "sunspec_control": "124"}})["storage"]
    image = storage.image
    block = next(b for b in image.blocks if b.model_id == 124)
    image.set(124, {"OutWRte": 30.0, "InWRte": -30.0, "StorCtl_Mod": 0b11})
    words = [image.registers[a] for a in range(block.address, block.end)]
    setpoints = storage.decode_write(Function.HOLDING, block.address, words)  # the model written as one block
    assert setpoints == {"p_set_w": pytest.approx(-3000.0)}  # 30 % of WChaMax 10 kW, discharging


def test_a_meter_takes_only_the_base(tmp_path: Path) -> None:
    meter = sunspec_maps(tmp_path, {"meter": {"sunspec_base": 50000}})["meter"]
    assert meter.image.base == 50000 and (meter.image.registers[50000], meter.image.registers[50001]) == SUNS_MARKER
