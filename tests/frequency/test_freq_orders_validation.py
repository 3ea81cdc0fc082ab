"""`frequency_service` orders: validated into service configs (invalid combinations rejected naming the command
field, never crashing the refresh), `min_duration_s` honoured, and a rebuild of the services never resetting an
FFR activation under way."""

from __future__ import annotations

from typing import Any

import pytest

from zoe_ems.config import SiteConfig
from zoe_ems.config.frequency import DcConfig, FcrConfig, FfrConfig
from zoe_ems.frequency.orders import OrderError, ServiceConfigs, ServiceOrder, apply_order, order_problem
from zoe_ems.frequency.responder import FrequencyResponder
from zoe_ems.frequency.services import FfrService, FfrState
from zoe_ems.northbound.frequency_services import FrequencyServiceEntry, FrequencyServiceRegistry
from zoe_ems.runtime.bridges import FrequencyOrders

NOW = 1_800_000_000.0
FFR_W = 100_000.0


def site(control: dict[str, Any]) -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "site": {"id": "orders", "timezone": "UTC", "grid": {"import_limit_kw": 500, "export_limit_kw": 500}},
            "devices": [
                {
                    "id": "pcs",
                    "kind": "pcs",
                    "driver": "zoe_pcs",
                    "rated_power_kw": 400,
                    "transport": {"type": "modbus_tcp", "host": "127.0.0.1", "port": 1502, "unit": 1},
                }
            ],
            "control": control,
            "storage": {"path": "/nonexistent/orders.db"},
        }
    )


class Rig:
    """Site file + registry + responder + FrequencyOrders, as the daemon wires them."""

    def __init__(self, control: dict[str, Any] | None = None) -> None:
        self.config = site(control or {})
        c = self.config.control
        self.responder = FrequencyResponder(ffr=c.ffr, fcr=c.fcr, dc=c.dc, measurement=c.frequency)
        self.registry = FrequencyServiceRegistry()
        self.orders = FrequencyOrders(self.config, self.responder, self.registry)
        self.reserves: list[tuple[float, float]] = []

    def order(self, command_id: str, service: str, power_kw: float = 100.0, **params: Any) -> bool:
        self.registry.set(
            FrequencyServiceEntry(
                order=ServiceOrder(service=service, power_kw=power_kw, **params),  # type: ignore[arg-type]
                enabled=True,
                start_utc=NOW - 10.0,
                end_utc=NOW + 600.0,
                command_id=command_id,
            )
        )
        return self.refresh()

    def refresh(self) -> bool:
        return self.orders.refresh(NOW, lambda charge, discharge: self.reserves.append((charge, discharge)))

    def ffr(self) -> FfrService:
        found = [s for s in self.responder.services if isinstance(s, FfrService)]
        assert len(found) == 1, self.responder.services
        return found[0]

    def p_w(self, f_hz: float, t_mono: float) -> float:
        assert self.responder.on_sample(f_hz, t_mono) is not None, f"sample {f_hz} Hz at {t_mono} s rejected"
        return self.responder.current_p_w(t_mono)


BASE = ServiceConfigs(ffr=FfrConfig(), fcr=FcrConfig(), dc=DcConfig())


# ---- validation: an invalid combination is named, not built --------------------------------------------------


def test_an_ffr_order_with_a_trigger_that_is_no_ffr_level_is_rejected_naming_body_trigger_hz() -> None:
    problem = order_problem(BASE, ServiceOrder(service="ffr", power_kw=10, trigger_hz=49.8))
    assert problem is not None and problem.startswith("body.trigger_hz:"), problem
    assert "49.8" in problem and "49.7, 49.6, 49.5" in problem
    with pytest.raises(OrderError, match=r"body\.trigger_hz"):
        apply_order(BASE, ServiceOrder(service="ffr", power_kw=10, trigger_hz=49.8))


def test_an_ffr_order_with_an_over_trigger_arms_the_mirror_and_one_without_keeps_the_site_setting() -> None:
    mirrored = apply_order(BASE, ServiceOrder(service="ffr", power_kw=10, over_trigger_hz=50.4))
    assert mirrored.ffr.over_frequency and mirrored.ffr.over_trigger_hz == 50.4
    plain = apply_order(BASE, ServiceOrder(service="ffr", power_kw=10))
    assert plain.ffr.over_frequency is False and plain.ffr.over_trigger_hz == BASE.ffr.over_trigger_hz


def test_a_dc_order_whose_full_activation_meets_the_site_knee_is_rejected_naming_the_field() -> None:
    # Alone each value is in range; with the site file's 200 mHz knee the curve would have no second segment.
    problem = order_problem(BASE, ServiceOrder(service="dc", power_kw=10, full_activation_hz=0.2))
    assert problem is not None and problem.startswith("body.full_activation_hz:"), problem
    assert "knee_mhz" in problem and "control.dc" in problem


def test_an_fcr_order_beyond_the_config_ranges_names_the_command_field_in_its_own_units() -> None:
    problem = order_problem(BASE, ServiceOrder(service="fcr", power_kw=10, deadband_hz=0.02))
    assert problem is not None and problem.startswith("body.deadband_hz:"), problem
    assert "deadband_mhz = 20.0" in problem
    assert order_problem(BASE, ServiceOrder(service="fcr", power_kw=10, deadband_hz=0.01)) is None


