"""`optimizer:` section: MPC horizon, step, tariffs and forecasts. Owned by the optimizer layer."""

from __future__ import annotations

from pydantic import Field

from zoe_ems.config.base import StrictModel


class OptimizerConfig(StrictModel):
    """Model-predictive planner."""

    enabled: bool = False
    horizon_h: float = Field(default=36.0, gt=0, le=168)
    step_min: int = Field(default=15, ge=5, le=60)
