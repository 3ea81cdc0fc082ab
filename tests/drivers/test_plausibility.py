"""Plausibility limits of the catalogue points: what no healthy device can report."""

from __future__ import annotations

import math

import pytest

from drivers.plausibility import ABSOLUTE_POWER_W, LIMITS, implausible
from drivers.points import CATALOGUE, DeviceKind


def test_every_catalogue_point_has_a_limit() -> None:
    for kind, points in CATALOGUE.items():
        assert set(LIMITS[kind]) == set(points)


@pytest.mark.parametrize(
    ("kind", "name", "value"),
    [
        (DeviceKind.BMS, "soc", 2.5),
        (DeviceKind.BMS, "soc", -0.5),
        (DeviceKind.PCS, "soc", 1.5),
        (DeviceKind.METER, "f_hz", 0.0),
        (DeviceKind.METER, "f_hz", 70.0),
        (DeviceKind.METER, "u_l1_v", -5.0),
        (DeviceKind.METER, "u_l1_v", 65_535.0),
        (DeviceKind.METER, "p_w", 1e9),
        (DeviceKind.METER, "p_w", math.nan),
        (DeviceKind.PCS, "p_w", math.inf),
        (DeviceKind.BMS, "t_c", 500.0),
        (DeviceKind.METER, "e_import_wh", -1.0),
    ],
)
def test_implausible_readings_are_named(kind: DeviceKind, name: str, value: float) -> None:
    assert implausible(kind, name, value) is not None


@pytest.mark.parametrize(
    ("kind", "name", "value"),
    [
        (DeviceKind.BMS, "soc", 0.0),
        (DeviceKind.BMS, "soc", 1.01),
        (DeviceKind.METER, "f_hz", 49.9),
        (DeviceKind.METER, "u_l1_v", 231.0),
        (DeviceKind.METER, "p_w", -250_000.0),
        (DeviceKind.PCS, "state", 3),
        (DeviceKind.BMS, "u_v", 800.0),
        (DeviceKind.BMS, "soc", None),
    ],
)
def test_plausible_readings_pass(kind: DeviceKind, name: str, value: float | None) -> None:
    assert implausible(kind, name, value) is None


def test_powers_scale_with_the_rating_when_it_is_known() -> None:
    assert implausible(DeviceKind.PCS, "p_w", -400_000.0, rated_w=250_000.0) is None
    reason = implausible(DeviceKind.PCS, "p_w", -600_000.0, rated_w=250_000.0)
    assert reason is not None and "rating" in reason
    assert implausible(DeviceKind.PCS, "p_w", -600_000.0) is None, "no rating: only the absolute bound"
    assert implausible(DeviceKind.PCS, "p_w", 2 * ABSOLUTE_POWER_W) is not None
    assert implausible(DeviceKind.PV_INVERTER, "p_limit_w", 1e6, rated_w=20_000.0) is not None


def test_soc_spike_filter_compares_with_the_previous_reading() -> None:
    assert implausible(DeviceKind.BMS, "soc", 0.9, previous=(0.5, 100.0), now_s=101.0) is not None
    assert implausible(DeviceKind.BMS, "soc", 0.52, previous=(0.5, 100.0), now_s=101.0) is None
    assert implausible(DeviceKind.BMS, "soc", 0.9, previous=(0.5, 100.0), now_s=200.0) is None, "after a gap"
