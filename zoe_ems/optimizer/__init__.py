"""MPC optimizer: parametrized cvxpy model, tariffs, forecasts, receding-horizon planner.

Never writes devices: its only output is a SchedulePlan handed to ``on_plan``. Names are imported on first use
(PEP 562), so importing a light submodule (tariffs, forecasts, summaries) does not load cvxpy, OSQP and scipy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoe_ems.optimizer.forecast import (
        ForecastScore,
        ForecastTracker,
        HistorySource,
        LoadForecaster,
        PvForecaster,
    )
    from zoe_ems.optimizer.model import MpcModel, OsqpSettings, SolveError
    from zoe_ems.optimizer.planner import PlannerService, PlanRecord, planned_soc_at, solution_to_plan
    from zoe_ems.optimizer.problem import (
        BatterySpec,
        CostBreakdown,
        EvRequest,
        InputError,
        ModelSpec,
        MpcInputs,
        MpcSolution,
        PlanSkipped,
    )
    from zoe_ems.optimizer.series import TimeSeries
    from zoe_ems.optimizer.site import SiteInputsBuilder, SiteState, model_spec_from_config
    from zoe_ems.optimizer.summary import plan_to_dict, render_plan_text
    from zoe_ems.optimizer.tariffs import Tariff, load_price_csv

_MODULES = {
    "forecast": ("ForecastScore", "ForecastTracker", "HistorySource", "LoadForecaster", "PvForecaster"),
    "model": ("MpcModel", "OsqpSettings", "SolveError"),
    "planner": ("PlannerService", "PlanRecord", "planned_soc_at", "solution_to_plan"),
    "problem": (
        "BatterySpec",
        "CostBreakdown",
        "EvRequest",
        "InputError",
        "ModelSpec",
        "MpcInputs",
        "MpcSolution",
        "PlanSkipped",
    ),
    "series": ("TimeSeries",),
    "site": ("SiteInputsBuilder", "SiteState", "model_spec_from_config"),
    "summary": ("plan_to_dict", "render_plan_text"),
    "tariffs": ("Tariff", "load_price_csv"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "BatterySpec",
    "CostBreakdown",
    "EvRequest",
    "ForecastScore",
    "ForecastTracker",
    "HistorySource",
    "InputError",
    "LoadForecaster",
    "ModelSpec",
    "MpcInputs",
    "MpcModel",
    "MpcSolution",
    "OsqpSettings",
    "PlanRecord",
    "PlanSkipped",
    "PlannerService",
    "PvForecaster",
    "SiteInputsBuilder",
    "SiteState",
    "SolveError",
    "Tariff",
    "TimeSeries",
    "load_price_csv",
    "model_spec_from_config",
    "plan_to_dict",
    "planned_soc_at",
    "render_plan_text",
    "solution_to_plan",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'zoe_ems.optimizer' has no attribute {name!r}")
    return getattr(importlib.import_module(f"zoe_ems.optimizer.{module}"), name)
