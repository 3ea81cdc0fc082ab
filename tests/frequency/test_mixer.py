"""PCS mixer: base + response, split by rating, always inside the hard limits."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from zoe_ems.frequency.mixer import PcsMixer


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
    assert written["b"] == -30_000
    assert mixer.clamped_w == pytest.approx(60_000)


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
