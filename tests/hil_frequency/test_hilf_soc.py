"""State-of-energy management against the simulated site: a small battery near soc_min cannot hold FFR, the service
reports itself unavailable with an alarm, recovery charging brings the SOC back and the service becomes available."""

from __future__ import annotations

import pytest
from hilf_helpers import StartFrequencyHil, ffr, wait_until

RECOVERY_KW = 100.0


async def test_hilf_small_battery_near_soc_min_is_unavailable_and_recovers_by_charging(
    start_frequency_hil: StartFrequencyHil,
) -> None:
    # 5 kWh: FFR 100 kW for 5 s + the ramp needs ~208 Wh (4.2 % SOC) above soc_min 0.05.
    hil = await start_frequency_hil(
        {"ffr": ffr(), "soc_min": 0.05, "frequency": {"soc_recovery_kw": RECOVERY_KW}},
        capacity_kwh=5.0,
        initial_soc=0.06,
        wait_available=False,
    )
    await wait_until(lambda: "FREQUENCY_SERVICE_UNAVAILABLE" in hil.alarm_codes(), 5.0, "the unavailable alarm")
    status = hil.frequency_status()
    assert status["available"] is False
    assert "below the service floor" in status["reason"]

    # Recovery charging: requested by the SOE controller, written to the PCS, and the battery actually charges.
    charge = await hil.wait_write(lambda w: w > 0.0, -1.0, 5.0, "a recovery charge setpoint")
    assert charge.p_w == pytest.approx(RECOVERY_KW * 1000.0, rel=0.01)

    def soc() -> float:
        value = hil.site.model("bms").points()["soc"]
        assert isinstance(value, float)
        return value

    soc_start = soc()
    await wait_until(lambda: hil.frequency_status()["available"] is True, 20.0, "the service to become available")
    assert soc() > soc_start
    await wait_until(lambda: "FREQUENCY_SERVICE_UNAVAILABLE" not in hil.alarm_codes(), 3.0, "the alarm to clear")

    # Recovery stops a little above the floor (no endless charging).
    stop = await hil.wait_write(lambda w: w == 0.0, charge.t_mono, 15.0, "the end of the recovery charge")
    assert hil.frequency_status()["available"] is True
    assert hil.writes(stop.t_mono) == [] or all(w.p_w == 0.0 for w in hil.writes(stop.t_mono))
