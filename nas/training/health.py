"""Did the supernet learn? Its largest and smallest subnets, scored on the validation split,
must beat always answering the most frequent class clearly: by `STANDARD_ERRORS` standard errors
of an accuracy measured on that many examples at the majority rate. A supernet that fails the
check would rank candidates by noise, so the job fails before any search budget is spent."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch

from nas.job.metrics import ACCURACY
from nas.tasks.data import Split
from nas.training.standalone import evaluate_subnet
from search_spaces.supernet import Supernet

STANDARD_ERRORS = 3.0  # one-sided, chance to fail a supernet that is truly at the majority rate: 0.13%
# The check after each epoch reads at most this many validation examples: it shows the trend
# without adding much to an epoch of a large task; the final check reads the whole split.
EPOCH_CHECK_EXAMPLES = 2000


@dataclass(frozen=True)
class Health:
    majority_rate: float  # accuracy of always predicting the validation split's most frequent class
    threshold: float  # what each subnet must exceed
    largest: float  # validation accuracy of the largest subnet, inherited weights
    smallest: float
    examples: int

    @property
    def learned(self) -> bool:
        return self.largest > self.threshold and self.smallest > self.threshold

    def to_dict(self) -> dict[str, float | int | bool]:
        return {**asdict(self), "learned": self.learned}


def majority_rate(split: Split) -> float:
    return float(torch.bincount(split.labels).max().item()) / max(1, len(split))


def check_supernet(supernet: Supernet, val: Split, seed: int = 0) -> Health:
    rate, n = majority_rate(val), len(val)
    threshold = rate + STANDARD_ERRORS * math.sqrt(rate * (1 - rate) / max(1, n))
    rng = random.Random(seed)  # unordered decisions of the extremes (operation types) are drawn
    largest = evaluate_subnet(supernet, supernet.space.extreme(rng, largest=True), val)
    smallest = evaluate_subnet(supernet, supernet.space.extreme(rng, largest=False), val)
    return Health(majority_rate=rate, threshold=min(threshold, 1.0), largest=largest, smallest=smallest, examples=n)


def epoch_check(val: Split, seed: int = 0) -> Callable[[Supernet], dict[str, Any]]:
    """What `SupernetTrainer.train` runs after each epoch: the check on a fixed validation sample."""
    sample = val.sample(EPOCH_CHECK_EXAMPLES, seed)
    return lambda supernet: check_supernet(supernet, sample, seed).to_dict()


def remedy(health: Health, epochs: int, lr: float) -> str:
    """The failed check as one line naming the settings to change."""
    return (
        f"supernet did not learn: its largest subnet scores {ACCURACY.format(health.largest)} and its smallest {ACCURACY.format(health.smallest)} on "
        f"{health.examples:,} validation examples, where always answering the most frequent class scores {ACCURACY.format(health.majority_rate)} "
        f"(each must exceed {ACCURACY.format(health.threshold)}); train it longer (supernet.epochs, now {epochs}) or change "
        f"supernet.lr (now {lr:g})"
    )
