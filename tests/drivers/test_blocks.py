"""Specification of block-read planning: coalescing, request limits, gaps, functions, scale factors."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.blocks import plan_blocks, points_in
from drivers.codec import encode
from drivers.profile import Function, PollClass, Profile, parse_profile


def meter(points: dict[str, Any], **extra: Any) -> Profile:
    return parse_profile({"name": "test", "kind": "meter", "points": points, **extra})


def spans(profile: Profile, names: list[str] | None = None, **kwargs: Any) -> list[tuple[str, int, int]]:
    chosen = list(profile.points) if names is None else names
    return [(b.function.value, b.start, b.count) for b in plan_blocks(profile, chosen, **kwargs)]


def test_adjacent_points_are_read_in_one_request() -> None:
    profile = meter(
        {"p_w": {"address": 10, "type": "i32"}, "q_var": {"address": 12, "type": "i32"}, "f_hz": {"address": 14}}
    )
    assert spans(profile) == [("holding", 10, 5)]


def test_gaps_up_to_max_gap_are_read_through_and_larger_gaps_split() -> None:
    profile = meter({"p_w": {"address": 0}, "q_var": {"address": 9}, "f_hz": {"address": 19}})
    assert spans(profile) == [("holding", 0, 10), ("holding", 19, 1)]  # gap 8 joins, gap 9 splits
    assert spans(profile, max_gap=0) == [("holding", 0, 1), ("holding", 9, 1), ("holding", 19, 1)]
    assert spans(profile, max_gap=9) == [("holding", 0, 20)]


def test_profile_max_gap_is_the_default() -> None:
    profile = meter({"p_w": {"address": 0}, "q_var": {"address": 9}}, max_gap=2)
    assert spans(profile) == [("holding", 0, 1), ("holding", 9, 1)]


def test_blocks_never_exceed_125_registers() -> None:
    points = {f"p_{ph}_w": {"address": 62 * i, "type": "u32"} for i, ph in enumerate(("l1", "l2", "l3"))}
    profile = meter(points, max_gap=100)
    planned = plan_blocks(profile, list(profile.points))
    assert [(b.start, b.count) for b in planned] == [(0, 64), (124, 2)]
    assert all(b.count <= 125 for b in planned)


@pytest.mark.parametrize(("heartbeat_address", "expected"), [(124, [(0, 125)]), (125, [(0, 124), (125, 1)])])
def test_a_block_fills_up_to_exactly_125_registers(heartbeat_address: int, expected: list[tuple[int, int]]) -> None:
    # Strings let a profile occupy many registers: two 62-register points, then one more register.
    profile = parse_profile(
        {
            "name": "t",
            "kind": "pcs",
            "points": {
                "state": {"address": 0, "type": "string", "length": 62},
                "alarm": {"address": 62, "type": "string", "length": 62},
                "heartbeat": {"address": heartbeat_address, "type": "u16", "access": "rw"},
            },
        }
    )
    assert [(start, count) for _, start, count in spans(profile)] == expected


def test_device_request_limit_is_respected() -> None:
    profile = meter({f"u_{ph}_v": {"address": 2 * i, "type": "f32"} for i, ph in enumerate(("l1", "l2", "l3"))})
    assert spans(profile, max_registers=4) == [("holding", 0, 4), ("holding", 4, 2)]
    small = meter(
        {"u_l1_v": {"address": 0, "type": "f32"}, "u_l2_v": {"address": 2, "type": "f32"}}, max_block_registers=2
    )
    assert spans(small) == [("holding", 0, 2), ("holding", 2, 2)]


def test_functions_are_never_mixed_in_one_block() -> None:
    profile = parse_profile(
        {
            "name": "t",
            "kind": "sg_ready",
            "points": {
                "relay1": {"address": 0, "function": "coil", "type": "bool", "access": "rw"},
                "relay2": {"address": 1, "function": "coil", "type": "bool", "access": "rw"},
                "p_w": {"address": 0, "function": "input"},
                "t_storage_c": {"address": 1, "function": "holding", "type": "i16"},
            },
        }
    )
    assert spans(profile) == [("holding", 1, 1), ("input", 0, 1), ("coil", 0, 2)]


def test_bit_blocks_are_limited_to_2000_bits() -> None:
    profile = parse_profile(
        {
            "name": "t",
            "kind": "sg_ready",
            "points": {
                "relay1": {"address": 0, "function": "coil", "type": "bool", "access": "rw"},
                "relay2": {"address": 1999, "function": "coil", "type": "bool", "access": "rw"},
            },
            "max_gap": 124,
        }
    )
    assert spans(profile, max_gap=5000) == [("coil", 0, 2000)]
    assert spans(profile, max_gap=5000, max_bits=1999) == [("coil", 0, 1), ("coil", 1999, 1)]


def test_scale_factor_registers_are_read_with_the_points_that_use_them() -> None:
    profile = meter(
        {
            "p_w": {"address": 0, "type": "i16", "scale_factor": "w_sf", "poll": "fast"},
            "u_l1_v": {"address": 1, "scale_factor": "v_sf"},
            "f_hz": {"address": 2, "poll": "fast"},
        },
        scale_factors={"w_sf": {"address": 40}, "v_sf": {"address": 41}},
    )
    fast = plan_blocks(profile, points_in(profile, {PollClass.FAST}))
    assert [(b.start, b.count) for b in fast] == [(0, 3), (40, 1)]
    keys = [e.key for b in fast for e in b.entries]
    assert "w_sf" in keys and "v_sf" not in keys
    everything = plan_blocks(profile, list(profile.points))
    assert sorted(e.key for b in everything for e in b.entries if e.is_scale_factor) == ["v_sf", "w_sf"]


def test_poll_classes_select_points() -> None:
    profile = meter(
        {"p_w": {"address": 0, "poll": "fast"}, "q_var": {"address": 1}, "e_import_wh": {"address": 2, "poll": "slow"}}
    )
    assert points_in(profile, {PollClass.FAST}) == ["p_w"]
    assert points_in(profile, {PollClass.FAST, PollClass.NORMAL}) == ["p_w", "q_var"]
    assert points_in(profile, set(PollClass)) == ["p_w", "q_var", "e_import_wh"]


def test_block_decodes_its_points_and_keeps_the_others_when_one_is_bad() -> None:
    profile = meter(
        {
            "p_w": {"address": 0, "type": "i32"},
            "f_hz": {"address": 2},
            "q_var": {"address": 3, "type": "i16"},
        },
        scale_factors={"sf": {"address": 4}},
    )
    (block,) = plan_blocks(profile, list(profile.points), scale_factors=["sf"])
    assert block.function is Function.HOLDING and block.count == 5
    decoded = block.decode([*encode(-70000, profile.points["p_w"].type), 5000, 0x8000, 0xFFFE])
    assert decoded.points == {"p_w": -70000, "f_hz": 5000, "q_var": None}  # 0x8000 = i16 not implemented
    assert decoded.scale_factors == {"sf": -2}
    short = block.decode([0, 1, 0x10000])
    assert short.points["p_w"] == 1
    assert short.points["f_hz"] is None and "not a 16-bit word" in short.errors["f_hz"]
    assert short.points["q_var"] is None and "reply has 3 of 5" in short.errors["q_var"]


def test_unknown_point_names_are_refused() -> None:
    profile = meter({"p_w": {"address": 0}})
    with pytest.raises(KeyError, match="no point 'q_var'"):
        plan_blocks(profile, ["q_var"])
