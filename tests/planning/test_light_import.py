"""Sites without the optimizer do not pay for the solver stack: importing the wiring loads no cvxpy/OSQP/scipy."""

from __future__ import annotations

import subprocess
import sys

import zoe_ems.optimizer as optimizer


def test_importing_the_planning_wiring_loads_no_solver() -> None:
    code = (
        "import sys, zoe_ems.runtime.planning, zoe_ems.optimizer.summary, zoe_ems.optimizer.tariffs\n"
        "print(sorted(m for m in ('cvxpy', 'osqp', 'scipy', 'highspy') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_every_public_name_of_the_package_resolves() -> None:
    for name in optimizer.__all__:
        assert getattr(optimizer, name).__name__ == name
