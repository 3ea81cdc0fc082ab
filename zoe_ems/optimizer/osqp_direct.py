"""Fast re-solve of a DPP cvxpy problem: cvxpy canonicalizes once, then OSQP is driven directly.

cvxpy's DPP canonicalization yields affine maps from the parameter vector to the QP data. When the
constraint matrix does not depend on parameters (our model is built that way), a re-solve is two sparse
mat-vecs (q and the right-hand sides), one ``OSQP.update`` and one warm-started ``solve``: no cvxpy
overhead and no refactorization. At build time the extracted maps are checked against cvxpy's own
``apply_parameters``; if cvxpy's internals ever change shape the check fails and callers fall back to
``Problem.solve``. Owns no model knowledge; never blocks anything but the calling thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cvxpy
import numpy as np
import osqp
import scipy.sparse as sp

from zoe_ems.optimizer.problem import FloatArray

cp: Any = cvxpy

_CONSTANT_ID = -1
"""cvxpy's parameter id of the constant column (cvxpy.lin_ops.lin_utils.CONSTANT_ID)."""

OSQP_SOLVED = 1
OSQP_SOLVED_INACCURATE = 2


class DirectUnsupported(RuntimeError):
    """The problem cannot be driven directly (parametrized constraint matrix, unknown cvxpy layout)."""


@dataclass(frozen=True)
class DirectResult:
    """Raw OSQP outcome."""

    status_val: int
    status: str
    objective: float
    iterations: int
    solve_time_s: float
    polished: bool


