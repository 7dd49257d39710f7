"""Multi-objective Bayesian optimisation with BoTorch: a GP on the surrogate features for each
learned objective (accuracy, latency), exact values for the objectives the cost model knows
(params, FLOPs), and q-LogNEHVI (q-LogNParEGO beyond three objectives) over a candidate pool.

Known objectives enter as deterministic models that read their column of the feature row (log
params / log FLOPs): the acquisition sees them without error and no GP is wasted on them. A GP is
fit on at most `max_fit` observations (the best half by the primary objective and a seeded
random rest), so proposals stay fast with thousands of results.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.parego import qLogNParEGO
from botorch.fit import fit_gpytorch_mll
from botorch.models import ModelList, SingleTaskGP
from botorch.models.deterministic import GenericDeterministicModel
from botorch.models.transforms import Standardize
from botorch.optim import optimize_acqf_discrete
from gpytorch.kernels import RBFKernel, ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood

from search_spaces import Architecture, SearchSpace, TaskShape
from surrogates.base import ModelBasedStrategy, Objective
from surrogates.embedding import GraphEmbedding
from surrogates.features import Standardizer, SurrogateFeatures, clip_low_outliers

COMPUTED = {"params": "log_params", "flops": "log_flops"}  # objectives read off the cost model


def gp_on_features(x: torch.Tensor, y: torch.Tensor) -> SingleTaskGP:
    """An exact GP on x `(n, d)` float64 (standardised feature rows) and y `(n,)`, with one length
    scale: the features are standardised, and one scale estimated
    from a few dozen points generalises better here than one per dimension (see
    docs/benchmarks/search.md)."""
    model = SingleTaskGP(x, y[:, None], covar_module=ScaleKernel(RBFKernel()), outcome_transform=Standardize(m=1))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model


class BotorchMultiObjective(ModelBasedStrategy):
    """Objectives: `objective` (primary, learned) plus `secondary` (params/FLOPs computed, others learned)."""

    name = "botorch"

    def __init__(
        self,
        space: SearchSpace,
        pool: Sequence[Architecture] | None = None,
        *,
        secondary: Sequence[Objective] = (Objective("params", maximize=False),),
        embedding: GraphEmbedding | None = None,
        task: TaskShape | None = None,
        initial: int = 10,
        candidates: int = 500,
        max_fit: int = 300,
        **common: Any,
    ):
        super().__init__(space, pool, initial=initial, candidates=candidates, **common)
        self.objectives = [self.objective, *secondary]
        if len({o.metric for o in self.objectives}) != len(self.objectives):
            raise ValueError(f"objectives: metrics must be distinct, got {[o.metric for o in self.objectives]}")
        self.features = SurrogateFeatures(space, embedding, task, seed=self.seed)
        self.max_fit = max_fit

    def pick(self, n: int, free: list[Architecture], pending: list[Architecture], rng: random.Random) -> list[Architecture]:
        fit_ids = {a.arch_id for a, _ in self.fit_set(self.max_fit, rng)}
        archs, metrics = zip(*(item for arch_id, item in self.observed.items() if arch_id in fit_ids))
        standardize = Standardizer(self.features(list(archs)))
        x = torch.tensor(standardize(self.features(list(archs))), dtype=torch.float64)
        with torch.random.fork_rng():
            torch.manual_seed(rng.getrandbits(31))
            model = ModelList(*(self._model(o, x, list(metrics)) for o in self.objectives))
            with torch.no_grad():
                outcomes = model.posterior(x).mean
            acquisition = self._acquisition(model, x, outcomes, pending, standardize)
            choices = torch.tensor(standardize(self.features(free)), dtype=torch.float64)
            picked, _ = optimize_acqf_discrete(acquisition, q=n, choices=choices, unique=True, max_batch_size=256)
        rows = {tuple(r.tolist()): i for i, r in enumerate(choices)}
        return [free[rows[tuple(r.tolist())]] for r in picked]

    def _model(self, objective: Objective, x: torch.Tensor, metrics: list[dict[str, float]]):
        """A deterministic reader of the cost column, or a GP on the (outlier-clipped) scores; one
        output, maximised (`(b, q, 1)` posterior for `(b, q, d)` inputs, BoTorch's convention)."""
        sign = 1.0 if objective.maximize else -1.0
        if objective.metric in COMPUTED:
            column = self.features.column(COMPUTED[objective.metric])
            return GenericDeterministicModel(lambda z, c=column: sign * z[..., c : c + 1], num_outputs=1)
        scores = np.array([objective.score(m) for m in metrics])
        return gp_on_features(x, torch.tensor(clip_low_outliers(scores), dtype=torch.float64))

    def _acquisition(self, model: ModelList, baseline: torch.Tensor, outcomes: torch.Tensor, pending: list[Architecture], standardize: Standardizer):
        """baseline `(n, d)`: the observed points; outcomes `(n, k)`: the model's means there, one
        column per objective (maximised); pending points go in as X_pending `(p, d)`."""
        x_pending = torch.tensor(standardize(self.features(pending)), dtype=torch.float64) if pending else None
        if len(self.objectives) == 1:
            return qLogNoisyExpectedImprovement(model, X_baseline=baseline, X_pending=x_pending, prune_baseline=True, cache_root=False)
        if len(self.objectives) > 3:
            return qLogNParEGO(model, X_baseline=baseline, X_pending=x_pending, prune_baseline=True)
        # Reference point: a little worse than the worst observed value of each objective.
        low, high = outcomes.min(0).values, outcomes.max(0).values
        ref_point = (low - 0.1 * (high - low).clamp_min(1e-6)).tolist()
        return qLogNoisyExpectedHypervolumeImprovement(model, ref_point=ref_point, X_baseline=baseline, X_pending=x_pending, prune_baseline=True, cache_root=False)
