"""Strategies by name: what a job spec's `strategy` field names, and how to build each.

One table for the spec's choices, the service's factory and every error message. Each factory
imports its strategy's module when called: listing the names imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from search_spaces import Architecture, SearchSpace, TaskShape
from surrogates.base import Objective, Strategy


@dataclass(frozen=True)
class StrategyRequest:
    """What every factory may use: the objectives (the first primary), the seed, a feasibility
    predicate for constraints known before evaluation, the task shape (for costs) and, in
    benchmark mode, the finite pool to choose from."""

    space: SearchSpace
    objectives: Sequence[Objective]
    seed: int = 0
    task: TaskShape | None = None
    pool: Sequence[Architecture] | None = None
    feasible: Callable[[Architecture], bool] | None = None

    def common(self) -> dict:
        return {"objective": self.objectives[0], "seed": self.seed, "feasible": self.feasible}


@dataclass(frozen=True)
class StrategyEntry:
    name: str
    summary: str
    build: Callable[[StrategyRequest], Strategy] = field(repr=False)


def _random(r: StrategyRequest) -> Strategy:
    from surrogates.baselines import RandomSearch

    return RandomSearch(r.space, r.pool, **r.common())


def _evolution(r: StrategyRequest) -> Strategy:
    from surrogates.baselines import RegularizedEvolution

    return RegularizedEvolution(r.space, r.pool, **r.common())


def _optuna(sampler: str, multi_objective: bool) -> Callable[[StrategyRequest], Strategy]:
    def build(r: StrategyRequest) -> Strategy:
        from surrogates.optuna_strategies import OptunaStrategy

        return OptunaStrategy(r.space, r.pool, sampler=sampler, secondary=r.objectives[1:] if multi_objective else (), **r.common())

    return build


def _boshnas(r: StrategyRequest) -> Strategy:
    from surrogates.boshnas import Boshnas

    return Boshnas(r.space, r.pool, task=r.task, **r.common())


def _botorch(r: StrategyRequest) -> Strategy:
    from surrogates.botorch_mo import BotorchMultiObjective

    return BotorchMultiObjective(r.space, r.pool, task=r.task, secondary=r.objectives[1:], **r.common())


STRATEGIES: dict[str, StrategyEntry] = {
    entry.name: entry
    for entry in (
        StrategyEntry("boshnas", "graph-embedding Bayesian surrogate with epistemic and aleatoric uncertainty (primary objective)", _boshnas),
        StrategyEntry("botorch", "BoTorch multi-objective GPs with qLogNEHVI (every objective)", _botorch),
        StrategyEntry("evolution", "regularized evolution (primary objective)", _evolution),
        StrategyEntry("random", "uniform random search", _random),
        StrategyEntry("tpe", "Optuna's TPE sampler (primary objective)", _optuna("tpe", multi_objective=False)),
        StrategyEntry("nsga2", "Optuna's NSGA-II sampler (every objective)", _optuna("nsga2", multi_objective=True)),
    )
}
STRATEGY_NAMES: tuple[str, ...] = tuple(STRATEGIES)


def build_strategy(name: str, request: StrategyRequest) -> Strategy:
    try:
        entry = STRATEGIES[name]
    except KeyError:
        raise ValueError(f"strategy: {name!r} not in {{{', '.join(STRATEGY_NAMES)}}}") from None
    return entry.build(request)
