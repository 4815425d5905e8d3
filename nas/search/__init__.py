"""The search: budget-constrained multi-objective search over a space (Optuna or Ray Tune)."""
