"""PCS mixer: base + response, split by rating, always inside the hard limits."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from zoe_ems.frequency.mixer import PcsMixer


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make() -> tuple[PcsMixer, dict[str, float]]:
    written: dict[str, float] = {}

    def apply(pcs_id: str, setpoints: Mapping[str, float]) -> None:
        written[pcs_id] = setpoints["p_set_w"]

    mixer = PcsMixer({"a": 100_000.0, "b": 50_000.0}, apply)
    return mixer, written


def test_response_is_split_by_rating_and_added_to_the_base() -> None:
    mixer, written = make()
    mixer.set_limits("a", -100_000, 100_000)
    mixer.set_limits("b", -50_000, 50_000)
    mixer.set_base("a", 10_000)
    mixer.set_response(-30_000)
    assert written == {"a": pytest.approx(-10_000), "b": pytest.approx(-10_000)}
    assert mixer.clamped_w == 0.0


def test_hard_limits_win_over_the_response_and_the_cut_is_reported() -> None:
    mixer, written = make()
    mixer.set_limits("a", 0.0, 100_000)  # SOC at soc_min: no discharge
    mixer.set_limits("b", -50_000, 50_000)
    mixer.set_response(-90_000)
    assert written["a"] == 0.0
    assert written["b"] == -50_000  # b takes what a cannot, up to its own limit
    assert mixer.clamped_w == pytest.approx(40_000)


def test_units_never_judged_by_the_envelope_get_zero() -> None:
    mixer, written = make()
    mixer.set_base("a", 40_000)
    mixer.set_response(-10_000)
    assert written == {"a": 0.0, "b": 0.0}


def test_non_finite_response_is_treated_as_zero() -> None:
    mixer, written = make()
    mixer.set_limits("a", -1e5, 1e5)
    mixer.set_limits("b", -5e4, 5e4)
    mixer.set_response(float("nan"))
    assert written == {"a": 0.0, "b": 0.0}


def test_a_full_unit_hands_its_share_to_the_others() -> None:
    written: dict[str, float] = {}
    mixer = PcsMixer({"a": 50_000.0, "b": 50_000.0}, lambda pcs, sp: written.__setitem__(pcs, sp["p_set_w"]))
    mixer.set_limits("a", -50_000, 0.0)  # full: no more charging
    mixer.set_limits("b", -50_000, 50_000)
    mixer.set_response(40_000)
    assert written == {"a": 0.0, "b": 40_000.0}
    assert mixer.clamped_w == pytest.approx(0.0)


def test_grid_headroom_caps_the_response() -> None:
    mixer, written = make()
    mixer.set_limits("a", -100_000, 100_000)
    mixer.set_limits("b", -50_000, 50_000)
    mixer.set_grid_headroom(import_w=15_000, export_w=1e9)
    mixer.set_response(60_000)  # charging would import 60 kW more; the fuse leaves 15 kW
    assert sum(written.values()) == pytest.approx(15_000)
    assert mixer.clamped_w == pytest.approx(45_000)


def test_limits_not_refreshed_by_the_control_loop_expire_to_zero() -> None:
    clock = Clock()
    written: dict[str, float] = {}
    mixer = PcsMixer({"a": 1e5}, lambda pcs, sp: written.__setitem__(pcs, sp["p_set_w"]), clock=clock)
    mixer.set_limits("a", -1e5, 1e5)
    mixer.set_response(-20_000)
    assert written["a"] == -20_000
    clock.t += 5.0  # the control loop stalled
    mixer.set_response(-30_000)
    assert written["a"] == 0.0
