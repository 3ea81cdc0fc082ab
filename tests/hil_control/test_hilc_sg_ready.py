"""SG-Ready against the simulators: with the sky flipping between full sun and none every 0.4 s, the heat pump's
wish flips between "recommend on" (PV surplus) and "normal" at the same pace, yet the relays the simulated heat
pump receives change state no faster than the configured minimum interval (2 s here; the config allows any
value ≥ 0, the default is 300 s).

Spacing is checked twice: exactly on the engine's decisions (its own clock), and on the simulator's write log
(arrival of each relay write that changed the state). A write waits for the device's bus after the decision, so
two arrivals may be closer than their decisions by the difference of two bus latencies: one control cycle
(200 ms) is allowed for that on a loaded machine. Every decided change reaches the heat pump exactly once.
"""

from __future__ import annotations

import itertools

from hilc_helpers import ControlHil, StartControlHil, grid_meter, heat_pump, pv_inverter, sg_state_changes, wait_until

from drivers.points import sg_ready_state
from simulators.site import SimulatedSite
from simulators.trace import Trace

MIN_INTERVAL_S = 2.0
LATENCY_S = 0.2
FLIP_S = 0.4
CONTROL = {"cycle_ms": 200, "sg_ready": {"min_switch_interval_s": MIN_INTERVAL_S, "recommend_surplus_kw": 2.0}}


def decided_changes(hil: ControlHil) -> list[tuple[float, int]]:
    """``(decision time, new state)`` for every change of the SG-Ready state the engine decided."""
    changes: list[tuple[float, int]] = []
    state = 2
    for t, decision in hil.engine.decisions:
        relays = decision.setpoints.get("heat_pump")
        if relays is None:
            continue
        new = sg_ready_state(relays["relay1"] > 0.5, relays["relay2"] > 0.5)
        if new != state:
            changes.append((t, new))
            state = new
    return changes


def flickering_sun(site: SimulatedSite) -> None:
    site.load.set_base(2_000.0)
    # The inverter follows the sky at once: with its default 1 s ramp, 0.4 s flips leave a PV swing whose level
    # drifts with the timing (e.g. 7-20 kW), and with the pump on, the dark half could still look like surplus.
    site.pv.inverters[0].ramp_w_per_s = 1e9
    sky = [(0.0, 0.0), (FLIP_S - 0.01, 0.0), (FLIP_S, 600.0), (2 * FLIP_S - 0.01, 600.0), (2 * FLIP_S, 0.0)]
    site.irradiance.play_trace(Trace.from_points(sky, loop=True))


async def test_sg_ready_never_switches_faster_than_its_minimum_interval_under_a_flickering_surplus(
    start_control_hil: StartControlHil,
) -> None:
    hil = await start_control_hil(
        [grid_meter(poll_ms=100), pv_inverter(rated_kw=30, poll_ms=100), heat_pump(poll_ms=100)],
        import_kw=100,
        export_kw=50,
        control=CONTROL,
        prepare=flickering_sun,
    )
    try:
        await wait_until(lambda: len(sg_state_changes(hil.site, "heat_pump")) >= 4, 30.0, "4 SG-Ready state changes")
    except AssertionError:
        last = [decision.to_dict() for _t, decision in hil.engine.decisions[-3:]]
        status = hil.daemon.status()
        raise AssertionError(
            f"SG-Ready changes {sg_state_changes(hil.site, 'heat_pump')}; decided {decided_changes(hil)};"
            f" heat-pump writes {hil.site.write_log('heat_pump')[-4:]}; links {status['links']};"
            f" devices {status['devices']}; tasks {status['tasks']};"
            f" last meter samples {hil.meter[-5:]}; last decisions {last}"
        ) from None

    decided = decided_changes(hil)
    decided_gaps = [b[0] - a[0] for a, b in itertools.pairwise(decided)]
    assert min(decided_gaps) >= MIN_INTERVAL_S, f"engine switched after {min(decided_gaps):.3f} s: {decided_gaps}"
    changes = sg_state_changes(hil.site, "heat_pump")
    assert [state for _t, state in changes] == [state for _t, state in decided][: len(changes)]
    assert len(decided) - len(changes) <= 1, "a decided change never reached the heat pump"
    states = [state for _t, state in changes]
    assert set(states) == {2, 3}, f"expected normal ↔ recommend, got {states}"
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(changes)]
    assert min(gaps) >= MIN_INTERVAL_S - LATENCY_S, f"relay state changed after {min(gaps):.3f} s: gaps {gaps}"
    # The wish flipped far more often than the relays: the guard, not a calm sky, set the pace.
    window = [s for s in hil.meter if changes[0][0] <= s.t_mono <= changes[-1][0]]
    flips = sum(1 for a, b in itertools.pairwise(window) if (a.p_w < 0) != (b.p_w < 0))
    assert flips >= 2 * len(gaps), f"only {flips} sun flips for {len(gaps)} switches"
    print(
        f"SG-Ready: decided gaps {[round(g, 3) for g in decided_gaps]} s, arrival gaps {[round(g, 3) for g in gaps]} s;"
        f" {flips} sun flips in that time"
    )
