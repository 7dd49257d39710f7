"""Which candidates a rung of successive halving promotes, by the job's objectives rather than one
metric: the rung's results ordered by non-dominated rank (its front first, then the front of the
rest, ...), and within a front by the hypervolume each point alone adds; the first 1/eta of that
order earn the next fidelity (the asynchronous rule of ASHA, Li et al. 2020: a result is promoted
as soon as it is in the top 1/eta of what its rung has seen, without waiting for the rung to fill).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from nas.results.analysis import hypervolume_in_box
from nas.results.pareto import non_dominated_mask
from nas.store import RungScoreRecord


def front_ranks(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """The non-dominated rank of each row of `values` (n points x k objectives): 0 for the front,
    1 for the front of what is left without it, and so on."""
    points = np.asarray(values, dtype=np.float64)
    ranks = np.full(len(points), -1, dtype=np.int64)
    left = np.arange(len(points))
    rank = 0
    while len(left):
        on_front = non_dominated_mask(points[left], maximize)
        ranks[left[on_front]] = rank
        left = left[~on_front]
        rank += 1
    return ranks


def hypervolume_contributions(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """What each row of a front (n points x k objectives, none dominating another) adds to the
    front's hypervolume alone, in the box its points span with a tenth more room beyond the worst
    of each objective (the share that is lost without it); infinite for a front's ends, the best
    on some objective (the most accurate candidate, the fastest), as NSGA-II's crowding distance
    keeps them: a hypervolume share would rank an end by the arbitrary room beyond it."""
    points = np.asarray(values, dtype=np.float64)
    if len(points) <= 1:
        return np.full(len(points), np.inf)
    low, high = points.min(axis=0), points.max(axis=0)
    margin = np.where(high > low, (high - low) * 0.1, 1.0)
    up = np.asarray(maximize, dtype=bool)
    low, high = np.where(up, low - margin, low), np.where(up, high, high + margin)
    whole = hypervolume_in_box(points, maximize, low, high)
    added = np.array([whole - hypervolume_in_box(np.delete(points, i, axis=0), maximize, low, high) for i in range(len(points))])
    best = np.where(up, points.max(axis=0), points.min(axis=0))
    added[(points == best).any(axis=1)] = np.inf
    return added


def promotion_order(values: np.ndarray, maximize: Sequence[bool]) -> list[int]:
    """The rows of `values` (a rung's results: n points x k objectives) best first: by
    non-dominated rank, then by hypervolume contribution within a rank (larger first), then by
    row (earlier first, so that ties are broken the same way in every run)."""
    points = np.asarray(values, dtype=np.float64)
    if len(points) == 0:
        return []
    ranks = front_ranks(points, maximize)
    contribution = np.zeros(len(points))
    for rank in np.unique(ranks):
        members = np.flatnonzero(ranks == rank)
        contribution[members] = hypervolume_contributions(points[members], maximize)
    return sorted(range(len(points)), key=lambda i: (int(ranks[i]), -float(contribution[i]), i))


def promotable(values: np.ndarray, maximize: Sequence[bool], eta: int) -> list[int]:
    """The rows a rung promotes now: the first len(values) // eta of `promotion_order` (none
    until the rung holds eta results)."""
    if eta < 2:
        raise ValueError(f"eta: {eta} must be >= 2 (each rung keeps 1/eta of the one before)")
    return promotion_order(values, maximize)[: len(values) // eta]


def top_rung_accuracies(scores: Sequence[RungScoreRecord], at_least: int = 1) -> dict[int, float]:
    """{candidate id: accuracy} of the candidates scored at the highest rung that holds at least
    `at_least` of them (their most trusted accuracy, which the verified stage picks by; a rung
    that `budget.cpu_minutes` cut short may hold fewer), else at the highest any reached; empty
    without rungs."""
    reached = [s for s in scores if s.accuracy is not None]
    if not reached:
        return {}
    counts = Counter(s.rung for s in reached)
    top = max((rung for rung, n in counts.items() if n >= at_least), default=max(counts))
    return {s.candidate_id: s.accuracy for s in reached if s.rung == top and s.accuracy is not None}
