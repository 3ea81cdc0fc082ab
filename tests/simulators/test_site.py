"""The site model: which devices are simulated, and the grid meter balance over every flow."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_helpers import basic_site

from drivers.points import sg_ready_relays
from simulators.battery import PcsModel
from simulators.ev import EvChargerModel
from simulators.heatpump import HeatPumpModel
from simulators.meter import MeterModel
from simulators.site import SimulatedSite, is_loopback


def test_only_loopback_and_rtu_devices_are_simulated(tmp_path: Path) -> None:
    site = SimulatedSite.from_config(basic_site(tmp_path, 1502), realistic=False)
    assert set(site.models) == {"grid_meter", "pcs1", "bms1", "pv1", "ev1", "hp1"}
    assert site.skipped == ["remote_meter"]
    assert [is_loopback(h) for h in ("127.0.0.2", "localhost", "::1", "[::1]", "10.0.0.1", "plc.local")] == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]


def test_grid_meter_reports_load_plus_battery_plus_ev_plus_pv_plus_heat_pump_per_phase(tmp_path: Path) -> None:
    site = SimulatedSite.from_config(basic_site(tmp_path, 1502), realistic=False)
    site.load.set_base(30e3)
    site.pv.set_irradiance(1000.0)
    pcs = site.model("pcs1")
    ev = site.model("ev1")
    heat_pump = site.model("hp1")
    assert isinstance(pcs, PcsModel) and isinstance(ev, EvChargerModel) and isinstance(heat_pump, HeatPumpModel)
    pcs.apply({"p_set_w": -20e3})
    ev.plug_in(40e3)
    ev.apply({"i_limit_a": 16.0})
    heat_pump.t_storage_c = 40.0
    relay1, relay2 = sg_ready_relays(4)
    heat_pump.apply({"relay1": float(relay1), "relay2": float(relay2)})
    site.advance(5.0)

    meter = site.model("grid_meter")
    assert isinstance(meter, MeterModel)
    points = meter.points()
    expected = site.load.p_w + pcs.p_w + ev.p_w() + site.pv.p_w() + heat_pump.p_w()
    assert pcs.p_w == pytest.approx(-20e3)
    assert site.pv.p_w() < -25e3
    assert ev.p_w() == pytest.approx(3 * 230 * 16 * 0.95)
    assert heat_pump.p_w() == pytest.approx(8e3)
    assert points["p_w"] == pytest.approx(expected)
    assert points["p_w"] == pytest.approx(site.grid_balance_w())
    per_phase = [points["p_l1_w"], points["p_l2_w"], points["p_l3_w"]]
    assert all(p is not None for p in per_phase)
    assert sum(p for p in per_phase if p is not None) == pytest.approx(expected)
    assert points["f_hz"] == pytest.approx(50.0)
    assert points["e_import_wh"] is not None and points["e_import_wh"] > 0


def test_a_load_step_and_a_frequency_step_reach_the_meter(tmp_path: Path) -> None:
    site = SimulatedSite.from_config(basic_site(tmp_path, 1502), realistic=False)
    site.advance(1.0)
    meter = site.model("grid_meter")
    before = meter.points()["p_w"]
    assert before is not None
    site.load.step(+100e3)
    site.frequency.play_steps([(0.5, 49.6)])
    site.advance(1.0)
    after = meter.points()
    assert after["p_w"] == pytest.approx(before + 100e3)
    assert after["f_hz"] == pytest.approx(49.6)
    assert site.model("pcs1").points()["f_hz"] == pytest.approx(49.6)


def test_pcs_and_its_bms_share_one_battery(tmp_path: Path) -> None:
    site = SimulatedSite.from_config(basic_site(tmp_path, 1502), realistic=False, initial_soc=0.5)
    site.model("pcs1").apply({"p_set_w": 50e3})
    site.advance(60.0)
    soc = site.model("bms1").points()["soc"]
    assert soc is not None and soc > 0.5
    assert site.model("pcs1").points()["soc"] == soc
