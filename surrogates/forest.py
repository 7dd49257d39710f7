"""Random-forest baseline in the manner of SMAC (Hutter et al., 2011): a random forest on the
one-hot choices and the exact log params / FLOPs (no graph embedding), scored by an upper
confidence bound over its trees, mean + k * spread.

On NAS-Bench-BERT the forest ranks held-out architectures best of our surrogates yet does not
search better (docs/benchmarks/search.md): ranking a pool's bulk and ranking its top differ.

Batches (n > 1) and pending evaluations use the kriging believer: each pending or already picked
architecture joins the training set with the forest's own prediction as its value, which shrinks
the spread around it, and the forest is refit before the next pick.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestRegressor

from search_spaces import Architecture, SearchSpace, TaskShape
from surrogates.base import ModelBasedStrategy
from surrogates.encoding import OneHotEncoder
from surrogates.features import SurrogateFeatures, clip_low_outliers

TREES = 200


def fit_forest(x: np.ndarray, y: np.ndarray, seed: int, trees: int = TREES) -> RandomForestRegressor:
    """A forest on x `(n, d)`, y `(n,)`. A third of the columns per split and at least 3 archs per leaf: the best of the settings
    tried on NAS-Bench-BERT (docs/benchmarks/search.md)."""
    return RandomForestRegressor(trees, min_samples_leaf=3, max_features=0.33, random_state=seed).fit(x, y)


def tree_mean_and_spread(forest: RandomForestRegressor, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The trees' mean and standard deviation, each `(n,)`, for feature rows x `(n, d)`."""
    per_tree = np.stack([tree.predict(x) for tree in forest.estimators_])
    return per_tree.mean(0), per_tree.std(0)


class RandomForestSearch(ModelBasedStrategy):
    name = "forest"

    def __init__(
        self,
        space: SearchSpace,
        pool: Sequence[Architecture] | None = None,
        *,
        task: TaskShape | None = None,
        initial: int = 10,
        candidates: int = 1000,
        # The spread bonus hardly matters on NAS-Bench-BERT (docs/benchmarks/search.md).
        k: float = 0.5,
        trees: int = TREES,
        max_fit: int = 300,
        **common: Any,
    ):
        super().__init__(space, pool, initial=initial, candidates=candidates, **common)
        encoder = OneHotEncoder.for_space(space, self.pool, self.seed)
        self.features = SurrogateFeatures(space, task=task, seed=self.seed, one_hot=encoder, graph=False)
        self.k, self.trees, self.max_fit = k, trees, max_fit

    def pick(self, n: int, free: list[Architecture], pending: list[Architecture], rng: random.Random) -> list[Architecture]:
        archs, scores = zip(*self.fit_set(self.max_fit, rng))
        x, y = self.features(list(archs)), clip_low_outliers(np.array(scores))
        cand = self.features(free)
        forest = fit_forest(x, y, rng.getrandbits(31), self.trees)
        if pending:
            believed = self.features(pending)
            x, y = np.vstack([x, believed]), np.concatenate([y, forest.predict(believed)])
            forest = fit_forest(x, y, rng.getrandbits(31), self.trees)
        picks: list[int] = []
        while True:
            mean, spread = tree_mean_and_spread(forest, cand)
            score = mean + self.k * spread
            score[picks] = -np.inf
            picks.append(int(np.argmax(score)))
            if len(picks) == n:
                return [free[i] for i in picks]
            x, y = np.vstack([x, cand[picks[-1:]]]), np.append(y, mean[picks[-1]])
            forest = fit_forest(x, y, rng.getrandbits(31), self.trees)
