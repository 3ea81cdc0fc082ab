"""Small builders for optimizer tests: one battery, flat inputs, a seeded random instance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zoe_ems.config import SiteConfig
from zoe_ems.optimizer.problem import BatterySpec, ModelSpec, MpcInputs


def battery(name: str = "b0", capacity_kwh: float = 100.0, power_kw: float = 50.0, **kwargs: float) -> BatterySpec:
    return BatterySpec(
        name=name,
        capacity_wh=capacity_kwh * 1000.0,
        max_charge_w=power_kw * 1000.0,
        max_discharge_w=power_kw * 1000.0,
        **kwargs,
    )


def flat_inputs(spec: ModelSpec, *, load_kw: float = 20.0, price: float = 0.2, soc: float = 0.5) -> MpcInputs:
    n = spec.n_steps
    return MpcInputs(
        start_utc=1_700_000_000.0,
        load_w=np.full(n, load_kw * 1000.0),
        pv_w=np.zeros(n),
        buy_eur_per_kwh=np.full(n, price),
        sell_eur_per_kwh=np.full(n, price - 0.05),
        soc=np.full(len(spec.batteries), soc),
        import_limit_w=np.full(n, 1e6),
        export_limit_w=np.full(n, 1e6),
    )


def random_instance(seed: int, n: int = 96, n_bat: int = 1) -> tuple[ModelSpec, MpcInputs]:
    """A C&I-like day with noisy prices, PV, a demand charge and tight-ish limits."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(0.5, 2.0)
    batteries = tuple(
        battery(
            f"b{i}",
            capacity_kwh=rng.uniform(100, 500) * size / n_bat,
            power_kw=rng.uniform(50, 250) * size / n_bat,
            charge_efficiency=rng.uniform(0.9, 0.98),
            discharge_efficiency=rng.uniform(0.9, 0.98),
            degradation_eur_per_kwh=rng.uniform(0.0, 0.05),
        )
        for i in range(n_bat)
    )
    spec = ModelSpec(n_steps=n, step_s=900.0, batteries=batteries)
    hours = np.arange(n) * 0.25
    load = (150 + 60 * np.clip(np.sin(2 * np.pi * (hours - 6) / 24), 0, None) + rng.normal(0, 15, n)).clip(10) * 1e3
    pv = -np.clip(rng.uniform(50, 300) * np.sin(2 * np.pi * (hours - 6) / 24), 0, None) * 1e3
    spot = 0.1 + 0.06 * np.sin(2 * np.pi * (hours - 3) / 24) + rng.normal(0, 0.03, n)
    spot = np.repeat(spot[::4], 4)[:n]
    inputs = MpcInputs(
        start_utc=1_700_000_000.0,
        load_w=load,
        pv_w=pv,
        buy_eur_per_kwh=spot + 0.08,
        sell_eur_per_kwh=spot - 0.01,
        soc=rng.uniform(0.1, 0.9, n_bat),
        import_limit_w=np.full(n, rng.uniform(250, 400) * 1e3),
        export_limit_w=np.full(n, rng.uniform(0, 150) * 1e3),
        demand_charge_eur_per_kw=float(rng.uniform(0, 8)),
        peak_so_far_w=float(rng.uniform(0, 200) * 1e3),
    )
    return spec, inputs


def site_config(db_path: Path, optimizer: dict[str, Any] | None = None) -> SiteConfig:
    """Grid meter, one 50 kW / 100 kWh battery (pcs1 with bms1), the optimizer enabled (12 h unless overridden)."""

    def transport(port: int) -> dict[str, Any]:
        return {"type": "modbus_tcp", "host": "127.0.0.1", "port": port}

    return SiteConfig(
        site={
            "id": "opt-site",
            "timezone": "Europe/Brussels",
            "grid": {"import_limit_kw": 300.0, "export_limit_kw": 100.0},
        },
        devices=[
            {"id": "grid", "kind": "meter", "role": "grid", "driver": "x", "transport": transport(20_001)},
            {"id": "bms1", "kind": "bms", "driver": "x", "transport": transport(20_002), "capacity_kwh": 100.0},
            {
                "id": "pcs1",
                "kind": "pcs",
                "driver": "x",
                "transport": transport(20_003),
                "rated_power_kw": 50.0,
                "bms": "bms1",
            },
        ],
        storage={"path": str(db_path)},
        optimizer={"enabled": True, "horizon_h": 12, **(optimizer or {})},
    )
