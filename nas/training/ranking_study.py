"""The supernet-ranking study: does inherited-weight accuracy rank subnets as standalone training
does? Which subnets are ranked, the training sample that tells under-fitting from over-fitting,
how a proxy is judged against standalone seeds, and when an earlier run's standalone references
may be reused. scripts/bench_supernet.py runs the study and prints its figures."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from scipy.stats import kendalltau

from nas.tasks.data import Split, TaskData
from search_spaces import Architecture, SearchSpace, TaskShape

SPREADS = ("quantiles", "range")


def spread_by_size(space: SearchSpace, task_shape: TaskShape, count: int, spread: str = "range", seed: int = 7) -> list[Architecture]:
    """`count` distinct archs over the size range. "quantiles": at evenly spaced size quantiles of
    400 random samples (random archs cluster mid-size, so this spans the sizes a search meets).
    "range": nearest to evenly spaced log-parameter counts from the space's smallest arch to its
    largest; the tails are filled from the space narrowed towards either end, since uniform
    samples almost never reach them."""
    rng = random.Random(seed)
    samples = [space.sample(rng) for _ in range(400)]
    if spread == "range":
        for keep in (0.0, 0.1, 0.2, 0.3, 0.4):
            for largest in (True, False):
                narrowed = space.narrowed(keep, largest)
                samples += [narrowed.sample(rng) for _ in range(40)]
    size = {a.arch_id: space.cost(a, task_shape).params for a in samples}
    pool = sorted({a.arch_id: a for a in samples}.values(), key=lambda a: size[a.arch_id])
    if spread == "quantiles":
        return [pool[round(i * (len(pool) - 1) / (count - 1))] for i in range(count)]
    low, high = math.log(size[pool[0].arch_id]), math.log(size[pool[-1].arch_id])
    chosen: list[Architecture] = []
    for i in range(count):
        target = low + i * (high - low) / (count - 1)
        free = [a for a in pool if a not in chosen]
        chosen.append(min(free, key=lambda a: abs(math.log(size[a.arch_id]) - target)))
    return chosen


def training_sample(task: TaskData, size: int, seed: int = 0) -> Split:
    """A fixed random subset of the training split, as large as the validation split: inherited
    accuracy on it beside validation accuracy tells under-fitting (both low) from over-fitting."""
    idx = torch.randperm(len(task.train), generator=torch.Generator().manual_seed(seed))[:size]
    return Split(task.train.inputs[idx], task.train.labels[idx])


BOOTSTRAP_RESAMPLES = 2000


def judged_on_other_seeds(
    inherited: list[float],
    params: list[int],
    per_seed: list[list[float]],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    others: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, dict[str, float]]:
    """Kendall tau of (a) the supernet's inherited accuracy, (b) parameter count, (c) one
    standalone training and (d) each of `others` (further proxies by name, one value per
    subnet), each against the mean of the *other* standalone seeds, averaged over which seed is
    left out: a standalone training and the supernet are judged on the same footing. 95%
    percentile intervals from resampling the subnets (with replacement)."""
    runs = np.array(per_seed, dtype=np.float64)  # (subnets, seeds)
    seeds = runs.shape[1]
    if seeds < 2:
        return {}
    proxies = {"supernet": np.array(inherited, dtype=np.float64), "params": np.array(params, dtype=np.float64)}
    proxies.update({name: np.array(values, dtype=np.float64) for name, values in (others or {}).items()})

    def taus(rows: np.ndarray) -> dict[str, float]:
        out: dict[str, list[float]] = {**{name: [] for name in proxies}, "one_standalone_seed": []}
        for left_out in range(seeds):
            reference = np.delete(runs[rows], left_out, axis=1).mean(axis=1)
            for name, values in proxies.items():
                out[name].append(kendalltau(values[rows], reference).statistic)
            out["one_standalone_seed"].append(kendalltau(runs[rows, left_out], reference).statistic)
        return {name: float(np.nanmean(values)) for name, values in out.items()}

    point = taus(np.arange(len(runs)))
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {name: [] for name in point}
    for _ in range(resamples):
        rows = rng.integers(0, len(runs), len(runs))
        if len(set(rows.tolist())) < 3:
            continue
        for name, value in taus(rows).items():
            samples[name].append(value)
    return {
        name: {"tau": point[name], "low": float(np.nanpercentile(samples[name], 2.5)), "high": float(np.nanpercentile(samples[name], 97.5))}
        for name in point
    }


def reused_references(earlier: dict, task_facts: dict, params: list[int], budget: dict) -> list[list[float]]:
    """Per subnet, the standalone accuracies of an earlier run's ranking entry, which must be of the
    same task, subnets and per-training budget (its number of seeds may differ)."""

    def per_training(b: dict) -> dict:
        return {k: v for k, v in b.items() if k != "seeds"}

    pairs = (("task", task_facts, earlier.get("task")), ("params", params, earlier.get("params")),
             ("standalone_budget", per_training(budget), per_training(earlier.get("standalone_budget", {}))))  # fmt: skip
    mismatched = [key for key, mine, theirs in pairs if mine != theirs]
    if mismatched:
        raise ValueError(f"the earlier run differs in {mismatched}; its references do not apply")
    return earlier["standalone_val_accuracy_per_seed"]
