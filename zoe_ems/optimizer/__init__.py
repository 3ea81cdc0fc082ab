"""MPC optimizer: parametrized cvxpy model, tariffs, forecasts, receding-horizon planner."""
