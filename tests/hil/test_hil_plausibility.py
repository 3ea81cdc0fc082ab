"""Forged readings from misbehaving devices (simulator fault injection, real sockets): a SOC of 250 %, a PCS
power of 1 GW and a meter answering NaN everywhere are never taken as fresh; each raises an alarm naming
the point and value, the NaN meter is not online, and all heal when the device reports sane values again."""

from __future__ import annotations

import json
import time

from hil_helpers import StartHil, free_ports, tcp, wait_until
from structlog.testing import capture_logs

from zoe_ems.site.image import DATA_INVALID, POINT_IMPLAUSIBLE
from zoe_ems.site.points import Quality


def site_devices(meter_port: int, battery_port: int) -> list[dict[str, object]]:
    return [
        {
            "id": "grid_meter",
            "kind": "meter",
            "role": "grid",
            "driver": "zoe_meter",
            "transport": tcp(meter_port, 1),
            "poll_ms": 100,
        },
        {
            "id": "pcs",
            "kind": "pcs",
            "driver": "zoe_pcs",
            "bms": "bms",
            "rated_power_kw": 50,
            "read_only": True,
            "transport": tcp(battery_port, 1),
            "poll_ms": 100,
        },
        {"id": "bms", "kind": "bms", "driver": "zoe_bms", "transport": tcp(battery_port, 2), "poll_ms": 100},
    ]


async def test_forged_soc_power_and_nan_meter_are_not_fresh_and_alarm(start_hil: StartHil) -> None:
    hil = await start_hil(site_devices(*free_ports(2)))
    image = hil.daemon.image

    def alarm(device_id: str, code: str) -> str | None:
        return next((a for a in image.snapshot().devices[device_id].alarms if a.startswith(code + ":")), None)

    def fresh(device_id: str, point: str) -> bool:
        return image.snapshot().devices[device_id].quality(point) is Quality.FRESH

    await wait_until(lambda: all(fresh(d, "p_w") for d in ("grid_meter", "pcs")) and fresh("bms", "soc"), 10.0, "up")
    with capture_logs() as logs:
        hil.site.set_fault("bms", forced={"soc": 2.5})
        hil.site.set_fault("pcs", forced={"p_w": -1e9})
        hil.site.set_fault("grid_meter", nan_everywhere=True)
        faulted = time.monotonic()
        await wait_until(lambda: alarm("bms", POINT_IMPLAUSIBLE) is not None, 5.0, "the SOC alarm")
        await wait_until(lambda: alarm("pcs", POINT_IMPLAUSIBLE) is not None, 5.0, "the PCS power alarm")
        await wait_until(lambda: not hil.online("grid_meter"), 5.0, "the NaN meter to be not online")
        polls = hil.daemon.links["bms"].stats.polls
        await wait_until(lambda: hil.daemon.links["bms"].stats.polls >= polls + 5, 5.0, "five more polls")

        bms, pcs, meter = (image.snapshot().devices[d] for d in ("bms", "pcs", "grid_meter"))
        assert bms.quality("soc") is Quality.ERROR and bms.value("soc") is None
        assert "soc=2.5" in (alarm("bms", POINT_IMPLAUSIBLE) or "")
        assert pcs.quality("p_w") is Quality.ERROR and pcs.value("p_w") is None
        assert "p_w=-1e+09" in (alarm("pcs", POINT_IMPLAUSIBLE) or "")
        assert not meter.online and alarm("grid_meter", DATA_INVALID) is not None
        read_since = {n: pv for n, pv in meter.points.items() if pv.ts_mono > faulted}
        assert read_since and all(pv.quality is Quality.ERROR for pv in read_since.values()), [
            (n, pv.value, pv.quality.value) for n, pv in read_since.items() if pv.quality is not Quality.ERROR
        ]
        json.dumps(image.to_dict(), allow_nan=False)  # status JSON never carries NaN or Infinity

        hil.site.clear_faults()
        await wait_until(lambda: fresh("bms", "soc") and fresh("pcs", "p_w"), 5.0, "sane values to be fresh again")
        await wait_until(lambda: hil.online("grid_meter") and fresh("grid_meter", "p_w"), 5.0, "the meter back")
    for device_id, code in (("bms", POINT_IMPLAUSIBLE), ("pcs", POINT_IMPLAUSIBLE), ("grid_meter", DATA_INVALID)):
        assert alarm(device_id, code) is None, f"{device_id} {code} clears"
    warned = [(e["device"], e.get("point")) for e in logs if e["event"] == "implausible value not taken"]
    assert warned.count(("bms", "soc")) == 1 and warned.count(("pcs", "p_w")) == 1, "once per episode"
    assert len([e for e in logs if e["event"] == "device data invalid: not online"]) == 1
