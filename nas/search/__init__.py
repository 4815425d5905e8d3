"""The search: budget-constrained multi-objective search over a space (Optuna ask/tell; trainings local or on Ray)."""
