"""Telemetry carries the live values of the simulated site, and a `frequency_service` order arms FCR in
the running daemon so that a frequency step in the simulator produces the droop response on the PCS."""

from __future__ import annotations

import time
from typing import Any

from e2e_helpers import BMS, KEY, PCS, StartE2e, command

from zoe_ems.northbound.signing import verify
from zoe_ems.northbound.timefmt import iso_utc


async def test_telemetry_packets_carry_the_simulated_grid_battery_and_soc(start_e2e: StartE2e) -> None:
    e2e = await start_e2e(
        load_kw=30.0, control={"self_consumption": {"enabled": False}}, northbound={"response_interval_s": 1}
    )
    order = command("setpoint", {"target": "battery", "p_kw": -12.0})
    await e2e.send(order)
    await e2e.ack(order["id"], "accepted")
    await e2e.steady(lambda: abs(e2e.model_point(PCS, "p_w") + 12_000.0) < 100.0, "the PCS to deliver -12 kW")
    await e2e.quiet_period(cycles=2, polls=3)  # the process image has caught up with the steady site
    steady_from = iso_utc(time.time())
    count = len(e2e.recorder.on("telemetry"))

    def fresh_packets() -> list[dict[str, Any]]:
        return [p for p in e2e.recorder.on("telemetry")[count:] if p["ts"] >= steady_from]

    await e2e.steady(lambda: len(fresh_packets()) >= 2, "two telemetry packets of the steady site", timeout_s=5.0)
    packet = fresh_packets()[-1]
    data = packet["data"]
    assert verify(packet, KEY), "telemetry is signed with the site key"
    assert packet["site_id"] == "e2e-site" and packet["historical"] is False
    seqs = [p["seq"] for p in e2e.recorder.on("telemetry")]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"seq increases by one: {seqs}"

    assert abs(data["grid_kw"] - e2e.grid_w() / 1000.0) < 0.3, (data, e2e.grid_w())
    assert abs(data["grid_kw"] - 18.0) < 0.3, "30 kW load minus 12 kW discharge"
    assert abs(data["battery_kw"] - e2e.model_point(PCS, "p_w") / 1000.0) < 0.3, data
    assert abs(data["soc"] - e2e.model_point(BMS, "soc")) < 0.002, (data["soc"], e2e.model_point(BMS, "soc"))
    assert abs(data["frequency_hz"] - 50.0) < 0.01, data
    assert data["mode"] == "auto" and data["active_command_id"] == order["id"]
    assert data["response_status"] == "responding"

    def dispatch_reports() -> list[dict[str, Any]]:
        return [r for r in e2e.recorder.on("response") if r.get("data", {}).get("command_id") == order["id"]]

    await e2e.steady(lambda: any(r["ts"] >= steady_from for r in dispatch_reports()), "a dispatch response packet")
    report = next(r for r in dispatch_reports() if r["ts"] >= steady_from)["data"]
    assert report["target_kw"] == -12.0 and abs(report["current_kw"] + 12.0) < 0.3, report


async def test_frequency_service_command_arms_fcr_and_a_frequency_step_moves_the_pcs(start_e2e: StartE2e) -> None:
    e2e = await start_e2e(load_kw=0.0)
    daemon = e2e.daemon
    assert daemon.status()["frequency"] is None, "no frequency service in the site file"
    await e2e.pcs_settles(0.0, tol_w=100.0)

    now = time.time()
    order = command(
        "frequency_service",
        {"service": "fcr", "enabled": True, "power_kw": 20.0, "start": iso_utc(now - 1), "end": iso_utc(now + 600)},
    )
    await e2e.send(order)
    await e2e.ack(order["id"], "accepted")

    def fcr_armed() -> bool:
        frequency = daemon.status()["frequency"]
        return (
            frequency is not None
            and frequency["samples"] > 5
            and any(s["name"] == "fcr" for s in frequency["services"])
        )

    await e2e.steady(fcr_armed, "FCR armed and the fast path sampling the grid meter")
    since = time.monotonic()
    e2e.site.frequency.set(49.9)  # -100 mHz: half of the 200 mHz full-activation deviation
    await e2e.pcs_reaches(-10_000.0, tol_w=500.0, since=since)
    frequency = daemon.status()["frequency"]
    assert abs(frequency["response_w"] + 10_000.0) < 500.0, frequency
    # The slow loop's state-of-energy manager knows the ordered service (20 kW for 15 min fits at 50 % SOC).
    assert frequency["available"] is True, frequency
    await e2e.steady(lambda: abs(e2e.model_point(PCS, "p_w") + 10_000.0) < 500.0, "the PCS to discharge 10 kW")

    recovered = time.monotonic()
    e2e.site.frequency.set(50.0)
    await e2e.pcs_reaches(0.0, tol_w=500.0, since=recovered)
