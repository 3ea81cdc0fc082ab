"""Zero export against the simulators: with the battery full, a PV ramp from no sun to full sun never pushes
export above the limit by more than 1 % of the PV rating once the first curtailment has settled; PV is
curtailed through the inverter's power limit.

Tolerance: the export limit is 0 kW, so "limit + 1 %" is taken as 1 % of the PV inverter rating (300 W of
30 kW). Settling: the first export is unavoidable — nobody can curtail before the meter has seen PV overtake
the load — so samples count from the third control cycle after the first meter sample that shows export
(the same 3-cycle allowance as peak shaving). Timing: meter and PV polled every 100 ms, cycle 200 ms; the
simulated inverter applies a lower limit at once. Ramp: 0 → 1000 W/m² in 12 s (the 30 kW inverter, DC ratio
1.1, reaches its rating after ~11 s: about 2.75 kW/s).

Self-consumption is off so the full battery idles and the export limit is held by curtailment alone. Known
limitation: with self-consumption on, the battery discharges to cover the load while PV ramps up; its target
(0 W) equals the zero-export limit with no margin, so the loop's lag exports ramp rate × latency (measured about
0.8 kW with this ramp) until PV overtakes the load; test_hilc_zero_export_self_consumption.py shows the
documented remedy (an import margin on self-consumption and the export limit).
"""

from __future__ import annotations

from hilc_helpers import StartControlHil, accepted, battery, grid_meter, pv_inverter, wait_until

from simulators.site import SimulatedSite
from simulators.trace import Trace

PV_RATED_W = 30_000.0
LOAD_W = 8_000.0
SOC_MAX = 0.9
RAMP_S = 12.0
TOLERANCE_W = 0.01 * PV_RATED_W
CONTROL = {"cycle_ms": 200, "soc_max": SOC_MAX, "self_consumption": {"enabled": False}}


def small_load_no_sun(site: SimulatedSite) -> None:
    site.load.set_base(LOAD_W)
    site.pv.set_irradiance(0.0)


async def test_zero_export_holds_through_a_pv_ramp_with_a_full_battery_by_curtailing_pv(
    start_control_hil: StartControlHil,
) -> None:
    hil = await start_control_hil(
        [grid_meter(poll_ms=100), *battery(rated_kw=50, capacity_kwh=100), pv_inverter(rated_kw=30, poll_ms=100)],
        import_kw=100,
        export_kw=0,
        control=CONTROL,
        initial_soc=SOC_MAX,
        prepare=small_load_no_sun,
    )
    await wait_until(
        lambda: hil.mode() == "normal" and hil.setpoint("pv", "p_limit_w") == PV_RATED_W,
        10.0,
        "normal mode with PV uncurtailed",
    )
    ramp_start = len(hil.meter)
    hil.site.irradiance.play_trace(Trace.from_points([(0.0, 0.0), (RAMP_S, 1000.0)]))
    await wait_until(
        lambda: hil.site.pv.inverters[0].available_w() >= PV_RATED_W and hil.cycles >= hil.meter[-1].cycles,
        RAMP_S + 10.0,
        "the PV ramp to reach full power",
    )
    full_sun_cycles = hil.cycles
    await wait_until(lambda: hil.cycles >= full_sun_cycles + 10, 5.0, "2 s at full sun")

    samples = hil.meter[ramp_start:]
    first_export = next((s for s in samples if s.p_w < 0.0), None)
    assert first_export is not None, "PV never overtook the load: the ramp did not happen"
    settled = [s for s in samples if s.cycles >= first_export.cycles + 3]
    worst_export_w = max(-s.p_w for s in settled)
    worst_transient_w = max(-s.p_w for s in samples)
    assert len(settled) > 50, f"too few settled samples ({len(settled)})"
    trace = [(round(s.p_w), s.cycles - first_export.cycles) for s in samples if s.p_w < 0]
    assert worst_export_w <= TOLERANCE_W, f"export {worst_export_w:.0f} W after settling; exports (W, cycles): {trace}"
    # The battery could not absorb it (full) and was never asked to charge: PV was curtailed.
    assert all(value <= 0.0 for _t, value in accepted(hil.site, "pcs", "p_set_w"))
    limits = [value for _t, value in accepted(hil.site, "pv", "p_limit_w")]
    assert min(limits) <= LOAD_W + TOLERANCE_W, f"PV never curtailed to about the load: limits {limits[-5:]}"
    inverter = hil.site.pv.inverters[0]
    assert inverter.available_w() >= PV_RATED_W * 0.99
    assert abs(-inverter.p_w - LOAD_W) <= TOLERANCE_W, f"PV produces {-inverter.p_w:.0f} W for a {LOAD_W:.0f} W load"
    print(
        f"zero export: worst export after settling {worst_export_w:.0f} W, at the first crossing "
        f"{worst_transient_w:.0f} W; {len(settled)} settled samples; final PV limit {limits[-1]:.0f} W"
    )
