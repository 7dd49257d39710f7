"""Baseline strategies: random search and regularized evolution (Real et al., 2019)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from search_spaces import Architecture, SearchSpace
from surrogates.base import Strategy
from surrogates.encoding import flat_choices, nearest_by_hamming


class RandomSearch(Strategy):
    name = "random"

    def propose(self, n: int, taken: set[str], pending: list[Architecture], rng: random.Random) -> list[Architecture]:
        return self.fresh_random(n, taken, rng)


class RegularizedEvolution(Strategy):
    """Aging evolution: the population is the `population` most recent results; each child is a
    mutation of the best of `sample_size` members drawn at random; the oldest member dies as a new
    one arrives (a sliding window over the results, in the order they were told). Until the
    population is full, proposals are random."""

    name = "evolution"

    def __init__(self, space: SearchSpace, pool: Sequence[Architecture] | None = None, *, population: int = 20, sample_size: int = 5, **common: Any):
        super().__init__(space, pool, **common)
        if not 2 <= sample_size <= population:
            raise ValueError(f"sample_size: {sample_size} must be within [2, population={population}]")
        self.population, self.sample_size = population, sample_size
        self.pool_choices = {a.arch_id: flat_choices(a) for a in self.pool or []}

    def propose(self, n: int, taken: set[str], pending: list[Architecture], rng: random.Random) -> list[Architecture]:
        members = self.scores()[-self.population :]
        if len(members) < self.population:
            return self.fresh_random(n, taken, rng)
        out: dict[str, Architecture] = {}
        for _ in range(50 * n):
            if len(out) == n:
                break
            parent = max(rng.sample(members, self.sample_size), key=lambda m: m[1])[0]
            child = self.space.mutate(parent, rng)
            if self.pool is not None:
                child = self.nearest_free(child, taken | set(out), rng)
            if child is not None and child.arch_id not in taken and child.arch_id not in out and self.feasible(child):
                out[child.arch_id] = child
        return list(out.values())

    def nearest_free(self, arch: Architecture, taken: set[str], rng: random.Random) -> Architecture | None:
        """The unevaluated pool member closest to `arch` in flat-choice Hamming distance (a
        mutation rarely lands in a sparse pool), ties broken at random."""
        free = [a for a in self.pool or [] if a.arch_id not in taken]
        return nearest_by_hamming(flat_choices(arch), free, self.pool_choices, rng)
