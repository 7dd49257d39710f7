"""Plain Gaussian-process baseline: a GP on a one-hot encoding of the architecture's choices (no
graph embedding) with expected improvement. It is the ablation that shows what the graph
embedding and BOSHNAS add.

Candidates are the unevaluated members of the pool, or a fresh random sample of the space.
Batches (n > 1) are chosen with q-LogEI, which conditions on the points already picked, and
pending evaluations are passed as points to avoid.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch
from botorch.acquisition import qLogExpectedImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms import Standardize
from botorch.optim import optimize_acqf_discrete
from gpytorch.mlls import ExactMarginalLogLikelihood

from search_spaces import Architecture, SearchSpace
from surrogates.base import ModelBasedStrategy
from surrogates.encoding import OneHotEncoder


class OneHotGP(ModelBasedStrategy):
    name = "onehot-gp"

    def __init__(self, space: SearchSpace, pool: Sequence[Architecture] | None = None, *, initial: int = 10, candidates: int = 2000, **common: Any):
        super().__init__(space, pool, initial=initial, candidates=candidates, **common)
        self.encode = OneHotEncoder.for_space(space, self.pool, self.seed, samples=candidates)

    def scoring_candidates(self, taken: set[str], rng: random.Random) -> list[Architecture]:
        return self.fresh_random(self.candidates, taken, rng)  # a fresh random sample at every ask

    def pick(self, n: int, candidates: list[Architecture], pending: list[Architecture], rng: random.Random) -> list[Architecture]:
        archs, scores = zip(*self.scores())
        train_x = self.encode(archs)
        train_y = torch.tensor(scores, dtype=torch.float64)[:, None]
        with torch.random.fork_rng():
            torch.manual_seed(rng.getrandbits(31))
            model = SingleTaskGP(train_x, train_y, outcome_transform=Standardize(m=1))
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
            # Pending evaluations are integrated out, so a batch spreads over distinct regions.
            acquisition = qLogExpectedImprovement(model, best_f=train_y.max(), X_pending=self.encode(pending) if pending else None)
            choices = self.encode(candidates)
            picked, _ = optimize_acqf_discrete(acquisition, q=n, choices=choices, unique=True)
        rows = {tuple(r.tolist()): i for i, r in enumerate(choices)}
        return [candidates[rows[tuple(r.tolist())]] for r in picked]
