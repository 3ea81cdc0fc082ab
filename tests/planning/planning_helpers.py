"""Builders for planning tests: site files in code, snapshots in the passive sign convention, real SQLite history."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from drivers.points import DeviceKind
from zoe_ems.config import SiteConfig
from zoe_ems.site.points import DeviceState, PointValue, Quality, Snapshot
from zoe_ems.storage.database import Database
from zoe_ems.storage.history import HistoryRecorder

KINDS = {
    "grid": (DeviceKind.METER, "grid"),
    "pcs1": (DeviceKind.PCS, None),
    "pcs2": (DeviceKind.PCS, None),
    "bms1": (DeviceKind.BMS, None),
    "bms2": (DeviceKind.BMS, None),
    "pv1": (DeviceKind.PV_INVERTER, None),
    "pv2": (DeviceKind.PV_INVERTER, None),
    "ev1": (DeviceKind.EV_CHARGER, None),
    "hp1": (DeviceKind.SG_READY, None),
}


def site_config(
    db_path: Path,
    *,
    import_kw: float = 300.0,
    export_kw: float = 100.0,
    batteries: tuple[tuple[float, float], ...] = ((100.0, 200.0),),
    control: dict[str, Any] | None = None,
    optimizer: dict[str, Any] | None = None,
    timezone: str = "Europe/Brussels",
    extra_devices: tuple[str, ...] = ("pv1", "pv2", "ev1", "hp1"),
) -> SiteConfig:
    """Grid meter, PCS i with BMS i per (power kW, capacity kWh), and the extra devices (ids as in KINDS)."""
    port = iter(range(20_000, 20_100))

    def transport() -> dict[str, Any]:
        return {"type": "modbus_tcp", "host": "127.0.0.1", "port": next(port)}

    devices: list[dict[str, Any]] = [
        {"id": "grid", "kind": "meter", "role": "grid", "driver": "x", "transport": transport()}
    ]
    for i, (power_kw, capacity_kwh) in enumerate(batteries, start=1):
        devices.append(
            {"id": f"bms{i}", "kind": "bms", "driver": "x", "transport": transport(), "capacity_kwh": capacity_kwh}
        )
        devices.append(
            {
                "id": f"pcs{i}",
                "kind": "pcs",
                "driver": "x",
                "transport": transport(),
                "rated_power_kw": power_kw,
                "bms": f"bms{i}",
            }
        )
    for device_id in extra_devices:
        kind, _ = KINDS[device_id]
        entry: dict[str, Any] = {"id": device_id, "kind": kind.value, "driver": "x", "transport": transport()}
        if kind is DeviceKind.PV_INVERTER:
            entry["rated_power_kw"] = 50.0
        if kind is DeviceKind.EV_CHARGER:
            entry.update(phases=3, max_current_a=16.0)
        devices.append(entry)
    data: dict[str, Any] = {
        "site": {
            "id": "plan-site",
            "timezone": timezone,
            "latitude": 50.85,
            "longitude": 4.35,
            "grid": {"import_limit_kw": import_kw, "export_limit_kw": export_kw},
        },
        "devices": devices,
        "control": control or {},
        "storage": {"path": str(db_path)},
        "optimizer": {"enabled": True, "horizon_h": 36, **(optimizer or {})},
    }
    return SiteConfig(**data)


def snapshot(ts_utc: float, powers_w: Mapping[str, float | None], quality: Quality = Quality.FRESH) -> Snapshot:
    """One snapshot with ``p_w`` per device (passive sign); a None power is stored as unknown."""
    devices = {}
    for device_id, p_w in powers_w.items():
        kind, role = KINDS[device_id]
        point = PointValue(value=p_w, unit="W", ts_mono=ts_utc, ts_utc=ts_utc, quality=quality)
        devices[device_id] = DeviceState(device_id=device_id, kind=kind, role=role, online=True, points={"p_w": point})
    return Snapshot(ts_mono=ts_utc, ts_utc=ts_utc, devices=devices)


async def write_history(
    db_path: Path,
    start_utc: float,
    end_utc: float,
    powers: Callable[[float], Mapping[str, float | None]],
    every_s: float = 60.0,
) -> None:
    """Record ``powers(t)`` every ``every_s`` on [start, end) with the daemon's HistoryRecorder."""
    db = Database(db_path)
    # Retention is measured from the wall clock: keep everything these tests write.
    recorder = HistoryRecorder(db, heartbeat_s=every_s, retention_s=time.time() - start_utc + 86400.0 * 400)
    await recorder.start()
    t = start_utc
    while t < end_utc:
        recorder.sample(snapshot(t, powers(t)))
        t += every_s
    await recorder.flush()
    await db.close()
