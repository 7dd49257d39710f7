"""Surrogate inputs and targets shared by the model-based strategies.

Inputs: the graph embedding of an architecture plus its exactly known costs (log parameters and
log FLOPs from the space's analytic cost model). Costs are free to compute and carry the size
signal that dominates accuracy (depth and width), which a 16-dimensional embedding of the whole
graph only partly keeps. Optionally the one-hot encoding of the architecture's choices follows:
a network can weigh single choices (one layer's operation, one layer's feed-forward size) that a
distance-preserving embedding blurs together (see docs/benchmarks/search.md).

Targets: low outliers are clipped before fitting. Some trainings diverge (NAS-Bench-BERT has
2-layer models ~10 GLUE below their neighbours); a Gaussian model would spend its length scales
explaining them, and they say nothing about where the best architectures are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from search_spaces import Architecture, SearchSpace, TaskShape
from surrogates.embedding import GraphEmbedding
from surrogates.encoding import OneHotEncoder

COST_COLUMNS = ("log_params", "log_flops")
OUTLIER_MADS = 2.5  # clip targets more than this many robust standard deviations below the median


class SurrogateFeatures:
    """Architecture -> [embedding..., log params, log FLOPs, one-hot choices...]; rows are cached by
    arch id. Without `one_hot` the row ends at the costs; with `graph=False` it starts at them (for
    models that split on single columns and gain nothing from a dense embedding)."""

    def __init__(
        self,
        space: SearchSpace,
        embedding: GraphEmbedding | None = None,
        task: TaskShape | None = None,
        seed: int = 0,
        one_hot: OneHotEncoder | None = None,
        graph: bool = True,
    ):
        self.space = space
        self.embedding = (embedding or GraphEmbedding(space, seed=seed)) if graph else None
        self.task = task or space.default_task()
        self.one_hot = one_hot
        self._rows: dict[str, np.ndarray] = {}

    @property
    def embedding_dim(self) -> int:
        return self.embedding.dim if self.embedding else 0

    @property
    def dim(self) -> int:
        return self.embedding_dim + len(COST_COLUMNS) + (self.one_hot.dim if self.one_hot else 0)

    def column(self, name: str) -> int:
        """Index of a cost column (e.g. "log_params") in a feature row."""
        return self.embedding_dim + COST_COLUMNS.index(name)

    def __call__(self, archs: Sequence[Architecture]) -> np.ndarray:
        """`(len(archs), dim)` float64 rows, unstandardised (`Standardizer` centres them)."""
        missing = list({a.arch_id: a for a in archs if a.arch_id not in self._rows}.values())
        if missing:
            vectors = self.embedding.embed(missing) if self.embedding else np.zeros((len(missing), 0))
            choices = self.one_hot(missing).numpy() if self.one_hot else np.zeros((len(missing), 0))
            for arch, vector, chosen in zip(missing, vectors, choices):
                cost = self.space.cost(arch, self.task)
                self._rows[arch.arch_id] = np.concatenate([vector, [np.log(cost.params), np.log(max(cost.flops, 1))], chosen])
        return np.stack([self._rows[a.arch_id] for a in archs]) if archs else np.zeros((0, self.dim))


class Standardizer:
    """Per-column centring and scaling fitted on the observed rows `(n, d)` (constant columns
    keep scale 1); applies to any `(m, d)` rows."""

    def __init__(self, rows: np.ndarray):
        self.center = rows.mean(0)
        std = rows.std(0)
        self.scale = np.where(std > 1e-9, std, 1.0)

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        return (rows - self.center) / self.scale


def clip_low_outliers(values: np.ndarray) -> np.ndarray:
    """Values `(n,)` below median - OUTLIER_MADS robust sigmas (1.4826 * MAD) are raised to that bound."""
    median = np.median(values)
    sigma = 1.4826 * np.median(np.abs(values - median))
    if sigma <= 0:
        return values
    return np.maximum(values, median - OUTLIER_MADS * sigma)
