"""The search strategy a job spec names, built with the job's objectives, seed and the
constraints that are known before evaluation (params, FLOPs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from search_spaces import Architecture, SearchSpace, TaskShape
from surrogates.base import Strategy

from nas.spec import JobSpec


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
    objectives = spec.surrogate_objectives()
    common = {"objective": objectives[0], "seed": spec.seed, "feasible": feasibility(spec, space, shape)}
    name = spec.strategy
    if name == "random":
        from surrogates.baselines import RandomSearch

        return RandomSearch(space, pool, **common)
    if name == "evolution":
        from surrogates.baselines import RegularizedEvolution

        return RegularizedEvolution(space, pool, **common)
    if name in ("tpe", "nsga2"):
        from surrogates.optuna_strategies import OptunaStrategy

        return OptunaStrategy(space, pool, sampler=name, secondary=objectives[1:] if name == "nsga2" else (), **common)
    if name == "boshnas":
        from surrogates.boshnas import Boshnas

        return Boshnas(space, pool, task=shape, **common)
    if name == "botorch":
        from surrogates.botorch_mo import BotorchMultiObjective

        return BotorchMultiObjective(space, pool, task=shape, secondary=objectives[1:], **common)
    raise ValueError(f"strategy: {name!r} not in {{boshnas, botorch, evolution, random, tpe, nsga2}}")
