"""Specification of the register image simulators serve: canonical values -> registers -> the profile
driver gives the same canonical values back (within the register resolution), and writes decode to
canonical setpoints."""

from __future__ import annotations

import math

import pytest

from drivers.codec import CodecError, to_si
from drivers.driver import DriverOptions, PointReading
from drivers.points import DeviceKind
from drivers.profile import Function, PollClass, Profile, available_profiles, load_profile, parse_profile
from drivers.profile_driver import ProfileDriver
from drivers.register_image import MemoryRegisterIO, RegisterImage

# A plausible moment for each kind, in SI units and the passive sign convention.
SITE_STATE: dict[DeviceKind, dict[str, float]] = {
    DeviceKind.METER: {
        "p_w": -12345.0, "p_l1_w": -4100.0, "p_l2_w": -4000.0, "p_l3_w": -4245.0, "q_var": 1500.0,
        "e_import_wh": 123456789.0, "e_export_wh": 98765.0,
        "u_l1_v": 230.4, "u_l2_v": 231.0, "u_l3_v": 229.8,
        "i_l1_a": 17.8, "i_l2_a": 17.4, "i_l3_a": 18.5, "f_hz": 49.98,
    },
    DeviceKind.PCS: {
        "p_w": -50000.0, "q_var": 2000.0, "p_set_w": -50000.0, "q_set_var": 2000.0,
        "p_max_charge_w": 100000.0, "p_max_discharge_w": 120000.0, "rated_p_w": 125000.0,
        "soc": 0.637, "state": 2, "alarm": 0x8001, "heartbeat": 65535, "f_hz": 50.01,
    },
    DeviceKind.BMS: {
        "soc": 0.637, "soh": 0.981, "u_v": 768.3, "i_a": -120.5, "i_max_charge_a": 150.0,
        "i_max_discharge_a": 200.0, "p_max_charge_w": 115000.0, "p_max_discharge_w": 150000.0,
        "capacity_wh": 500000.0, "t_c": -4.5, "alarm": 0,
    },
    DeviceKind.PV_INVERTER: {
        "p_w": -8123.0, "p_limit_pct": 0.6525, "p_limit_w": 6525.0, "rated_p_w": 10000.0,
        "e_total_wh": 45678901.0, "state": 2, "f_hz": 50.0,
    },
    DeviceKind.EV_CHARGER: {
        "state": 2, "p_w": 11040.0, "i_l1_a": 15.87, "i_l2_a": 15.9, "i_l3_a": 15.85, "i_limit_a": 16.0,
        "phases": 3, "e_session_wh": 12345.0, "enable": 1,
    },
    DeviceKind.SG_READY: {"relay1": 0, "relay2": 1, "p_w": 3200.0, "t_storage_c": 48.5},
    DeviceKind.DIGITAL_IO: {"di1": 1, "di2": 0, "di3": 1, "di4": 0},
}  # fmt: skip


def options(profile: Profile, **kwargs: object) -> DriverOptions:
    return DriverOptions(device_id="dev1", kind=profile.kind, **kwargs)  # type: ignore[arg-type]


def resolution(profile: Profile, image: RegisterImage, name: str) -> float:
    point = profile.points[name]
    sf = image.scale_factors[point.scale_factor] if point.scale_factor else 0
    return abs(to_si(1, scale=point.scale, sf=sf) - to_si(0, scale=point.scale, sf=sf))


def assert_close(
    profile: Profile, image: RegisterImage, expected: dict[str, float], got: dict[str, PointReading]
) -> None:
    for name, value in expected.items():
        reading = got[name]
        assert isinstance(reading, int | float), name
        float_error = 1e-6 * abs(value) if profile.points[name].type in ("f32", "f64") else 0.0
        tolerance = resolution(profile, image, name) / 2 + float_error + 1e-9
        assert math.isclose(reading, value, abs_tol=tolerance), f"{profile.name}.{name}: {reading} != {value}"


@pytest.mark.parametrize("name", available_profiles())
async def test_bundled_profile_round_trips_through_image_and_driver(name: str) -> None:
    profile = load_profile(name)
    image = RegisterImage(profile)
    state = {k: v for k, v in SITE_STATE[profile.kind].items() if k in profile.points}
    io = MemoryRegisterIO(image.encode(state), name=f"{name}-sim")
    driver = ProfileDriver(profile, io, options(profile))
    await driver.connect()
    got = await driver.read(set(PollClass))
    assert set(got) == set(profile.points)
    assert driver.last_errors == {}
    assert_close(profile, image, state, got)


@pytest.mark.parametrize("name", available_profiles())
async def test_writes_to_a_bundled_profile_decode_to_the_same_setpoints(name: str) -> None:
    profile = load_profile(name)
    image = RegisterImage(profile)
    io = MemoryRegisterIO(image.encode({}))
    driver = ProfileDriver(profile, io, options(profile))
    await driver.connect()
    setpoints = {k: v for k, v in SITE_STATE[profile.kind].items() if k in driver.writable_points}
    await driver.write(setpoints)
    decoded: dict[str, float] = {}
    for function, address, values in io.writes:
        decoded.update(image.decode_write(function, address, values))
    assert set(decoded) == set(setpoints)
    assert_close(profile, image, setpoints, dict(decoded))


