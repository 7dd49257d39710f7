"""The metrics a job can optimise or constrain, and the direction each improves in by default.
The one definition: the spec validates against it and the store has a column per metric."""

from __future__ import annotations

METRICS: tuple[str, ...] = ("accuracy", "params", "flops", "latency_ms")
GOALS: tuple[str, ...] = ("maximize", "minimize")


def default_goal(metric: str) -> str:
    """Accuracy is maximised, costs are minimised."""
    return "maximize" if metric == "accuracy" else "minimize"
