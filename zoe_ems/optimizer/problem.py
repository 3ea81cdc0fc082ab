"""Plain data of one MPC instance: the site structure (ModelSpec), per-solve inputs and the solution.

Everything here is SI (W, Wh, s, fractions) and euros; the solver's internal scaling never leaks out.
This module holds data and validation only; it never solves and never touches devices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class BatterySpec:
    """One battery (PCS + BMS) as the optimizer sees it; part of the model structure."""

    name: str
    capacity_wh: float
    """Usable energy between SOC 0 and 1."""
    max_charge_w: float
    max_discharge_w: float
    charge_efficiency: float = 0.95
    """AC to stored energy."""
    discharge_efficiency: float = 0.95
    """Stored energy to AC."""
    soc_min: float = 0.05
    soc_max: float = 0.95
    degradation_eur_per_kwh: float = 0.02
    """Wear cost per kWh of AC throughput (charge + discharge)."""

    def __post_init__(self) -> None:
        _require(self.capacity_wh > 0, f"battery {self.name}: capacity_wh must be > 0")
        _require(self.max_charge_w >= 0, f"battery {self.name}: max_charge_w must be >= 0")
        _require(self.max_discharge_w >= 0, f"battery {self.name}: max_discharge_w must be >= 0")
        for label, eff in (
            ("charge_efficiency", self.charge_efficiency),
            ("discharge_efficiency", self.discharge_efficiency),
        ):
            _require(0 < eff <= 1, f"battery {self.name}: {label} must be in (0, 1], got {eff}")
        _require(0 <= self.soc_min < self.soc_max <= 1, f"battery {self.name}: need 0 <= soc_min < soc_max <= 1")
        _require(self.degradation_eur_per_kwh >= 0, f"battery {self.name}: degradation_eur_per_kwh must be >= 0")


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """What fixes the shape of the optimization problem; a new spec means a new build."""

    n_steps: int
    step_s: float
    batteries: tuple[BatterySpec, ...]
    n_ev: int = 0
    power_base_w: float = 0.0
    """Scale for the solver's per-unit variables; 0 picks the largest battery/grid rating."""

    def __post_init__(self) -> None:
        _require(self.n_steps >= 2, "model: n_steps must be >= 2")
        _require(60.0 <= self.step_s <= 3600.0, f"model: step_s must be 60..3600 s, got {self.step_s}")
        _require(self.n_ev >= 0, "model: n_ev must be >= 0")
        names = [b.name for b in self.batteries]
        _require(len(set(names)) == len(names), f"model: duplicate battery names {names}")

    @property
    def step_h(self) -> float:
        return self.step_s / 3600.0

    @property
    def horizon_s(self) -> float:
        return self.n_steps * self.step_s


@dataclass(frozen=True, kw_only=True)
class EvRequest:
    """Energy an EV must receive before it leaves; the charger can give up to ``max_power_w``."""

    energy_wh: float
    departure_utc: float
    max_power_w: float
    arrival_utc: float = float("-inf")
    max_energy_wh: float | None = None
    """Upper bound on energy delivered in the horizon (defaults to ``energy_wh``)."""
    shortfall_eur_per_kwh: float = 2.0
    """Penalty per kWh not delivered by departure (keeps an impossible request feasible)."""


