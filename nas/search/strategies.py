"""The search strategy a job spec names, built with the job's objectives, seed and the
constraints that are known before evaluation (params, FLOPs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nas.job.schema import JobSpec
from search_spaces import Architecture, SearchSpace, TaskShape
from surrogates.base import Strategy
from surrogates.registry import StrategyRequest, build_strategy


def feasibility(spec: JobSpec, space: SearchSpace, shape: TaskShape) -> Callable[[Architecture], bool] | None:
    """The spec's params/FLOPs limits as a predicate (latency is only known after evaluation)."""
    limits = {"params": spec.constraints.params_max, "flops": spec.constraints.flops_max}
    limits = {metric: limit for metric, limit in limits.items() if limit is not None}
    if not limits:
        return None

    def feasible(arch: Architecture) -> bool:
        cost = space.cost(arch, shape).to_dict()
        return all(cost[metric] <= limit for metric, limit in limits.items())

    return feasible


def make_strategy(spec: JobSpec, space: SearchSpace, shape: TaskShape, pool: Sequence[Architecture] | None = None) -> Strategy:
    request = StrategyRequest(space, spec.surrogate_objectives(), seed=spec.seed, task=shape, pool=pool, feasible=feasibility(spec, space, shape))
    return build_strategy(spec.strategy, request)
