"""Compute time of one control cycle (snapshot → ControlEngine.step → setpoints) on a 20-device site.

Site: grid, load and PV meters, 3 PCS with 3 BMS, 5 PV inverters, 4 EV chargers, 2 SG-Ready heat pumps, with
every controller active (peak shaving with recharge, export limit, §14a load limit, DR event, VPP setpoint
half of the time, backup reserve, schedule with SOC tracking, EV modes, self-consumption, SG-Ready on prices) and
the ramp limit and frequency reserve on. The site state changes every cycle (load random walk, PV ramp, SOC
drift) so the engine never sees the same snapshot twice. Snapshot construction is not timed. Wall-clock
percentiles (p50/p99/max) include preemption by other processes; cpu_* are the thread's CPU time per step.

    python bench/control_cycle.py [--json] [--quick] [--cycles N]

Progress goes to stderr; with --json the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from typing import Any

from drivers.points import DeviceKind
from zoe_ems.config import SiteConfig
from zoe_ems.control import ControlEngine
from zoe_ems.control.inputs import (
    DrEventInput,
    InputsView,
    LoadLimitInput,
    PriceInput,
    SchedulePlan,
    SetpointInput,
)
from zoe_ems.site.points import DeviceState, PointValue, Quality, Snapshot

T0_UTC = 1_790_000_000.0


def site() -> SiteConfig:
    unit = iter(range(1, 100))
    devices: list[dict[str, Any]] = []

    def add(dev_id: str, kind: str, **extra: Any) -> None:
        transport = {"type": "modbus_tcp", "host": "127.0.0.1", "port": 1502, "unit": next(unit)}
        devices.append({"id": dev_id, "kind": kind, "driver": "bench", "transport": transport, **extra})

    add("grid", "meter", role="grid")
    add("load", "meter", role="load")
    add("pvmeter", "meter", role="pv")
    for i in range(1, 4):
        add(f"bms{i}", "bms", capacity_kwh=200)
        add(f"pcs{i}", "pcs", rated_power_kw=100, bms=f"bms{i}")
    for i in range(1, 6):
        add(f"pv{i}", "pv_inverter", rated_power_kw=50)
    for i in range(1, 5):
        add(f"ev{i}", "ev_charger", phases=3, max_current_a=32)
    for i in range(1, 3):
        add(f"hp{i}", "sg_ready")
    modes = ["now", "min_pv", "pv_surplus", "target"]
    chargers: dict[str, Any] = {f"ev{i + 1}": {"mode": m} for i, m in enumerate(modes)}
    chargers["ev4"].update(target_energy_kwh=30, departure="07:30")
    control = {
        "ramp_kw_per_s": 50,
        "reserve": {"up_kw": 20},
        "peak_shaving": {"import_limit_kw": 350, "recharge_soc": 0.5},
        "backup_reserve": {"enabled": True, "reserve_soc": 0.2, "charge_from_grid": True},
        "ev_charging": {"chargers": chargers, "enable_delay_s": 5, "disable_delay_s": 10},
        "sg_ready": {"min_switch_interval_s": 30, "block_price_eur_per_kwh": 0.3, "recommend_price_eur_per_kwh": 0.1},
    }
    return SiteConfig(
        site={
            "id": "bench",
            "timezone": "Europe/Brussels",
            "grid": {"import_limit_kw": 400, "export_limit_kw": 50, "fuse_a": 800},
        },
        devices=devices,
        control=control,
    )


class BenchPlant:
    """A site whose state drifts every cycle."""

    def __init__(self, config: SiteConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.load_w = 250_000.0
        self.soc = {f"pcs{i}": 0.3 + 0.2 * i for i in range(1, 4)}
        self.setp: dict[str, dict[str, float]] = {}

    def snapshot(self, t_mono: float) -> Snapshot:
        rng = self.rng
        self.load_w = min(600_000.0, max(50_000.0, self.load_w + rng.gauss(0, 5_000)))
        pv_each = 40_000.0 * (0.5 + 0.5 * abs(rng.random()))
        bat = {k: self.setp.get(k, {}).get("p_set_w", 0.0) for k in self.soc}
        for k, p in bat.items():
            self.soc[k] = min(1.0, max(0.0, self.soc[k] + p * 0.5 / 3600 / 200_000))
        ev_p = {f"ev{i}": 11_000.0 * rng.random() for i in range(1, 5)}
        grid = self.load_w + sum(bat.values()) - 5 * pv_each + sum(ev_p.values()) + 6_000
        phase = grid / 3
        values: dict[str, dict[str, float]] = {
            "grid": {"p_w": grid, "p_l1_w": phase * 1.02, "p_l2_w": phase, "p_l3_w": phase * 0.98, "f_hz": 50.0},
            "load": {"p_w": self.load_w},
            "pvmeter": {"p_w": -5 * pv_each},
        }
        for i in range(1, 4):
            values[f"pcs{i}"] = {"p_w": bat[f"pcs{i}"], "alarm": 0, "state": 2, "rated_p_w": 100_000}
            values[f"bms{i}"] = {
                "soc": self.soc[f"pcs{i}"],
                "alarm": 0,
                "u_v": 800,
                "i_max_charge_a": 120,
                "i_max_discharge_a": 125,
                "capacity_wh": 200_000,
            }
        for i in range(1, 6):
            values[f"pv{i}"] = {"p_w": -pv_each, "rated_p_w": 50_000}
        for i in range(1, 5):
            values[f"ev{i}"] = {"p_w": ev_p[f"ev{i}"], "state": 2, "phases": 3, "e_session_wh": 5_000.0 * i}
        for i in range(1, 3):
            values[f"hp{i}"] = {"relay1": 0, "relay2": 0, "p_w": 3_000}
        devices = {}
        for dev in self.config.devices:
            points = {
                name: PointValue(value=v, unit="", ts_mono=t_mono, ts_utc=T0_UTC + t_mono, quality=Quality.FRESH)
                for name, v in values[dev.id].items()
            }
            role = dev.role.value if dev.role is not None else None
            devices[dev.id] = DeviceState(
                device_id=dev.id, kind=DeviceKind(dev.kind), role=role, online=True, points=points
            )
        return Snapshot(ts_mono=t_mono, ts_utc=T0_UTC + t_mono, devices=devices)


def inputs(now_utc: float, cycle: int) -> InputsView:
    setpoint = (
        SetpointInput(target="battery", p_w=-80_000.0, valid_until_utc=now_utc + 60, command_id="c-1")
        if (cycle // 50) % 2 == 0
        else None
    )
    return InputsView(
        now_utc=now_utc,
        setpoint=setpoint,
        plan=SchedulePlan(
            start_utc=now_utc - 100, step_s=900, battery_p_w=(50_000.0, -50_000.0), soc=(0.55, 0.5), source="optimizer"
        ),
        dr_event=DrEventInput(
            event_id="e1",
            start_utc=now_utc - 10,
            end_utc=now_utc + 3600,
            target_reduction_w=50_000,
            baseline_w=400_000,
            command_id="c-2",
        ),
        load_limit=LoadLimitInput(max_controllable_load_w=30_000, source="§14a"),
        prices=PriceInput(start_utc=now_utc - 100, step_s=3600, buy_eur_per_kwh=(0.05 + 0.4 * (cycle % 3 == 0),)),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    parser.add_argument("--quick", action="store_true", help="reduced run (2 000 cycles)")
    parser.add_argument("--cycles", type=int, default=None, help="number of timed cycles")
    args = parser.parse_args()
    cycles = args.cycles or (2_000 if args.quick else 20_000)
    config = site()
    engine = ControlEngine(config)
    plant = BenchPlant(config, random.Random(7))
    timings_ms: list[float] = []
    cpu_ms: list[float] = []
    t_mono = 1000.0
    for warmup in (True, False):
        for cycle in range(200 if warmup else cycles):
            snapshot = plant.snapshot(t_mono)
            view = inputs(T0_UTC + t_mono, cycle)
            start = time.perf_counter()
            cpu_start = time.thread_time()
            decision = engine.step(snapshot, view, t_mono)
            cpu_elapsed = (time.thread_time() - cpu_start) * 1000.0
            elapsed = (time.perf_counter() - start) * 1000.0
            plant.setp = decision.setpoints
            if not warmup:
                timings_ms.append(elapsed)
                cpu_ms.append(cpu_elapsed)
            t_mono += 0.5
            if not warmup and cycle % 5000 == 0:
                print(f"cycle {cycle}/{cycles}", file=sys.stderr)
    timings_ms.sort()
    cpu_ms.sort()
    result = {
        "benchmark": "control_cycle",
        "devices": len(config.devices),
        "controllers": [c.name for c in engine.controllers],
        "cycles": cycles,
        "p50_ms": round(statistics.median(timings_ms), 4),
        "p99_ms": round(timings_ms[int(0.99 * (len(timings_ms) - 1))], 4),
        "max_ms": round(timings_ms[-1], 4),
        "mean_ms": round(statistics.fmean(timings_ms), 4),
        "cpu_p50_ms": round(statistics.median(cpu_ms), 4),
        "cpu_p99_ms": round(cpu_ms[int(0.99 * (len(cpu_ms) - 1))], 4),
        "cpu_max_ms": round(cpu_ms[-1], 4),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "target_p99_ms": 5.0,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
