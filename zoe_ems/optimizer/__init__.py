"""MPC optimizer: parametrized cvxpy model, tariffs, forecasts, receding-horizon planner.

Never writes devices: its only output is a SchedulePlan handed to ``on_plan``.
"""

from zoe_ems.optimizer.forecast import ForecastTracker, HistorySource, LoadForecaster, PvForecaster
from zoe_ems.optimizer.model import MpcModel, OsqpSettings, SolveError
from zoe_ems.optimizer.planner import PlannerService, PlanRecord, solution_to_plan
from zoe_ems.optimizer.problem import (
    BatterySpec,
    CostBreakdown,
    EvRequest,
    InputError,
    ModelSpec,
    MpcInputs,
    MpcSolution,
)
from zoe_ems.optimizer.series import TimeSeries
from zoe_ems.optimizer.site import SiteInputsBuilder, SiteState, model_spec_from_config
from zoe_ems.optimizer.summary import plan_to_dict, render_plan_text
from zoe_ems.optimizer.tariffs import Tariff, load_price_csv

__all__ = [
    "BatterySpec",
    "CostBreakdown",
    "EvRequest",
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
    "render_plan_text",
    "solution_to_plan",
]
