"""Graph embeddings of architectures: an operation-aware Weisfeiler-Lehman kernel distance
between the spaces' computation graphs, embedded in R^d by landmark MDS so that Euclidean
distance between vectors tracks graph distance.

The embedding is inductive: an architecture never seen before gets its vector from its distances
to a fixed set of landmark architectures (de Silva & Tenenbaum's landmark MDS), with no
re-embedding of anything else. (FlexiBERT's Transformer2vec embeds a fixed library jointly and
must be rebuilt for every new architecture.)

Operation awareness: WL subtree features are counted at three label granularities — node kind
(head, ff, attn, ...), operation family (self-attention, linear transform, convolution, ...) and
the full label with sizes (sa-sdp:h256:d64). Two graphs that differ by `sa-sdp` vs `sa-wma` still
share their kind- and family-level features, so they are closer than graphs differing by `sa-sdp`
vs `dsc-9`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np
from scipy import sparse

from search_spaces import Architecture, SearchSpace

FEATURE_BITS = 16  # hashed WL-feature space of 2^16 buckets per granularity
# One WL iteration (a node's label with its neighbours'): deeper iterations give near-unique labels
# per architecture, and 16 dimensions then keep less of the distance (docs/benchmarks/search.md).
GRANULARITY_WEIGHTS = (1.0, 1.0, 1.0)  # kind, operation, full label


def node_labels(attrs: dict[str, Any]) -> tuple[str, str, str]:
    """(kind, operation family, full label) of a node, coarse to fine: a head `sa-sdp:h256:d64` is
    (head, head:sa, sa-sdp:h256:d64); nodes without a family use their label's name part."""
    full = attrs["op"]
    kind = attrs.get("kind", full)
    family = f"{kind}:{attrs['family']}" if "family" in attrs else full.split(":", 1)[0]
    return kind, family, full


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def wl_features(graph: nx.DiGraph, iterations: int = 1) -> dict[int, float]:
    """Hashed counts of WL subtree labels at every granularity and iteration (0..iterations).
    Labels propagate along both edge directions, kept apart (in-neighbours vs out-neighbours)."""
    counts: dict[int, float] = {}
    nodes = list(graph.nodes)
    preds = {v: list(graph.predecessors(v)) for v in nodes}
    succs = {v: list(graph.successors(v)) for v in nodes}
    per_node = {v: node_labels(graph.nodes[v]) for v in nodes}
    for level, weight in enumerate(GRANULARITY_WEIGHTS):
        labels = {v: f"{level}|{per_node[v][level]}" for v in nodes}
        for it in range(iterations + 1):
            for v in nodes:
                key = (_digest(f"{it}|{labels[v]}") % (1 << FEATURE_BITS)) + level * (1 << FEATURE_BITS)
                counts[key] = counts.get(key, 0.0) + weight
            if it < iterations:
                labels = {
                    v: hashlib.blake2b(
                        f"{labels[v]}<{','.join(sorted(labels[u] for u in preds[v]))}>{','.join(sorted(labels[u] for u in succs[v]))}".encode(),
                        digest_size=8,
                    ).hexdigest()
                    for v in nodes
                }
    return counts


def feature_matrix(graphs: Sequence[nx.DiGraph], iterations: int = 1) -> sparse.csr_matrix:
    """`(len(graphs), len(GRANULARITY_WEIGHTS) << FEATURE_BITS)`: each graph's hashed WL label counts."""
    rows, cols, vals = [], [], []
    for i, graph in enumerate(graphs):
        for key, value in wl_features(graph, iterations).items():
            rows.append(i)
            cols.append(key)
            vals.append(value)
    width = len(GRANULARITY_WEIGHTS) << FEATURE_BITS
    # Raw counts: Euclidean distance between these rows is the distance the WL subtree kernel
    # induces, which 16 dimensions keep; a sqrt of the counts would not (docs/benchmarks/search.md).
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(graphs), width))