@dataclass(kw_only=True)
class MpcInputs:
    """Everything that changes between solves (arrays have ``n_steps`` entries unless stated)."""

    start_utc: float
    load_w: FloatArray
    """Forecast site load (excluding battery and EV), >= 0."""
    pv_w: FloatArray
    """Forecast PV power, passive sign (production is negative)."""
    buy_eur_per_kwh: FloatArray
    """All-in import price: energy, grid fees and taxes."""
    sell_eur_per_kwh: FloatArray
    soc: FloatArray
    """Current SOC per battery (fraction)."""
    import_limit_w: FloatArray
    export_limit_w: FloatArray
    soc_floor: FloatArray | None = None
    """Per battery x step lower SOC bound (backup reserve, frequency-service energy); None = soc_min."""
    soc_ceiling: FloatArray | None = None
    charge_max_w: FloatArray | None = None
    """Per battery x step; None = rating."""
    discharge_max_w: FloatArray | None = None
    demand_charge_eur_per_kw: float = 0.0
    """Charge on the billing-period peak (average import over one step)."""
    peak_so_far_w: float = 0.0
    """Peak already reached this billing period: the floor of the planned peak."""
    expected_peak_w: float = 0.0
    """Import level this billing period is expected to reach anyway (``peak.ExpectedPeak``): the plan does not
    shave below it (it floors the current and the next period's planned peak); 0 = no expectation."""
    demand_mask: FloatArray | None = None
    """1 where a step counts for the current period's peak, 0 elsewhere; None = every step."""
    next_period_demand_charge_eur_per_kw: float = 0.0
    """Demand charge for steps where ``demand_mask`` is 0 (the next billing period inside the horizon)."""
    next_period_mask: FloatArray | None = None
    evs: tuple[EvRequest, ...] = ()
    terminal_value_eur_per_kwh: FloatArray | None = None
    """Value of a stored kWh at the horizon end, per battery; None = eta_d x mean buy price."""
    import_overrun_eur_per_kwh: float = 5.0
    """Penalty for import above the limit (only when no plan can respect it)."""
    now_utc: float | None = None
    """When ``soc`` was measured, inside the first step: the first step then only covers [now_utc, start + step)
    and the plan's SOC trajectory starts at now_utc. None = start_utc (a whole first step)."""
    elapsed_import_w: float | None = None
    """Average grid import measured over [start_utc, now_utc): it counts toward the first step's peak.
    None = assume the forecast net load (battery idle) for that part."""


@dataclass(frozen=True, kw_only=True)
class CostBreakdown:
    """Expected cost of a plan over its horizon, euros (negative = income)."""

    energy_eur: float
    demand_eur: float
    degradation_eur: float
    terminal_value_eur: float
    penalty_eur: float

    @property
    def total_eur(self) -> float:
        """Energy + demand + degradation + penalties - value of the energy left at the end."""
        return self.energy_eur + self.demand_eur + self.degradation_eur + self.penalty_eur - self.terminal_value_eur


@dataclass(frozen=True, kw_only=True)
class MpcSolution:
    """A solved plan, post-processed so no battery charges and discharges in the same interval."""

    status: str
    start_utc: float
    step_s: float
    battery_p_w: FloatArray
    """Per battery x step, passive sign (charge positive)."""
    soc: FloatArray
    """Per battery x step: SOC at the end of each step."""
    grid_p_w: FloatArray
    """Net grid power per step (import positive)."""
    curtail_w: FloatArray
    """PV curtailed per step (>= 0)."""
    ev_p_w: FloatArray
    """Per EV x step."""
    peak_w: float
    cost: CostBreakdown
    objective: float
    """Solver objective in euros (includes the throughput and anti-cycling terms as modelled)."""
    solve_time_s: float
    iterations: int
    raw_simultaneous_w: float = 0.0
    """Largest min(charge, discharge) the solver returned before netting (diagnostic)."""
    state_utc: float | None = None
    """Time the initial state (``initial_soc``) refers to; the first step's powers hold from then to its end."""
    initial_soc: FloatArray | None = None
    """Per battery: SOC at ``state_utc`` (the start of the SOC trajectory)."""
    extras: dict[str, float] = field(default_factory=dict)

    @property
    def fleet_p_w(self) -> FloatArray:
        """Battery fleet power per step (sum over batteries)."""
        result: FloatArray = self.battery_p_w.sum(axis=0)
        return result


class InputError(ValueError):
    """Bad optimizer input; the message names the field."""


class PlanSkipped(RuntimeError):
    """The inputs cannot be trusted right now (e.g. a battery SOC is unknown or stale): the planner does not
    solve, keeps the last plan while it is valid and reports the reason (``PlannerService.skip_reason``)."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InputError(message)
