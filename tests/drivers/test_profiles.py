"""Specification of profile loading: bundled profiles are complete and consistent; bad profiles are
refused with a message naming the source file and the dotted field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from drivers.points import CATALOGUE, Access, DeviceKind
from drivers.profile import (
    PROFILE_DIR,
    Function,
    PollClass,
    ProfileError,
    available_profiles,
    load_profile,
    parse_profile,
)

BUNDLED = available_profiles()
ZOE_PROFILES = {
    "zoe_meter": DeviceKind.METER,
    "zoe_pcs": DeviceKind.PCS,
    "zoe_bms": DeviceKind.BMS,
    "zoe_pv": DeviceKind.PV_INVERTER,
    "zoe_evse": DeviceKind.EV_CHARGER,
    "zoe_sgready": DeviceKind.SG_READY,
    "zoe_io": DeviceKind.DIGITAL_IO,
}


def test_every_reference_device_kind_has_a_bundled_profile() -> None:
    assert set(ZOE_PROFILES) | {"eastron_sdm630"} <= set(BUNDLED)
    assert {load_profile(name).kind for name in ZOE_PROFILES} == set(DeviceKind)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_profile_loads_and_is_named_after_its_file(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.description


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_profile_is_annotated(name: str) -> None:
    text = (PROFILE_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    comment_lines = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comment_lines) >= 5, f"{name}.yaml should explain itself in comments"


@pytest.mark.parametrize(("name", "kind"), ZOE_PROFILES.items())
def test_reference_profiles_cover_the_whole_catalogue_of_their_kind(name: str, kind: DeviceKind) -> None:
    profile = load_profile(name)
    assert profile.kind is kind
    assert set(profile.points) == set(CATALOGUE[kind])


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_profiles_poll_frequency_and_power_fast_and_energy_slow(name: str) -> None:
    profile = load_profile(name)
    for point_name, point in profile.points.items():
        if point_name in ("f_hz", "p_w"):
            assert point.poll is PollClass.FAST, point_name
        if point_name.startswith("e_") and point_name != "e_session_wh":
            assert point.poll is PollClass.SLOW, point_name


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_profiles_make_every_catalogue_setpoint_writable(name: str) -> None:
    profile = load_profile(name)
    for point_name, point in profile.points.items():
        assert (point.access is Access.RW) == (profile.spec(point_name).access is Access.RW), point_name


def test_reference_profiles_exercise_sign_conversion_and_word_order() -> None:
    pcs, pv = load_profile("zoe_pcs"), load_profile("zoe_pv")
    assert pcs.sign.power == "active" and pcs.sign.setpoint == "active"
    assert pcs.points["p_set_w"].readback
    assert pv.sign.power == "active"
    assert pv.points["e_total_wh"].word_order == "little"
    assert load_profile("zoe_bms").points["u_v"].scale_factor is not None
    sdm = load_profile("eastron_sdm630")
    assert {p.function for p in sdm.points.values()} == {Function.INPUT}
    assert all(p.count % 2 == 0 and p.address % 2 == 0 for p in sdm.points.values())


def profile_doc(**points: Any) -> dict[str, Any]:
    return {"name": "broken", "kind": "meter", "points": points}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (profile_doc(p_soc={"address": 0}), "points.p_soc: not a meter point"),
        (profile_doc(p_w={"address": 0, "unit": "kW"}), "points.p_w.unit: 'kW' but the catalogue unit is 'W'"),
        (profile_doc(p_w={"address": 0, "access": "rw"}), "points.p_w.access: p_w is read-only"),
        (profile_doc(p_w={"address": 0, "scale_factor": "w_sf"}), "points.p_w.scale_factor: no scale_factors entry"),
        (profile_doc(p_w={"address": 0, "function": "coil"}), "points.p_w.type: coil points must have type bool"),
        (profile_doc(p_w={"address": 0, "adress": 1}), "points.p_w.adress: Extra inputs are not permitted"),
        (profile_doc(p_w={"address": 70000}), "points.p_w.address: Input should be less than or equal to 65535"),
        (profile_doc(p_w={"address": 65535, "type": "u32"}), "points.p_w.address: 65535 + 2 registers"),
        (profile_doc(p_w={"address": 0, "type": "string", "length": 2}), "points.p_w.type: a string cannot hold"),
        (profile_doc(p_w={"address": 0, "readback": True}), "points.p_w.readback: only rw points"),
        (profile_doc(p_w={"address": 0, "scale": 0}), "points.p_w.scale: must not be 0"),
        (profile_doc(p_w={"address": 0, "type": "u24"}), "points.p_w.type: Input should be"),
        (
            profile_doc(p_w={"address": 10, "type": "i32"}, q_var={"address": 11}),
            "points.q_var.address: holding 11 overlaps points.p_w (10..11)",
        ),
        ({"name": "broken", "kind": "toaster", "points": {"p_w": {"address": 0}}}, "kind: Input should be"),
        ({"name": "broken", "kind": "meter", "points": {}}, "points: Dictionary should have at least 1 item"),
        ({"name": "broken", "kind": "meter"}, "points: Field required"),
    ],
)
def test_invalid_profile_is_refused_naming_the_field(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile(document, source="site/broken.yaml")
    assert str(caught.value).startswith("site/broken.yaml: ")
    assert message in str(caught.value)


def test_input_registers_cannot_be_setpoints() -> None:
    doc = {"name": "b", "kind": "pcs", "points": {"p_set_w": {"address": 0, "function": "input", "access": "rw"}}}
    with pytest.raises(ProfileError, match=r"points\.p_set_w\.access: input points are read-only"):
        parse_profile(doc)


def test_scale_factor_entries_are_validated() -> None:
    doc = profile_doc(p_w={"address": 0, "scale_factor": "w_sf"})
    doc["scale_factors"] = {"w_sf": {"address": 1, "type": "f32"}}
    with pytest.raises(ProfileError, match=r"scale_factors\.w_sf\.type"):
        parse_profile(doc)
    doc["scale_factors"] = {"w_sf": {"address": 0}}
    with pytest.raises(ProfileError, match=r"scale_factors\.w_sf\.address: holding 0 overlaps points\.p_w"):
        parse_profile(doc)


def test_profile_file_by_path_loads_and_errors_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "my_meter.yaml"
    good.write_text(yaml.safe_dump(profile_doc(p_w={"address": 3, "type": "i32"})), encoding="utf-8")
    assert load_profile(good).points["p_w"].address == 3
    assert load_profile(str(good)).name == "broken"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(profile_doc(p_w={"address": -1})), encoding="utf-8")
    with pytest.raises(ProfileError, match=rf"{bad}: points\.p_w\.address"):
        load_profile(bad)
    malformed = tmp_path / "malformed.yaml"
    malformed.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="malformed YAML"):
        load_profile(malformed)


def test_unknown_profile_name_lists_the_bundled_ones() -> None:
    with pytest.raises(ProfileError, match=r"unknown profile 'zoe_toaster'.*zoe_meter"):
        load_profile("zoe_toaster")
