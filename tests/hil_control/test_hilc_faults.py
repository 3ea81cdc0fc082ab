"""Fault tests end-to-end: the real daemon (real ControlEngine) against simulators into which faults are injected.
Each fault leads to the documented safe behaviour (docs/control.md, "Fail-safe defaults") and an alarm in
``daemon.status()``, and the control loop keeps running.

Site: grid meter and PCS polled every 100 ms, BMS every 200 ms, control cycle 200 ms, device timeouts 200 ms
without retries; a 20 kW load that self-consumption covers by discharging the battery.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hilc_helpers import ControlHil, StartControlHil, accepted, battery, grid_meter, pv_inverter, wait_until

from simulators.battery import BmsModel, PcsModel
from simulators.faults import WriteRecord
from simulators.site import SimulatedSite
from zoe_ems.control import Proposal
from zoe_ems.control.controllers.base import Context, Controller

LOAD_W = 20_000.0
EXPORT_LIMIT_W = 5_000.0
PV_RATED_W = 30_000.0
CONTROL = {"cycle_ms": 200}


def devices(*, pcs_refresh_s: float = 10.0) -> list[dict[str, object]]:
    pcs, bms = battery(rated_kw=50, capacity_kwh=100)
    pcs["setpoint_refresh_s"] = pcs_refresh_s
    return [grid_meter(poll_ms=100), pcs, bms, pv_inverter(rated_kw=PV_RATED_W / 1000, poll_ms=100)]


def load(watts: float, sun_w_per_m2: float = 0.0) -> Callable[[SimulatedSite], None]:
    def prepare(site: SimulatedSite) -> None:
        site.load.set_base(watts)
        site.pv.set_irradiance(sun_w_per_m2)

    return prepare


def pcs_command_w(hil: ControlHil, record: WriteRecord) -> float:
    """The PCS power setpoint (passive sign) a write carried, decoded even when the silent device refused it."""
    decoded = hil.site.server.device("pcs").register_map.decode_write(record.function, record.address, record.values)
    return decoded["p_set_w"]


def pcs_model(hil: ControlHil) -> PcsModel:
    model = hil.site.models["pcs"]
    assert isinstance(model, PcsModel)
    return model


async def discharging_steadily(hil: ControlHil, watts: float, *, alarms: bool = False) -> None:
    """Normal mode, battery discharging ``watts`` (self-consumption), its PCS reading settled, then 3 more cycles.

    Settled means the engine's inputs agree with each other before a fault is injected: a PCS reading taken
    mid-ramp and a newer meter reading give a wrong base-load estimate and a spurious command (see the report).
    """

    def steady() -> bool:
        measured = hil.measured("pcs", "p_w")
        return (
            hil.mode() == "normal"
            and abs(pcs_model(hil).p_w + watts) < 200.0
            and measured is not None
            and abs(measured + watts) < 200.0
            and (alarms or not hil.alarm_codes())
        )

    await wait_until(steady, 10.0, f"the battery discharging {watts:.0f} W in normal mode")
    cycles = hil.cycles
    await wait_until(lambda: hil.cycles >= cycles + 3, 5.0, "3 more control cycles")


async def test_grid_meter_silent_battery_to_zero_pv_capped_to_the_export_limit_alarm_and_loop_goes_on(
    start_control_hil: StartControlHil,
) -> None:
    # 30 kW load, 800 W/m² sun (26.4 kW PV): the battery covers the 3.6 kW rest.
    hil = await start_control_hil(
        devices(), import_kw=100, export_kw=EXPORT_LIMIT_W / 1000, control=CONTROL, prepare=load(30_000.0, 800.0)
    )
    await discharging_steadily(hil, 30_000.0 - 26_400.0)

    injected = time.monotonic()
    hil.site.set_fault("grid_meter", no_response=True)
    await wait_until(lambda: "GRID_METER_STALE" in hil.alarm_codes(), 5.0, "the GRID_METER_STALE alarm")
    assert hil.mode() == "failsafe"
    alarmed = hil.first_alarm("GRID_METER_STALE", injected)
    cycles = hil.cycles
    await wait_until(
        lambda: abs(pcs_model(hil).p_w) < 1.0 and hil.site.pv.inverters[0].limit_w() <= EXPORT_LIMIT_W,
        5.0,
        "battery at zero and PV capped in the simulator",
    )
    assert hil.setpoint("pcs", "p_set_w") == 0.0
    assert (pv_limit := hil.setpoint("pv", "p_limit_w")) is not None and pv_limit <= EXPORT_LIMIT_W
    # Whatever the load does now, the export limit holds: the whole load goes away.
    hil.site.load.set_base(0.0)
    await wait_until(lambda: hil.site.load.p_w == 0.0, 2.0, "the load to drop")
    await wait_until(lambda: hil.cycles >= cycles + 10, 5.0, "10 more control cycles in fail-safe")
    assert hil.site.grid_balance_w() >= -EXPORT_LIMIT_W - 0.01 * EXPORT_LIMIT_W
    assert "GRID_METER_STALE" in hil.alarm_codes() and hil.mode() == "failsafe"
    for decision in hil.decisions_since(alarmed):
        assert decision.record.mode == "failsafe"
        assert decision.setpoints["pcs"] == {"p_set_w": 0.0}
        assert decision.setpoints["pv"]["p_limit_w"] <= EXPORT_LIMIT_W
    assert hil.daemon.supervisor.to_dict()["control"] == {"running": True, "restarts": 0, "last_error": None}

    hil.site.clear_faults("grid_meter")
    await wait_until(lambda: hil.mode() == "normal" and "GRID_METER_STALE" not in hil.alarm_codes(), 5.0, "recovery")


async def test_pcs_silent_no_discharge_command_alarm_and_loop_goes_on(start_control_hil: StartControlHil) -> None:
    # Setpoints are re-asserted every 60 s here, so no periodic refresh falls into the outage (the next test shows
    # what a refresh does during an outage).
    hil = await start_control_hil(
        devices(pcs_refresh_s=60.0),
        import_kw=100,
        export_kw=EXPORT_LIMIT_W / 1000,
        control=CONTROL,
        prepare=load(LOAD_W),
    )
    await discharging_steadily(hil, LOAD_W)

    writes_before = len(hil.site.write_log("pcs"))
    injected = time.monotonic()
    hil.site.set_fault("pcs", no_response=True)
    await wait_until(lambda: "PCS_OFFLINE" in hil.alarm_codes(), 5.0, "the PCS_OFFLINE alarm")
    alarmed = hil.first_alarm("PCS_OFFLINE", injected)
    cycles = hil.cycles
    await wait_until(lambda: hil.cycles >= cycles + 15, 6.0, "15 more control cycles")
    for decision in hil.decisions_since(alarmed):
        assert "pcs" not in decision.setpoints, f"the engine commanded the unreachable PCS: {decision.setpoints}"
        assert "PCS_OFFLINE" in {alarm.code for alarm in decision.alarms}
    # While the fault was being detected the engine may still have sent a stop (0 W, when the PCS reading aged
    # out before the poll timed out); a discharge command must never go out.
    sent = [pcs_command_w(hil, record) for record in hil.site.write_log("pcs")[writes_before:]]
    assert all(value >= 0.0 for value in sent), f"discharge commands sent to the silent PCS: {sent}"
    assert "PCS_OFFLINE" in hil.alarm_codes() and hil.mode() == "normal"

    hil.site.clear_faults("pcs")
    await discharging_steadily(hil, LOAD_W)


async def test_no_stale_discharge_command_is_re_asserted_to_a_silent_pcs(start_control_hil: StartControlHil) -> None:
    hil = await start_control_hil(
        devices(pcs_refresh_s=1.0),
        import_kw=100,
        export_kw=EXPORT_LIMIT_W / 1000,
        control=CONTROL,
        prepare=load(LOAD_W),
    )
    await discharging_steadily(hil, LOAD_W)

    writes_before = len(hil.site.write_log("pcs"))
    injected = time.monotonic()
    hil.site.set_fault("pcs", no_response=True)
    await wait_until(lambda: "PCS_OFFLINE" in hil.alarm_codes(), 5.0, "the PCS_OFFLINE alarm")
    alarmed = hil.first_alarm("PCS_OFFLINE", injected)
    await wait_until(lambda: time.monotonic() >= alarmed + 3.0, 5.0, "3 s of outage (3 refresh periods)")
    sent = [r for r in hil.site.write_log("pcs")[writes_before:] if r.t_mono > alarmed]
    # The engine's answer to PCS_OFFLINE is a stop (0 W) command, which may race the alarm by one write; the
    # old discharge must never be re-asserted, and the dead device is not hammered every refresh period.
    discharges = [r for r in sent if any(word != 0 for word in r.values)]
    assert discharges == [], f"{len(discharges)} discharge writes reached the silent PCS: {discharges[:2]}"
    assert len(sent) <= 1, f"{len(sent)} writes reached the silent PCS after the alarm: {sent[:3]}"


async def test_bms_alarm_no_discharge_command_alarm_and_loop_goes_on(start_control_hil: StartControlHil) -> None:
    hil = await start_control_hil(
        devices(), import_kw=100, export_kw=EXPORT_LIMIT_W / 1000, control=CONTROL, prepare=load(LOAD_W)
    )
    await discharging_steadily(hil, LOAD_W)

    bms = hil.site.models["bms"]
    assert isinstance(bms, BmsModel)
    injected = time.monotonic()
    bms.pack.params.soc_low_alarm = 0.6  # at SOC 0.5 the BMS now reports its "SOC low" alarm bit
    assert bms.points()["alarm"] == 2.0 and (bms.points()["p_max_discharge_w"] or 0.0) > LOAD_W  # limits intact
    await wait_until(lambda: "BMS_ALARM" in hil.alarm_codes(), 5.0, "the BMS_ALARM alarm")
    alarmed = hil.first_alarm("BMS_ALARM", injected)
    await wait_until(lambda: abs(pcs_model(hil).p_w) < 1.0, 5.0, "the battery to stop discharging")
    cycles = hil.cycles
    await wait_until(lambda: hil.cycles >= cycles + 10, 5.0, "10 more control cycles")
    for decision in hil.decisions_since(alarmed):
        assert decision.setpoints["pcs"] == {"p_set_w": 0.0}
        assert any(a.code == "BMS_ALARM" and a.severity == "critical" for a in decision.alarms)
    after_alarm = [v for _t, v in accepted(hil.site, "pcs", "p_set_w", alarmed)]
    assert after_alarm and set(after_alarm) == {0.0}, f"PCS commands after the BMS alarm: {after_alarm}"
    assert "BMS_ALARM" in hil.alarm_codes()


class Exploding(Controller):
    """A controller with a bug: raises every cycle once armed."""

    name = "exploding"
    priority = 200

    def __init__(self) -> None:
        self.armed = False
        self.calls = 0

    def propose(self, ctx: Context) -> list[Proposal]:
        self.calls += 1
        if self.armed:
            raise RuntimeError("bug in a controller")
        return []


async def test_a_raising_controller_is_skipped_with_an_alarm_and_the_loop_and_the_others_go_on(
    start_control_hil: StartControlHil,
) -> None:
    exploding = Exploding()
    hil = await start_control_hil(
        devices(),
        import_kw=100,
        export_kw=EXPORT_LIMIT_W / 1000,
        control=CONTROL,
        prepare=load(LOAD_W),
        extra_controllers=[exploding],
    )
    await discharging_steadily(hil, LOAD_W)

    exploding.armed = True
    await wait_until(lambda: "CONTROLLER_FAILED" in hil.alarm_codes(), 5.0, "the CONTROLLER_FAILED alarm")
    cycles, calls = hil.cycles, exploding.calls
    hil.site.load.step(10_000.0)  # the others still react: self-consumption covers the new load
    await discharging_steadily(hil, LOAD_W + 10_000.0, alarms=True)
    await wait_until(lambda: hil.cycles >= cycles + 10, 5.0, "10 more control cycles")
    assert exploding.calls >= calls + 10, "the failing controller is no longer tried each cycle"
    status = hil.daemon.status()
    statuses = {c["name"]: c["status"] for c in status["control"]["decision"]["record"]["controllers"]}
    assert statuses["exploding"] == "failed" and statuses["self_consumption"] == "ok", statuses
    assert status["tasks"]["control"]["restarts"] == 0
