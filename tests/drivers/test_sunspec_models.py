"""SunSpec model definitions, value coding and simulated-device images."""

from __future__ import annotations

import math

import pytest
import sunspec2.device as reference

from drivers.sunspec.access import plan_reads
from drivers.sunspec.image import SunSpecImage, build_image, decode_write, storage_inverter_image
from drivers.sunspec.models import ModelDefinitionError, load_model, model_layout
from drivers.sunspec.values import decode_raw, encode_raw, not_implemented_words

# Model lengths (L) as published in the SunSpec information model specification.
SPEC_LENGTHS = {
    1: 66,
    101: 50,
    102: 50,
    103: 50,
    111: 60,
    112: 60,
    113: 60,
    120: 26,
    121: 30,
    122: 44,
    123: 24,
    124: 24,
    201: 105,
    202: 105,
    203: 105,
    204: 105,
    211: 124,
    212: 124,
    213: 124,
    214: 124,
    701: 153,
    702: 50,
    703: 17,
    704: 65,
    713: 7,
    802: 62,
}


@pytest.mark.parametrize("model_id", sorted(SPEC_LENGTHS))
def test_official_definition_loads_with_the_declared_length(model_id: int) -> None:
    model = load_model(model_id)
    assert model.model_id == model_id
    assert model.declared_length == SPEC_LENGTHS[model_id]
    assert model_layout(model_id).total_registers == SPEC_LENGTHS[model_id] + 2


@pytest.mark.parametrize("model_id", sorted(SPEC_LENGTHS))
def test_point_offsets_agree_with_pysunspec2(model_id: int) -> None:
    ours = model_layout(model_id)
    theirs = reference.Model(model_id=model_id)
    for name, point in theirs.points.items():
        assert ours[name].offset == point.offset, f"{model_id}.{name}"
        assert ours[name].point.size == point.len, f"{model_id}.{name}"


def test_well_known_offsets_of_inverter_and_controls() -> None:
    # SolarEdge/Fronius manuals: 103 W at ID+14, W_SF at ID+15; 704 WSet (int32) with its own scale factor.
    inverter = model_layout(103)
    assert (inverter["W"].offset, inverter["W_SF"].offset, inverter["W"].sf_path) == (14, 15, "W_SF")
    controls = model_layout(704)
    assert controls["WSet"].point.type == "int32"
    assert controls["WSet"].sf_path == "WSet_SF"
    assert controls["WSetMod"].point.symbols == {"W_MAX_PCT": 0, "WATTS": 1}
    assert controls["PFWInj.PF"].sf_path == "PF_SF"


@pytest.mark.parametrize("model_id", sorted(SPEC_LENGTHS))
def test_every_named_scale_factor_resolves_to_a_sunssf_point(model_id: int) -> None:
    layout = model_layout(model_id)
    for placed in layout:
        if isinstance(placed.point.sf, str):
            assert placed.sf_path is not None, f"{model_id}.{placed.path}"
            assert layout[placed.sf_path].point.type == "sunssf"


def test_types_cover_strings_accumulators_enums_bitfields_and_pads() -> None:
    common = model_layout(1)
    assert (common["Mn"].point.type, common["Mn"].point.size) == ("string", 16)
    assert common["Pad"].point.type == "pad"
    assert model_layout(203)["TotWhImp"].point.type == "acc32"
    assert model_layout(802)["Evt1"].point.type == "bitfield32"
    assert model_layout(802)["State"].point.type == "enum16"
    assert model_layout(213)["W"].point.type == "float32"


def test_repeating_group_fills_the_model_length_and_uses_the_enclosing_scale_factor() -> None:
    model = load_model(160)
    module_size = next(g for g in model.group.groups if g.name == "module").fixed_size
    layout = model_layout(160, model.declared_length + 3 * module_size)
    assert "module[3].DCW" in layout and "module[4].DCW" not in layout
    assert layout["module[3].DCW"].offset == layout["module[2].DCW"].offset + module_size
    assert layout["module[3].DCW"].sf_path == "DCW_SF"


def test_repeating_group_counted_by_a_point_takes_its_value_from_the_registers() -> None:
    model = load_model(803)
    string_size = next(g for g in model.group.groups if g.name == "string").fixed_size
    image = SunSpecImage([(803, {"NStr": 2, "string[2].StrSoC": 50.0, "SoC_SF": 0})], base=0)
    block = image.blocks[1]
    assert block.length == model.declared_length + 2 * string_size
    words = [image.registers[a] for a in range(block.address, block.end)]
    layout = model_layout(803, block.length, words)
    assert "string[2].StrSoC" in layout and "string[3].StrSoC" not in layout


