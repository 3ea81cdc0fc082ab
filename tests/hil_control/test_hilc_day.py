"""A simulated 24 h summer day, accelerated: the real drivers over real Modbus sockets and the real ControlEngine
in lock-step with the simulator (one poll of every device, one engine step and the writes per 30 simulated
seconds). The day: a working-day load shape with noise, a heat pump with its thermostat, clear-sky PV larger than
the load, a car arriving at 19:30 that charges at full power ("now"), and a 40 kW machine from 20:30 to 21:00
that pushes the site over its import limit.

Claims: the battery's SOC never leaves [soc_min, soc_max] by more than one step of full-power integration, and
grid import/export never exceed their limits by more than the settling allowance:

    excess at a meter sample ≤ Σ |change of each uncontrolled power since the previous sample| + 1 % of the limit

Uncontrolled powers are what the engine does not command and cannot foresee: the site load, the heat pump's
compressor and heater (its thermostat decides within the SG-Ready state) and the PV power the sun offers (each
counted on its own: with PV curtailed, less sun does not offset a load step). The engine decides on the sample
it has; whatever changed after that sample reaches the grid before the next decision, so one step's change is
the least any controller sampling at that rate must allow. The 1 % covers the 1 W register steps and the
simulated car drawing 95 % of its offer one second late.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from hilc_helpers import StartLockstep, battery, ev_charger, grid_meter, heat_pump, pv_inverter

from simulators.battery import BmsModel
from simulators.ev import EvChargerModel
from simulators.heatpump import HeatPumpModel
from simulators.site import SimulatedSite

TZ = "Europe/Brussels"
MIDNIGHT = datetime(2026, 6, 21, tzinfo=ZoneInfo(TZ)).timestamp()
DT_S = 30.0
IMPORT_LIMIT_W = 40_000.0
EXPORT_LIMIT_W = 5_000.0
SOC_MIN, SOC_MAX = 0.1, 0.9
PCS_W, CAPACITY_WH = 30_000.0, 60_000.0
MACHINE_W = 40_000.0
CONTROL = {"soc_min": SOC_MIN, "soc_max": SOC_MAX}


def working_day(site: SimulatedSite) -> None:
    """Realistic site, but the car arrives at 19:30 (not at midnight) and a machine runs 20:30–21:00."""
    charger = site.models["evse"]
    assert isinstance(charger, EvChargerModel)
    charger.unplug()
    charger.schedule_arrival(19.5 * 3600, 40_000.0)
    site.load.schedule_step(20.5 * 3600, MACHINE_W)
    site.load.schedule_step(21 * 3600, -MACHINE_W)


@dataclass(frozen=True, slots=True)
class Sample:
    hour: float
    grid_w: float
    uncontrolled_w: tuple[float, float, float]
    """Site load, heat pump and the PV power the sun offers (all positive W)."""
    soc: float
    ev_w: float
    battery_w: float


async def test_a_simulated_day_keeps_soc_in_its_window_and_grid_limits_within_the_settling_allowance(
    start_lockstep: StartLockstep,
) -> None:
    harness = await start_lockstep(
        [
            grid_meter(),
            *battery(rated_kw=PCS_W / 1000, capacity_kwh=CAPACITY_WH / 1000),
            pv_inverter(rated_kw=50),
            ev_charger(max_current_a=32),
            heat_pump(rated_kw=5),
        ],
        import_kw=IMPORT_LIMIT_W / 1000,
        export_kw=EXPORT_LIMIT_W / 1000,
        control=CONTROL,
        realistic=True,
        start_wall=MIDNIGHT,
        timezone=TZ,
        prepare=working_day,
    )
    site = harness.site
    bms, hp, pv = site.models["bms"], site.models["heat_pump"], site.pv.inverters[0]
    charger = site.models["evse"]
    assert isinstance(bms, BmsModel) and isinstance(hp, HeatPumpModel) and isinstance(charger, EvChargerModel)

    def uncontrolled() -> tuple[float, float, float]:
        return site.load.p_w, hp.p_w(), pv.available_w()

    samples: list[Sample] = []
    while site.t_s < 24 * 3600:
        hour = site.t_s / 3600
        sample_uncontrolled = uncontrolled()
        await harness.step(DT_S)
        assert harness.snapshot is not None
        grid_w = harness.snapshot.devices["grid_meter"].value("p_w")
        assert grid_w is not None, f"{hour:.3f} h: no fresh grid reading"
        samples.append(
            Sample(
                hour=hour,
                grid_w=grid_w,
                uncontrolled_w=sample_uncontrolled,
                soc=bms.pack.soc,
                ev_w=charger.p_w(),
                battery_w=bms.pack.p_dc_w,
            )
        )

    # The day really happened: the battery cycled, PV was curtailed at noon, the car charged, the peak came.
    socs = [s.soc for s in samples]
    assert max(socs) > SOC_MAX - 0.05 and min(socs) < SOC_MIN + 0.05, f"SOC only {min(socs):.2f}..{max(socs):.2f}"
    assert max(s.ev_w for s in samples) > 15_000
    assert any(w.device_id == "pv" and w.setpoints.get("p_limit_w", 1e9) < 45_000 for w in harness.writes)
    assert max(load + pump for load, pump, _ in (s.uncontrolled_w for s in samples)) > IMPORT_LIMIT_W

    step_soc = PCS_W * DT_S / 3600 / CAPACITY_WH
    assert min(socs) >= SOC_MIN - step_soc, f"SOC fell to {min(socs):.4f}"
    assert max(socs) <= SOC_MAX + step_soc, f"SOC rose to {max(socs):.4f}"

    worst_import = worst_export = 0.0
    for previous, sample in itertools.pairwise(samples):
        allowance = sum(abs(a - b) for a, b in zip(sample.uncontrolled_w, previous.uncontrolled_w, strict=True))
        over_import = sample.grid_w - IMPORT_LIMIT_W
        over_export = -sample.grid_w - EXPORT_LIMIT_W
        assert over_import <= allowance + 0.01 * IMPORT_LIMIT_W, (
            f"{sample.hour:.3f} h: import {sample.grid_w:.0f} W, allowance {allowance:.0f} W ({sample})"
        )
        assert over_export <= allowance + 0.01 * EXPORT_LIMIT_W, (
            f"{sample.hour:.3f} h: export {-sample.grid_w:.0f} W, allowance {allowance:.0f} W ({sample})"
        )
        worst_import = max(worst_import, over_import)
        worst_export = max(worst_export, over_export)
    print(
        f"day: {len(samples)} steps, SOC {min(socs):.3f}..{max(socs):.3f}, worst import over limit "
        f"{worst_import:.0f} W, worst export over limit {worst_export:.0f} W; repeated requests "
        f"{len(harness.read_retries)}"
    )