class DirectOsqp:
    """OSQP workspace for one DPP problem whose parameters only enter q and the constraint bounds."""

    def __init__(self, problem: Any, settings: dict[str, Any], time_steps: int = 0) -> None:
        if not problem.is_dpp():
            raise DirectUnsupported("problem is not DPP")
        try:
            self._extract(problem)
        except DirectUnsupported:
            raise
        except Exception as exc:  # cvxpy internals differ from what we expect
            raise DirectUnsupported(f"cannot read cvxpy's parametrized program: {exc}") from exc
        self._settings = dict(settings)
        self._solver: Any = None
        self._x: FloatArray | None = None
        self._time_vars = [
            (self._var_col[v.id], v.shape) for v in problem.variables() if time_steps and v.shape[-1:] == (time_steps,)
        ]
        self._shift_maps: dict[int, np.ndarray] = {}

    def solve(self, values: dict[int, FloatArray], shift_steps: int = 0) -> DirectResult:
        """Solve with parameter values keyed by cvxpy parameter id; warm-starts from the previous solve.

        ``shift_steps`` > 0 says the horizon moved on by that many steps: the primal warm start is shifted
        along the time axis (the last step repeated) so it lines up with the new horizon.
        """
        vector = self._parameter_vector(values)
        q_full = self._q_map @ vector
        q = np.asarray(q_full[: self._n_x], dtype=float)
        offset = float(q_full[self._n_x])
        rhs = np.asarray(self._b_map @ vector, dtype=float)
        eq = -rhs[: self._n_eq]
        lower = np.concatenate([eq, np.full(rhs.size - self._n_eq, -np.inf)])
        upper = np.concatenate([eq, rhs[self._n_eq :]])
        if self._solver is None:
            self._solver = osqp.OSQP()
            self._solver.setup(self._p, q, self._a, lower, upper, verbose=False, **self._settings)
        else:
            self._solver.update(q=q, l=lower, u=upper)
            if shift_steps > 0 and self._x is not None:
                self._solver.warm_start(x=self._x[self._shift_map(shift_steps)])
        result = self._solver.solve(raise_error=False)
        info = result.info
        status_val = int(info.status_val)
        if status_val in (OSQP_SOLVED, OSQP_SOLVED_INACCURATE):
            self._x = np.asarray(result.x, dtype=float)
        return DirectResult(
            status_val=status_val,
            status=str(info.status),
            objective=float(info.obj_val) + offset,
            iterations=int(info.iter),
            solve_time_s=float(info.run_time),
            polished=int(getattr(info, "status_polish", 0)) == 1,
        )

    def value(self, variable: Any) -> FloatArray:
        """Value of ``variable`` in the last successful solve."""
        if self._x is None:
            raise RuntimeError("no solution yet")
        start = self._var_col[variable.id]
        flat = self._x[start : start + variable.size]
        result: FloatArray = flat.reshape(variable.shape, order="F") if variable.shape else flat
        return result

    # -- private --------------------------------------------------------------------------------

    def _shift_map(self, steps: int) -> np.ndarray:
        if steps not in self._shift_maps:
            index = np.arange(self._n_x)
            for col, shape in self._time_vars:
                rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
                n = shape[-1]
                t = np.minimum(np.arange(n) + steps, n - 1)
                # Column-major flattening: element (r, t) sits at col + r + rows * t.
                source = col + np.arange(rows)[None, :] + rows * t[:, None]
                index[col : col + rows * n] = source.ravel()
            self._shift_maps[steps] = index
        return self._shift_maps[steps]

    def _extract(self, problem: Any) -> None:
        data, _chain, _inverse = problem.get_problem_data(cp.OSQP)
        program = data[cp.settings.PARAM_PROB]
        n_x = int(program.x.size)
        q_tensor = sp.csr_matrix(program.q)
        a_tensor = sp.csc_matrix(program.A)
        n_cols = a_tensor.shape[1]
        if a_tensor.shape[0] % (n_x + 1):
            raise DirectUnsupported("unexpected constraint tensor shape")
        m = a_tensor.shape[0] // (n_x + 1)
        matrix_part = a_tensor[: m * n_x, :]
        if matrix_part[:, : n_cols - 1].nnz:
            raise DirectUnsupported("constraint matrix depends on parameters (would refactorize)")
        a_full = _reshape_column(matrix_part[:, n_cols - 1], m, n_x)
        self._b_map = sp.csr_matrix(a_tensor[m * n_x :, :])
        self._q_map = q_tensor
        self._n_x = n_x
        self._n_eq = int(program.cone_dims.zero)
        self._param_col: dict[int, int] = dict(program.param_id_to_col)
        self._param_size: dict[int, int] = {p.id: int(p.size) for p in program.parameters}
        self._n_params = n_cols - 1
        known = {v.id for v in problem.variables()}
        self._var_col: dict[int, int] = {vid: col for vid, col in program.var_id_to_col.items() if vid in known}
        if set(self._var_col) != known:
            raise DirectUnsupported("cvxpy replaced some variables during canonicalization")
        if {p.id for p in problem.parameters()} != set(self._param_size):
            raise DirectUnsupported("cvxpy replaced some parameters during canonicalization")
        p_matrix, q_ref, d_ref, a_ref, b_ref = program.apply_parameters(quad_obj=True)
        self._p = sp.csc_matrix(sp.triu(sp.csc_matrix(p_matrix), format="csc"))
        a_eq = a_full[: self._n_eq, :]
        f_ineq = -a_full[self._n_eq :, :]
        self._a = sp.csc_matrix(sp.vstack([a_eq, f_ineq]))
        # Self-check against cvxpy's own parameter application for the current values.
        vector = self._parameter_vector({p.id: np.asarray(p.value, dtype=float) for p in problem.parameters()})
        q_full = self._q_map @ vector
        if not (
            np.allclose(q_full[:n_x], np.asarray(q_ref).ravel(), atol=1e-9)
            and abs(float(q_full[n_x]) - float(d_ref)) < 1e-9
            and np.allclose(self._b_map @ vector, np.asarray(b_ref).ravel(), atol=1e-9)
            and abs(sp.csc_matrix(a_ref) - a_full).max() < 1e-12
        ):
            raise DirectUnsupported("extracted maps disagree with cvxpy's apply_parameters")

    def _parameter_vector(self, values: dict[int, FloatArray]) -> FloatArray:
        vector = np.zeros(self._n_params + 1)
        for pid, col in self._param_col.items():
            if pid == _CONSTANT_ID:
                vector[col] = 1.0
                continue
            value = np.asarray(values[pid], dtype=float)
            vector[col : col + self._param_size[pid]] = value.ravel(order="F")
        return vector


def _reshape_column(column: sp.spmatrix, rows: int, cols: int) -> sp.csc_matrix:
    coo = sp.coo_matrix(column)
    flat = coo.row
    return sp.csc_matrix((coo.data, (flat % rows, flat // rows)), shape=(rows, cols))
