"""Specification of the YAML-profile driver (and the driver factory): poll classes, scaling, sign
conversion, sentinels, partial failures, writes with read-back, read-only devices."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from drivers.driver import DeviceDriver, DriverOptions
from drivers.errors import DeviceError, DeviceTimeout, ReadOnlyDevice
from drivers.factory import build_driver
from drivers.points import DeviceKind
from drivers.profile import Function, PollClass, Profile, ProfileError, load_profile, parse_profile
from drivers.profile_driver import ProfileDriver
from drivers.register_image import MemoryRegisterIO, RegisterImage

ALL = frozenset(PollClass)


class RecordingIO(MemoryRegisterIO):
    """Memory device that records the read requests it serves."""

    def __init__(self, registers: dict[tuple[Function, int], int] | None = None, **kwargs: Any) -> None:
        super().__init__(registers, **kwargs)
        self.reads: list[tuple[Function, int, int]] = []

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        self.reads.append((function, address, count))
        return await super().read(function, address, count)


class ClampingIO(MemoryRegisterIO):
    """A device that accepts writes but keeps holding register values within +-10000 (i32 pairs)."""

    async def write_registers(self, address: int, values: list[int]) -> None:
        self.writes.append((Function.HOLDING, address, list(values)))
        for i in range(0, len(values) - 1, 2):
            value = int.from_bytes(
                bytes([values[i] >> 8, values[i] & 255, values[i + 1] >> 8, values[i + 1] & 255]), "big", signed=True
            )
            clamped = max(-10000, min(10000, value)).to_bytes(4, "big", signed=True)
            self.store(
                Function.HOLDING, address + i, [int.from_bytes(clamped[:2], "big"), int.from_bytes(clamped[2:], "big")]
            )


class TimeoutIO(MemoryRegisterIO):
    async def read(self, function: Function, address: int, count: int) -> list[int]:
        raise DeviceTimeout(self.name, "no answer within 0.5 s")


def driver_for(profile: Profile | str, io: MemoryRegisterIO, **kwargs: Any) -> ProfileDriver:
    loaded = load_profile(profile) if isinstance(profile, str) else profile
    return ProfileDriver(loaded, io, DriverOptions(device_id="dev1", kind=loaded.kind, **kwargs))


def served(profile_name: str, values: dict[str, float | None], **kwargs: Any) -> RecordingIO:
    return RecordingIO(RegisterImage(load_profile(profile_name)).encode(values), **kwargs)


async def test_profile_driver_satisfies_the_device_driver_protocol() -> None:
    driver: DeviceDriver = driver_for("zoe_meter", MemoryRegisterIO())
    assert driver.device_id == "dev1"
    assert driver.kind is DeviceKind.METER
    assert driver.writable_points == frozenset()


async def test_fast_poll_reads_only_fast_points_in_few_requests() -> None:
    io = served("zoe_meter", {"f_hz": 50.02, "p_w": 1234.0, "u_l1_v": 230.0, "e_import_wh": 5.0})
    driver = driver_for("zoe_meter", io)
    got = await driver.read({PollClass.FAST})
    assert got == {"f_hz": 50.02, "p_w": 1234.0}
    assert io.reads == [(Function.HOLDING, 0, 4)]
    io.reads.clear()
    got = await driver.read({PollClass.FAST, PollClass.NORMAL})
    assert "u_l1_v" in got and "e_import_wh" not in got
    assert io.reads == [(Function.HOLDING, 0, 22)]
    io.reads.clear()
    got = await driver.read(ALL)
    assert got["e_import_wh"] == 5.0
    assert io.reads == [(Function.HOLDING, 0, 22), (Function.HOLDING, 100, 8)]


async def test_active_sign_device_is_converted_to_passive_on_read_and_write() -> None:
    profile = load_profile("zoe_pcs")
    # The device reports +40 kW: discharging in its own (active) convention.
    io = MemoryRegisterIO({(Function.HOLDING, 0): 0, (Function.HOLDING, 1): 40000})
    driver = driver_for(profile, io)
    assert (await driver.read({PollClass.FAST}))["p_w"] == -40000.0
    await driver.write({"p_set_w": 25000.0})  # charge 25 kW
    assert io.writes == [(Function.HOLDING, 100, [0xFFFF, 0x9E58])]  # -25000 in the device's convention


async def test_site_file_sign_override_beats_the_profile() -> None:
    io = MemoryRegisterIO({(Function.HOLDING, 0): 0, (Function.HOLDING, 1): 40000})
    driver = driver_for("zoe_pcs", io, sign_power="passive", sign_setpoint="passive")
    assert (await driver.read({PollClass.FAST}))["p_w"] == 40000.0
    await driver.write({"p_set_w": 25000.0})
    assert io.writes == [(Function.HOLDING, 100, [0x0000, 0x61A8])]


async def test_invert_sign_flips_one_point_on_top_of_the_convention() -> None:
    profile = parse_profile(
        {
            "name": "quirky",
            "kind": "meter",
            "sign": {"power": "active"},
            "points": {
                "p_w": {"address": 0, "type": "i16"},
                "p_l1_w": {"address": 1, "type": "i16", "invert_sign": True},
                "u_l1_v": {"address": 2, "type": "i16", "invert_sign": True},
            },
        }
    )
    io = MemoryRegisterIO({(Function.HOLDING, 0): 100, (Function.HOLDING, 1): 100, (Function.HOLDING, 2): 230})
    assert await driver_for(profile, io).read(ALL) == {"p_w": -100.0, "p_l1_w": 100.0, "u_l1_v": -230.0}


async def test_non_power_points_keep_their_sign() -> None:
    io = served("zoe_pcs", {"p_max_discharge_w": 120000.0, "soc": 0.5})
    got = await driver_for("zoe_pcs", io).read(ALL)
    assert got["p_max_discharge_w"] == 120000.0
    assert got["soc"] == 0.5


async def test_scale_factor_registers_scale_points_and_a_missing_one_voids_them() -> None:
    io = RecordingIO(
        {
            (Function.INPUT, 2): 7683,  # u_v raw
            (Function.INPUT, 3): 0xFB3B,  # i_a raw = -1221
            (Function.INPUT, 20): 0xFFFF,  # v_sf = -1
            (Function.INPUT, 21): 0x8000,  # a_sf "not implemented"
        }
    )
    driver = driver_for("zoe_bms", io)
    got = await driver.read({PollClass.NORMAL, PollClass.FAST})
    assert got["u_v"] == 768.3
    assert got["i_a"] is None
    assert "scale factor a_sf" in driver.last_errors["i_a"]
    assert io.reads == [(Function.INPUT, 0, 23)]  # scale factors come in the same request


async def test_enum_points_are_integers_and_measurements_are_floats() -> None:
    io = served("zoe_evse", {"state": 2, "phases": 3, "enable": 1, "i_limit_a": 16.0})
    got = await driver_for("zoe_evse", io).read(ALL)
    assert got["state"] == 2 and isinstance(got["state"], int)
    assert got["enable"] == 1 and isinstance(got["enable"], int)
    assert isinstance(got["i_limit_a"], float)


async def test_a_point_that_cannot_be_decoded_does_not_lose_the_others() -> None:
    io = served("zoe_meter", {"f_hz": 50.0, "p_w": 10.0})
    io.registers[(Function.HOLDING, 3)] = 0x1_0000  # a broken transport hands over a non-word
    driver = driver_for("zoe_meter", io)
    got = await driver.read({PollClass.FAST})
    assert got == {"f_hz": 50.0, "p_w": None}
    assert "not a 16-bit word" in driver.last_errors["p_w"]
    io.registers[(Function.HOLDING, 3)] = 10
    assert (await driver.read({PollClass.FAST}))["p_w"] == 10.0
    assert driver.last_errors == {}


async def test_a_rejected_block_voids_its_points_only_and_all_rejected_raises() -> None:
    registers = RegisterImage(load_profile("zoe_meter")).encode({"f_hz": 50.0, "p_w": 7.0})
    assert (Function.HOLDING, 100) not in registers  # energies not served: the device rejects that block
    io = MemoryRegisterIO(registers, strict=True)
    for address in range(22):
        io.registers.setdefault((Function.HOLDING, address), 0)
    driver = driver_for("zoe_meter", io)
    got = await driver.read(ALL)
    assert got["p_w"] == 7.0
    assert got["e_import_wh"] is None and got["e_export_wh"] is None
    assert "Modbus exception 2" in driver.last_errors["e_import_wh"]
    with pytest.raises(DeviceError, match="Modbus exception 2"):
        await driver.read({PollClass.SLOW})


async def test_timeouts_propagate_to_the_poller() -> None:
    with pytest.raises(DeviceTimeout):
        await driver_for("zoe_meter", TimeoutIO()).read(ALL)


async def test_short_reply_is_a_decode_error_for_that_block() -> None:
    class ShortIO(MemoryRegisterIO):
        async def read(self, function: Function, address: int, count: int) -> list[int]:
            return (await super().read(function, address, count))[:-1]

    with pytest.raises(DeviceError, match="returned 3 values"):
        await driver_for("zoe_meter", ShortIO()).read({PollClass.FAST})


async def test_readback_mismatch_raises_device_error() -> None:
    io = ClampingIO()
    driver = driver_for("zoe_pcs", io)
    await driver.write({"p_set_w": -5000.0})  # within what the device accepts
    with pytest.raises(DeviceError, match="p_set_w: read-back mismatch at holding 100"):
        await driver.write({"p_set_w": -50000.0})


async def test_points_without_readback_are_not_read_after_writing() -> None:
    io = RecordingIO()
    await driver_for("zoe_pcs", io).write({"q_set_var": 100.0, "heartbeat": 7})
    assert io.reads == []
    assert io.registers[(Function.HOLDING, 104)] == 7


async def test_adjacent_setpoints_go_out_in_one_request() -> None:
    io = MemoryRegisterIO()
    await driver_for("zoe_sgready", io).write({"relay2": 1, "relay1": 1})
    assert io.writes == [(Function.COIL, 0, [1, 1])]
    pcs_io = MemoryRegisterIO()
    await driver_for("zoe_pcs", pcs_io).write({"heartbeat": 1, "p_set_w": 0.0, "q_set_var": 0.0})
    assert pcs_io.writes == [(Function.HOLDING, 100, [0, 0, 0, 0, 1])]


async def test_read_only_device_refuses_every_write() -> None:
    io = MemoryRegisterIO()
    driver = driver_for("zoe_pcs", io, read_only=True)
    assert driver.writable_points == frozenset()
    with pytest.raises(ReadOnlyDevice, match="dev1"):
        await driver.write({"p_set_w": 1000.0})
    assert io.writes == []


async def test_bad_setpoints_are_refused_before_anything_is_written() -> None:
    io = MemoryRegisterIO()
    driver = driver_for("zoe_pcs", io)
    assert driver.writable_points == {"p_set_w", "q_set_var", "heartbeat"}
    with pytest.raises(ReadOnlyDevice, match="point soc is read-only"):
        await driver.write({"p_set_w": 1000.0, "soc": 0.5})
    with pytest.raises(DeviceError, match="heartbeat: cannot write 70000"):
        await driver.write({"p_set_w": 1000.0, "heartbeat": 70000})
    with pytest.raises(DeviceError, match="cannot write nan"):
        await driver.write({"p_set_w": float("nan")})
    pv = driver_for("zoe_evse", io)
    with pytest.raises(DeviceError, match="no point 'p_limit_w'"):
        await pv.write({"p_limit_w": 1000.0})
    assert io.writes == []


async def test_writes_use_the_device_scale_factor() -> None:
    profile = parse_profile(
        {
            "name": "sfpcs",
            "kind": "pcs",
            "scale_factors": {"w_sf": {"address": 10}},
            "points": {"p_set_w": {"address": 0, "type": "i16", "access": "rw", "scale_factor": "w_sf"}},
        }
    )
    io = RecordingIO({(Function.HOLDING, 10): 2})  # watts in units of 100 W
    driver = driver_for(profile, io)
    await driver.write({"p_set_w": -12300.0})  # no connect(): the scale factor is read on demand
    assert io.reads == [(Function.HOLDING, 10, 1)]
    assert io.registers[(Function.HOLDING, 0)] == 0xFF85  # -123
    io.registers[(Function.HOLDING, 10)] = 0x8000
    await driver.connect()
    with pytest.raises(DeviceError, match="scale factor w_sf is not implemented"):
        await driver.write({"p_set_w": 100.0})


def test_profile_of_another_kind_is_refused() -> None:
    with pytest.raises(ProfileError, match="profile 'zoe_pcs' is for kind pcs, but the device is configured as meter"):
        ProfileDriver(load_profile("zoe_pcs"), MemoryRegisterIO(), DriverOptions(device_id="m", kind=DeviceKind.METER))


async def test_factory_builds_bundled_and_file_profiles(tmp_path: Path) -> None:
    options = DriverOptions(device_id="grid_meter", kind=DeviceKind.METER)
    driver = build_driver("eastron_sdm630", MemoryRegisterIO(), options)
    assert isinstance(driver, ProfileDriver) and driver.profile.name == "eastron_sdm630"
    path = tmp_path / "site_meter.yaml"
    path.write_text(yaml.safe_dump({"name": "site_meter", "kind": "meter", "points": {"p_w": {"address": 0}}}))
    from_file = build_driver(str(path), MemoryRegisterIO(), options)
    assert isinstance(from_file, ProfileDriver) and from_file.profile.name == "site_meter"


def test_factory_errors_name_the_device_and_the_driver() -> None:
    options = DriverOptions(device_id="grid_meter", kind=DeviceKind.METER)
    with pytest.raises(ProfileError, match="device grid_meter: driver 'zoe_pcs' is a pcs profile"):
        build_driver("zoe_pcs", MemoryRegisterIO(), options)
    with pytest.raises(ProfileError, match="device grid_meter: driver 'zoe_toaster': unknown profile"):
        build_driver("zoe_toaster", MemoryRegisterIO(), options)


def test_factory_reports_a_missing_sunspec_driver_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "drivers.sunspec.driver", None)
    with pytest.raises(ProfileError, match="device grid_meter: driver 'sunspec' is not available"):
        build_driver("sunspec", MemoryRegisterIO(), DriverOptions(device_id="grid_meter", kind=DeviceKind.METER))


def test_factory_builds_the_sunspec_driver_when_installed() -> None:
    module = pytest.importorskip("drivers.sunspec.driver")
    driver = build_driver("sunspec", MemoryRegisterIO(), DriverOptions(device_id="inv1", kind=DeviceKind.PCS))
    assert isinstance(driver, module.SunSpecDriver)
    assert driver.device_id == "inv1"