async def test_active_sign_device_stores_charging_as_negative_registers() -> None:
    profile = load_profile("zoe_pcs")
    image = RegisterImage(profile)
    registers = image.encode({"p_w": 30000.0, "p_set_w": -20000.0})  # charging 30 kW, discharge command 20 kW
    assert [registers[(Function.HOLDING, a)] for a in (0, 1)] == [0xFFFF, 0x8AD0]  # -30000 as i32
    assert [registers[(Function.HOLDING, a)] for a in (100, 101)] == [0x0000, 0x4E20]  # +20000 as i32
    assert image.decode_write(Function.HOLDING, 100, [0x0000, 0x4E20]) == {"p_set_w": -20000.0}


def test_sign_override_changes_the_served_registers() -> None:
    profile = load_profile("zoe_pcs")
    passive = RegisterImage(profile, sign_power="passive", sign_setpoint="passive")
    registers = passive.encode({"p_w": 30000.0, "p_set_w": -20000.0})
    assert [registers[(Function.HOLDING, a)] for a in (0, 1)] == [0x0000, 0x7530]
    assert [registers[(Function.HOLDING, a)] for a in (100, 101)] == [0xFFFF, 0xB1E0]


def test_image_serves_scale_factor_registers_and_sentinels_for_missing_values() -> None:
    profile = load_profile("zoe_bms")
    image = RegisterImage(profile)
    registers = image.encode({"u_v": 768.3, "i_a": None, "alarm": None})
    assert registers[(Function.INPUT, 20)] == 0xFFFF  # v_sf = -1
    assert registers[(Function.INPUT, 22)] == 1  # w_sf = +1
    assert registers[(Function.INPUT, 2)] == 7683
    assert registers[(Function.INPUT, 3)] == 0x8000  # i16 "not implemented"
    assert (Function.INPUT, 11) not in registers  # alarm has no sentinel: left out


def test_scale_factor_values_can_be_overridden() -> None:
    profile = load_profile("zoe_bms")
    image = RegisterImage(profile, scale_factors={"v_sf": -2})
    registers = image.encode({"u_v": 76.83})
    assert registers[(Function.INPUT, 2)] == 7683
    assert registers[(Function.INPUT, 20)] == 0xFFFE
    with pytest.raises(KeyError, match="no scale factor 'x_sf'"):
        RegisterImage(profile, scale_factors={"x_sf": 1})


async def test_not_implemented_values_read_back_as_none() -> None:
    profile = load_profile("zoe_meter")
    image = RegisterImage(profile)
    io = MemoryRegisterIO(image.encode({"p_w": None, "i_l1_a": None, "f_hz": 50.0}))
    got = await ProfileDriver(profile, io, options(profile)).read({PollClass.NORMAL, PollClass.FAST})
    assert got["p_w"] is None and got["i_l1_a"] is None
    assert got["f_hz"] == 50.0


def test_image_ignores_catalogue_points_the_profile_lacks_and_refuses_unknown_names() -> None:
    profile_small = parse_profile({"name": "s", "kind": "meter", "points": {"p_w": {"address": 0, "type": "i16"}}})
    assert RegisterImage(profile_small).encode({"p_w": -5.0, "f_hz": 50.0}) == {(Function.HOLDING, 0): 0xFFFB}
    with pytest.raises(KeyError, match="'soc' is not a meter point"):
        RegisterImage(profile_small).encode({"soc": 0.5})


def test_values_that_do_not_fit_the_register_are_refused_with_the_point_name() -> None:
    image = RegisterImage(load_profile("zoe_sgready"))
    with pytest.raises(CodecError, match=r"zoe_sgready\.p_w: value -5\.0 out of range for u16"):
        image.encode({"p_w": -5.0})


def test_decode_write_refuses_partial_writes_and_ignores_read_only_registers() -> None:
    image = RegisterImage(load_profile("zoe_pcs"))
    with pytest.raises(CodecError, match="covers only part"):
        image.decode_write(Function.HOLDING, 101, [0, 5])
    assert image.decode_write(Function.HOLDING, 0, [0, 0, 0, 0]) == {}
    assert image.decode_write(Function.HOLDING, 104, [7]) == {"heartbeat": 7.0}
    with pytest.raises(CodecError, match="input objects cannot be written"):
        image.decode_write(Function.INPUT, 0, [1])
    sg = RegisterImage(load_profile("zoe_sgready"))
    assert sg.decode_write(Function.COIL, 0, [1, 0]) == {"relay1": 1.0, "relay2": 0.0}


def test_spans_list_every_register_the_simulator_must_serve() -> None:
    image = RegisterImage(load_profile("zoe_bms"))
    spans = image.spans()
    assert (Function.INPUT, 8, 2) in spans  # capacity_wh u32
    assert (Function.INPUT, 21, 1) in spans  # a_sf
    assert len(spans) == 11 + 3


async def test_memory_io_strict_mode_rejects_unserved_addresses() -> None:
    io = MemoryRegisterIO({(Function.HOLDING, 0): 1}, strict=True)
    assert await io.read(Function.HOLDING, 0, 1) == [1]
    with pytest.raises(Exception, match="Modbus exception 2"):
        await io.read(Function.HOLDING, 0, 2)
