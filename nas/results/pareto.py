"""Pareto dominance on a matrix of objective values.

A point dominates another when it is at least as good on every objective and strictly better on
one. Equal points do not dominate each other, so every copy of a non-dominated point is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def non_dominated_mask(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """Boolean mask of the rows of `values` (n points x k objectives) that no other row dominates.

    One objective: the rows equal to the best value. Two: one lexicographic sort and a running
    minimum, O(n log n). More: blocks of survivors taken in lexicographic order; each block's
    front eliminates what it dominates from the rest, vectorised (O(n * front size * k)).
    """
    points = np.asarray(values, dtype=np.float64)
    if points.ndim != 2:
        raise ValueError(f"values: expected a 2-d array (points x objectives), got shape {points.shape}")
    n, k = points.shape
    if len(maximize) != k:
        raise ValueError(f"maximize: {len(maximize)} flags for {k} objectives")
    if k == 0:
        raise ValueError("values: at least one objective is needed")
    if np.isnan(points).any():
        raise ValueError("values: NaN has no order; drop those points first")
    if n == 0:
        return np.zeros(0, dtype=bool)
    # Everything below minimises.
    points = np.where(np.asarray(maximize, dtype=bool), -points, points)
    if k == 1:
        return points[:, 0] == points[:, 0].min()
    if k == 2:
        return _two_objectives(points)
    return _many_objectives(points)


def _two_objectives(points: np.ndarray) -> np.ndarray:
    order = np.lexsort((points[:, 1], points[:, 0]))  # by first objective, then second
    first, second = points[order, 0], points[order, 1]
    new_group = np.r_[True, first[1:] != first[:-1]]  # groups of equal first value
    group = np.cumsum(new_group) - 1
    group_best = second[new_group]  # sorted: each group's first row has its lowest second value
    # A group survives only if every group with a strictly better first value is worse on the second.
    group_kept = np.r_[True, group_best[1:] < np.minimum.accumulate(group_best)[:-1]]
    # Within a surviving group, the rows tied at its best second value (copies included).
    keep_sorted = group_kept[group] & (second == group_best[group])
    mask = np.empty(len(points), dtype=bool)
    mask[order] = keep_sorted
    return mask


def _many_objectives(points: np.ndarray, block: int = 32) -> np.ndarray:
    survivors = np.lexsort(points.T[::-1])  # lexicographic: first objective most significant
    mask = np.zeros(len(points), dtype=bool)
    while survivors.size:
        # Only a lexicographically earlier point can dominate, and whatever was eliminated is
        # dominated by a front point already applied to every survivor (dominance is
        # transitive); so the head block's members that no other member dominates are on the front.
        head, rest = survivors[:block], survivors[block:]
        front = head[~_dominated_by(points[head], points[head])]
        mask[front] = True
        survivors = rest[~_dominated_by(points[rest], points[front])]
    return mask


def _dominated_by(rows: np.ndarray, by: np.ndarray) -> np.ndarray:
    """For each of `rows`: is it dominated by one of `by` (minimising)? Built one objective at a
    time: (rows x by) matrices stay small where a (rows x by x objectives) one would not."""
    no_worse = np.ones((len(rows), len(by)), dtype=bool)
    better = np.zeros((len(rows), len(by)), dtype=bool)
    for j in range(rows.shape[1]):
        mine, theirs = rows[:, j, None], by[None, :, j]
        no_worse &= theirs <= mine
        better |= theirs < mine
    return (no_worse & better).any(axis=1)


def spread_along(costs: Sequence[float], k: int) -> list[int]:
    """Indices of `k` points spread along a front by one of its costs: the cheapest, the
    costliest (on a two-objective front, also the most accurate) and evenly between, by rank.
    Fewer than `k` points: all of them."""
    if k <= 0:
        return []
    order = sorted(range(len(costs)), key=lambda i: (costs[i], i))
    if len(order) <= k:
        return order
    if k == 1:
        return [order[-1]]
    ranks = sorted({round(j * (len(order) - 1) / (k - 1)) for j in range(k)})
    return [order[r] for r in ranks]
