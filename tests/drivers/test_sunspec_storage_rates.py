"""Model 124 storage rates keep their SunSpec meaning (InWRte = charging) whatever the setpoint sign override."""

from __future__ import annotations

import pytest

from drivers.sunspec.control import ControlContext, ControlPath, plan_power_setpoint


@pytest.mark.parametrize("sign", ["active", "passive"])
def test_a_charge_command_sets_a_positive_charge_rate_for_either_sign_convention(sign: str) -> None:
    ctx = ControlContext(
        implemented=lambda _model, _point: False,
        revert_timeout_s=60.0,
        setpoint_sign=sign,  # type: ignore[arg-type]
        w_cha_max_w=10_000.0,
    )
    steps = plan_power_setpoint(ControlPath.STORAGE_124, 5_000.0, ctx)
    rates = dict(next(step.values for step in steps if any(name == "InWRte" for name, _ in step.values)))
    assert rates["InWRte"] == pytest.approx(50.0)
    assert rates["OutWRte"] == pytest.approx(-50.0)
    discharge = plan_power_setpoint(ControlPath.STORAGE_124, -2_000.0, ctx)
    rates = dict(next(step.values for step in discharge if any(name == "OutWRte" for name, _ in step.values)))
    assert rates["OutWRte"] == pytest.approx(20.0)
    assert rates["InWRte"] == pytest.approx(-20.0)
