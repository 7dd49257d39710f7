"""What a search user asks of a finished (or running) job beyond its front: how fast the front
grew (hypervolume after each candidate), which architecture choices matter for the primary
objective (a random forest's importances), and how the supernet trained (loss and health per
epoch). The dashboard and `nas report` draw these; the service reads the store for them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from nas.results.pareto import non_dominated_mask

MAX_HISTORY_POINTS = 200  # a curve of more points draws no differently
MIN_FOR_IMPORTANCE = 8  # fewer candidates than this say nothing about what matters
SOBOL_SAMPLE_POWER = 14  # hypervolume of 3+ objectives: a fixed quasi-random sample of 2**14 points, within about 1%


@dataclass(frozen=True)
class HypervolumePoint:
    candidate: int  # the job's candidate number after which it was measured
    hypervolume: float  # the share of the objective box the front dominates, 0 to 1


@dataclass(frozen=True)
class Importance:
    feature: str
    importance: float  # shares summing to 1 over the features


@dataclass(frozen=True)
class SupernetPoint:
    step: int
    loss: float | None
    largest: float | None  # validation accuracy of the largest subnet, where the epoch's check ran
    smallest: float | None
    majority_rate: float | None


def hypervolume_history(values: np.ndarray, maximize: Sequence[bool], numbers: Sequence[int]) -> list[HypervolumePoint]:
    """The hypervolume of the front of the first i points, for each i (at most MAX_HISTORY_POINTS
    of them, evenly spread, the last always included). `values`: n points x k objectives in
    candidate order; the box spans the best and worst value of each objective over all n points,
    so 1 would be one point best on every objective."""
    points = np.asarray(values, dtype=np.float64)
    if len(points) == 0:
        return []
    scaled = scale_to_box(points, maximize, points.min(axis=0), points.max(axis=0))
    n = len(points)
    marks = sorted({int(i) for i in np.linspace(1, n, min(n, MAX_HISTORY_POINTS))})
    return [HypervolumePoint(int(numbers[i - 1]), _hypervolume(scaled[:i])) for i in marks]


def scale_to_box(points: np.ndarray, maximize: Sequence[bool], low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """`points` (n x k) within the box [low, high] of each objective, normalised so that larger
    is better on every axis, clipped to [0, 1] (a point outside the box adds nothing beyond it)."""
    up = np.asarray(maximize, dtype=bool)
    span = np.where(high > low, high - low, 1.0)
    return np.clip(np.where(up, (points - low) / span, (high - points) / span), 0.0, 1.0)


def hypervolume_in_box(points: np.ndarray, maximize: Sequence[bool], low: np.ndarray, high: np.ndarray) -> float:
    """The share of the box [low, high] that `points` (n x k) dominate: fronts measured in one
    box compare; 0 for no points."""
    points = np.asarray(points, dtype=np.float64)
    return _hypervolume(scale_to_box(points, maximize, low, high)) if len(points) else 0.0


def _hypervolume(scaled: np.ndarray) -> float:
    """Dominated share of the unit box (reference point at the origin, maximising)."""
    front = scaled[non_dominated_mask(scaled, [True] * scaled.shape[1])]
    if scaled.shape[1] == 1:
        return float(front[:, 0].max())
    if scaled.shape[1] == 2:
        order = np.argsort(-front[:, 0])  # by the first objective, best first: the second rises
        area, height = 0.0, 0.0
        for x, y in front[order]:
            if y > height:
                area += x * (y - height)
                height = y
        return float(area)
    from scipy.stats import qmc

    sample = qmc.Sobol(d=scaled.shape[1], seed=0).random_base2(SOBOL_SAMPLE_POWER)
    dominated = np.zeros(len(sample), dtype=bool)
    for point in front:
        dominated |= np.all(sample <= point, axis=1)
    return float(dominated.mean())


def choice_importance(features: Sequence[Mapping[str, float]], target: Sequence[float]) -> list[Importance]:
    """How much each architecture feature explains `target` (the primary objective): a random
    forest's impurity importances, largest first; empty below MIN_FOR_IMPORTANCE candidates or
    when nothing varies."""
    names = sorted({name for row in features for name in row})
    if len(target) < MIN_FOR_IMPORTANCE or not names:
        return []
    x = np.array([[row.get(name, np.nan) for name in names] for row in features], dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    varying = [j for j in range(len(names)) if np.nanstd(x[:, j]) > 0]
    if not varying or np.std(y) == 0:
        return []
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(n_estimators=200, min_samples_leaf=2, random_state=0)
    forest.fit(np.nan_to_num(x[:, varying]), y)
    shares = forest.feature_importances_
    ranked = sorted(zip((names[j] for j in varying), shares), key=lambda item: -item[1])
    return [Importance(name, float(share)) for name, share in ranked]


def supernet_curve(progress: Sequence[Mapping[str, Any]]) -> list[SupernetPoint]:
    """One point per supernet progress record (each epoch's checkpoint), in step order."""
    points = {}
    for record in progress:
        health = record.get("health") or {}
        points[int(record["step"])] = SupernetPoint(
            int(record["step"]), record.get("loss"), health.get("largest"), health.get("smallest"), health.get("majority_rate")
        )
    return [points[step] for step in sorted(points)]


def as_dicts(items: Sequence[Any]) -> list[dict[str, Any]]:
    return [asdict(item) for item in items]
