"""Slow-class points (ratings, charge/discharge limits) are read every 10th poll; between their reads they must
stay FRESH, for SunSpec devices as for profile devices (issue 10 item 4: stale limits became "unlimited")."""

from __future__ import annotations

import asyncio
import time

from hil_helpers import StartHil, free_ports, tcp, wait_until

from zoe_ems.site.points import Quality

POLL_MS = 100
SLOW = ("p_max_charge_w", "p_max_discharge_w", "rated_p_w")


async def test_slow_points_of_sunspec_and_profile_devices_stay_fresh_between_their_reads(start_hil: StartHil) -> None:
    meter_port, sunspec_port, profile_port = free_ports(3)
    devices: list[dict[str, object]] = [
        {
            "id": "grid_meter",
            "kind": "meter",
            "role": "grid",
            "driver": "zoe_meter",
            "transport": tcp(meter_port, 1),
            "poll_ms": 250,
        },
        {
            "id": "storage",
            "kind": "pcs",
            "driver": "sunspec",
            "rated_power_kw": 50,
            "capacity_kwh": 100,
            "transport": tcp(sunspec_port, 1, timeout_ms=300),
            "poll_ms": POLL_MS,
        },
        {
            "id": "pcs",
            "kind": "pcs",
            "driver": "zoe_pcs",
            "rated_power_kw": 50,
            "transport": tcp(profile_port, 1, timeout_ms=300),
            "poll_ms": POLL_MS,
        },
    ]
    hil = await start_hil(devices)
    for device_id in ("storage", "pcs"):
        assert "rated_p_w" in hil.daemon.drivers[device_id].slow_points

    def slow_fresh(device_id: str) -> bool:
        state = hil.daemon.image.snapshot().devices[device_id]
        present = [name for name in SLOW if name in state.points]
        return bool(present) and all(state.quality(name) is Quality.FRESH for name in present)

    await wait_until(lambda: slow_fresh("storage") and slow_fresh("pcs"), 10.0, "the first slow read")
    # Observe three slow periods (10 polls each): every sample must show the slow points FRESH.
    stale_seen: list[str] = []
    end = time.monotonic() + 3 * 10 * POLL_MS / 1000.0 + 0.5
    while time.monotonic() < end:
        for device_id in ("storage", "pcs"):
            if hil.online(device_id) and not slow_fresh(device_id):
                state = hil.daemon.image.snapshot().devices[device_id]
                stale_seen.append(f"{device_id}: {[(n, state.quality(n).value) for n in SLOW if n in state.points]}")
        await asyncio.sleep(0.02)
    assert not stale_seen, stale_seen[:5]
    assert hil.daemon.links["storage"].stats.failures == 0