def squared_distances(a: sparse.csr_matrix, b: sparse.csr_matrix) -> np.ndarray:
    """Pairwise squared Euclidean distances between the rows of a and b (dense, len(a) x len(b))."""
    aa = np.asarray(a.multiply(a).sum(axis=1)).ravel()
    bb = np.asarray(b.multiply(b).sum(axis=1)).ravel()
    cross = (a @ b.T).toarray()
    return np.maximum(aa[:, None] + bb[None, :] - 2 * cross, 0.0)


class GraphEmbedding:
    """Maps architectures of one space to R^dim; see the module docstring.

    `landmarks` are drawn from the space with `seed` (or given): the embedding depends on them
    alone, so it is reproducible and its state is just the landmark architectures.
    """

    def __init__(self, space: SearchSpace, dim: int = 16, landmarks: Sequence[Architecture] | int = 128, seed: int = 0, iterations: int = 1):
        self.space, self.dim, self.iterations, self.seed = space, dim, iterations, seed
        if isinstance(landmarks, int):
            import random

            rng = random.Random(seed)
            unique: dict[str, Architecture] = {}
            while len(unique) < landmarks:
                arch = space.sample(rng)
                unique.setdefault(arch.arch_id, arch)
            landmarks = list(unique.values())
        if len(landmarks) <= dim:
            raise ValueError(f"landmarks: {len(landmarks)} landmarks cannot span {dim} dimensions; use more than dim")
        self.landmarks = list(landmarks)
        self._landmark_features = self.features(self.landmarks)
        delta = squared_distances(self._landmark_features, self._landmark_features)
        # Classical MDS of the landmarks: double-centre the squared distances, take the top eigenpairs.
        n = len(self.landmarks)
        centring = np.eye(n) - 1.0 / n
        eigvals, eigvecs = np.linalg.eigh(-0.5 * centring @ delta @ centring)
        order = np.argsort(eigvals)[::-1][:dim]
        eigvals, eigvecs = np.clip(eigvals[order], 1e-12, None), eigvecs[:, order]
        self._projection = (eigvecs / np.sqrt(eigvals)).T  # dim x n: the pseudo-inverse of the landmark coordinates
        self._mean_delta = delta.mean(axis=0)
        self.explained = float(eigvals.sum() / max(np.trace(-0.5 * centring @ delta @ centring), 1e-12))

    def features(self, archs: Sequence[Architecture]) -> sparse.csr_matrix:
        """`(len(archs), len(GRANULARITY_WEIGHTS) << FEATURE_BITS)` sparse Weisfeiler-Lehman label counts (`feature_matrix`)."""
        return feature_matrix([self.space.to_graph(a) for a in archs], self.iterations)

    def graph_distances(self, a: Sequence[Architecture], b: Sequence[Architecture]) -> np.ndarray:
        """`(len(a),)`: the WL graph distance (not the embedding) between a[i] and b[i]."""
        fa, fb = self.features(a), self.features(b)
        diff = fa - fb
        return np.sqrt(np.asarray(diff.multiply(diff).sum(axis=1)).ravel())

    def embed(self, archs: Sequence[Architecture]) -> np.ndarray:
        """(len(archs), dim) vectors; works for any architecture of the space, seen or not."""
        if not archs:
            return np.zeros((0, self.dim))
        delta = squared_distances(self.features(archs), self._landmark_features)
        return -0.5 * (delta - self._mean_delta) @ self._projection.T

    def state_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "iterations": self.iterations, "seed": self.seed, "landmarks": [a.to_dict() for a in self.landmarks]}

    @classmethod
    def from_state_dict(cls, space: SearchSpace, state: dict[str, Any]) -> GraphEmbedding:
        return cls(space, dim=state["dim"], landmarks=[space.validate(a) for a in state["landmarks"]], seed=state["seed"], iterations=state["iterations"])