def test_legacy_common_model_of_65_registers_has_no_pad() -> None:
    layout = model_layout(1, 65)
    assert "Pad" not in layout and "DA" in layout


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(ModelDefinitionError, match="model 59999"):
        load_model(59999)


@pytest.mark.parametrize(
    ("type_name", "words"),
    [
        ("int16", [0x8000]),
        ("uint16", [0xFFFF]),
        ("enum16", [0xFFFF]),
        ("sunssf", [0x8000]),
        ("int32", [0x8000, 0x0000]),
        ("uint32", [0xFFFF, 0xFFFF]),
        ("bitfield32", [0xFFFF, 0xFFFF]),
        ("acc32", [0, 0]),
        ("float32", [0x7FC0, 0x0000]),
        ("uint64", [0xFFFF] * 4),
        ("string", [0, 0, 0]),
    ],
)
def test_not_implemented_sentinels_decode_to_none(type_name: str, words: list[int]) -> None:
    assert decode_raw(type_name, words) is None
    assert decode_raw(type_name, not_implemented_words(type_name, len(words))) is None


def test_values_round_trip_through_their_registers() -> None:
    assert decode_raw("int16", encode_raw("int16", -1234)) == -1234
    assert decode_raw("int32", encode_raw("int32", -300000)) == -300000
    assert decode_raw("acc32", encode_raw("acc32", 4_000_000_000)) == 4_000_000_000
    assert math.isclose(float(decode_raw("float32", encode_raw("float32", 49.987)) or 0), 49.987, rel_tol=1e-6)
    assert decode_raw("string", encode_raw("string", "ZOE", 4)) == "ZOE"


def test_reads_are_planned_in_requests_of_at_most_125_registers() -> None:
    spans = plan_reads([(40000, 300), (40310, 4), (41000, 2)])
    assert all(s.count <= 125 for s in spans)
    covered = {a for s in spans for a in range(s.address, s.end)}
    assert set(range(40000, 40314)) <= covered and {41000, 41001} <= covered
    assert len(spans) == 4


def test_image_lays_out_marker_chain_and_end_at_the_base() -> None:
    registers = build_image([(203, {"W": 1500.0, "W_SF": 0})], base=50000)
    assert (registers[50000], registers[50001]) == (0x5375, 0x6E53)
    assert (registers[50002], registers[50003]) == (1, 66)
    meter_at = 50002 + 68
    assert (registers[meter_at], registers[meter_at + 1]) == (203, 105)
    end = meter_at + 2 + 105
    assert registers[end] == 0xFFFF
    layout = model_layout(203)
    assert registers[meter_at + layout["W"].offset] == 1500
    assert registers[meter_at + layout["Hz"].offset] == 0x8000  # unset int16 -> not implemented
    assert registers[meter_at + layout["Hz_SF"].offset] == 0  # unused scale factor defaults to 0


def test_image_chooses_a_scale_factor_that_fits_and_rescales_when_needed() -> None:
    image = SunSpecImage([(203, {"W": 12.34})])
    assert image.get(203, "W") == pytest.approx(12.34)
    image.set(203, {"W": 250_000.0})
    assert image.get(203, "W") == pytest.approx(250_000.0)
    assert isinstance(image.get(203, "W_SF"), int) and int(image.get(203, "W_SF") or 0) >= 1


def test_image_decodes_a_wset_write_into_sunspec_points() -> None:
    image = storage_inverter_image(rated_w=10_000, capacity_wh=20_000)
    block = next(b for b in image.blocks if b.model_id == 704)
    layout = model_layout(704)
    wset_sf = image.get(704, "WSet_SF")
    assert isinstance(wset_sf, int)
    address = block.address + layout["WSetEna"].offset
    raw_wset = encode_raw("int32", round(-4000 / 10.0**wset_sf))
    written = image.apply_write(address, [1, 1, *raw_wset])
    assert written == {(704, "WSetEna"): 1, (704, "WSetMod"): 1, (704, "WSet"): pytest.approx(-4000.0)}
    assert image.controls().p_set_w == pytest.approx(4000.0)  # SunSpec -4000 (absorbing) = charging 4 kW
    stateless = decode_write(image.registers, address, [1, 1, *raw_wset])
    assert stateless == written