@pytest.mark.parametrize(("min_duration_s", "support_s"), [(0.5, 5), (5.0, 5), (5.1, 30), (30.0, 30)])
def test_min_duration_picks_the_shortest_ffr_support_that_lasts_that_long(
    min_duration_s: float, support_s: int
) -> None:
    for base_support in (5, 30):
        base = ServiceConfigs(ffr=FfrConfig(support_s=base_support), fcr=FcrConfig(), dc=DcConfig())
        ordered = apply_order(base, ServiceOrder(service="ffr", power_kw=10, min_duration_s=min_duration_s))
        assert ordered.ffr.support_s == support_s


def test_min_duration_beyond_the_longest_ffr_support_is_rejected_naming_body_min_duration_s() -> None:
    problem = order_problem(BASE, ServiceOrder(service="ffr", power_kw=10, min_duration_s=31))
    assert problem is not None and problem.startswith("body.min_duration_s = 31 s"), problem


def test_droop_orders_set_deadband_and_full_activation_of_fcr_and_dc_in_mhz() -> None:
    fcr = apply_order(BASE, ServiceOrder(service="fcr", power_kw=20, deadband_hz=0.01, full_activation_hz=0.1)).fcr
    assert (fcr.enabled, fcr.power_kw, fcr.deadband_mhz, fcr.full_activation_mhz) == (True, 20.0, 10.0, 100.0)
    dc = apply_order(BASE, ServiceOrder(service="dc", power_kw=30, deadband_hz=0.015, full_activation_hz=0.4)).dc
    assert (dc.low_power_kw, dc.high_power_kw, dc.deadband_mhz, dc.full_activation_mhz) == (30.0, 30.0, 15.0, 400.0)


# ---- the runtime bridge ----------------------------------------------------------------------------------------


def test_refresh_skips_an_invalid_order_keeps_the_site_settings_and_reports_the_field() -> None:
    rig = Rig({"ffr": {"enabled": True, "trigger_hz": 49.6, "power_kw": 50}})
    assert rig.order("c-bad", "ffr", trigger_hz=49.8)  # bypasses the command validator: must not crash
    assert "body.trigger_hz" in rig.orders.problems["c-bad"]
    ffr = rig.responder.ffr
    assert (ffr.trigger_hz, ffr.power_kw, ffr.full_activation_s) == (49.6, 50.0, 1.0)
    assert rig.reserves[-1] == (0.0, 50_000.0)
    assert rig.p_w(49.65, 0.0) == 0.0 and rig.p_w(49.6, 0.05) == -50_000.0  # the site file's trigger still works

    assert rig.order("c-bad-dc", "dc", power_kw=10, full_activation_hz=0.2)
    assert "body.full_activation_hz" in rig.orders.problems["c-bad-dc"]
    assert not rig.responder.dc.enabled


def test_refresh_honours_min_duration_of_an_ffr_order() -> None:
    rig = Rig({"ffr": {"enabled": False, "support_s": 30}})
    assert rig.order("c-1", "ffr", power_kw=100, trigger_hz=49.5, min_duration_s=5)
    assert rig.orders.problems == {}
    assert (rig.responder.ffr.support_s, rig.responder.ffr.trigger_hz) == (5, 49.5)
    assert rig.p_w(49.5, 0.0) == -FFR_W
    assert rig.p_w(49.5, 7.5) == pytest.approx(-FFR_W / 2)  # the 5 s support, then the 20 %/s ramp


def test_an_order_for_another_service_does_not_reset_an_ffr_hold_under_way() -> None:
    rig = Rig({"ffr": {"enabled": True, "power_kw": 100, "support_s": 5, "rearm_delay_s": 60}})
    assert rig.p_w(49.65, 0.0) == -FFR_W
    assert rig.p_w(49.8, 1.0) == -FFR_W  # frequency recovered: held anyway

    assert rig.order("c-fcr", "fcr", power_kw=10)  # the services are rebuilt
    assert rig.ffr().state is FfrState.ACTIVE
    assert rig.p_w(50.0, 2.0) == -FFR_W  # still the hold of the activation at t = 0
    assert rig.p_w(50.0, 7.5) == pytest.approx(-FFR_W / 2)  # ramp from t = 5 s, not from the rebuild
    assert rig.p_w(50.0, 10.0) == 0.0
    assert rig.ffr().state is FfrState.RECOVERING

    # The re-arm delay survives a rebuild too: an order ending must not re-arm the FFR early.
    rig.registry.remove("fcr", "c-fcr")
    assert rig.refresh()
    assert rig.p_w(49.6, 20.0) == 0.0
    assert rig.ffr().state is FfrState.RECOVERING and rig.ffr().activations == 1


def test_a_new_ffr_order_with_other_parameters_takes_over_the_running_activation() -> None:
    rig = Rig({"ffr": {"enabled": True, "power_kw": 100, "support_s": 30}})
    assert rig.p_w(49.6, 0.0) == -FFR_W
    assert rig.order("c-ffr", "ffr", power_kw=150)
    assert rig.p_w(50.0, 10.0) == -150_000.0  # still held (30 s from t = 0), at the new power
    assert rig.p_w(50.0, 30.0) == 0.0
    assert rig.ffr().activations == 1


def test_refresh_keeps_the_same_service_objects_when_nothing_changed_for_them() -> None:
    rig = Rig({"ffr": {"enabled": True, "power_kw": 100}, "fcr": {"enabled": True, "power_kw": 10}})
    before = list(rig.responder.services)
    assert rig.order("c-dc", "dc", power_kw=20)
    assert rig.responder.services[:2] == before and [s.name for s in rig.responder.services] == ["ffr", "fcr", "dc"]
