"""A space-independent flat encoding of architectures: every leaf of the canonical JSON as
`path -> value` (e.g. `layers[2].heads -> 4`). Used for one-hot features, categorical samplers
and a Hamming distance between architectures."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from search_spaces import Architecture, SearchSpace


def flat_choices(arch: Architecture) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            out[f"{path}.length"] = len(value)
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")
        else:
            out[path] = value

    walk(arch.to_dict(), "")
    return out


class OneHotEncoder:
    """One column per (path, value) seen in a reference set of architectures."""

    def __init__(self, reference: Sequence[Architecture]):
        vocabulary = sorted({(path, repr(value)) for arch in reference for path, value in flat_choices(arch).items()})
        self.index = {item: i for i, item in enumerate(vocabulary)}

    @classmethod
    def for_space(cls, space: SearchSpace, pool: Sequence[Architecture] | None, seed: int, samples: int = 2000) -> OneHotEncoder:
        """The vocabulary of a finite pool, or of `samples` archs drawn from an open space (seeded:
        a strategy rebuilt from its seed encodes the same columns)."""
        rng = random.Random(seed)
        return cls(pool if pool is not None else [space.sample(rng) for _ in range(samples)])

    @property
    def dim(self) -> int:
        return len(self.index)

    def __call__(self, archs: Sequence[Architecture]) -> torch.Tensor:
        """`(len(archs), dim)` float64, one column per (choice, value) of the reference set."""
        out = torch.zeros(len(archs), len(self.index), dtype=torch.float64)
        for row, arch in enumerate(archs):
            for path, value in flat_choices(arch).items():
                column = self.index.get((path, repr(value)))
                if column is not None:  # a value never seen in the reference set has no column
                    out[row, column] = 1.0
        return out


def hamming(a: dict[str, Any], b: dict[str, Any]) -> int:
    """Number of paths whose values differ (a path present on one side only counts once)."""
    return sum(1 for key in a.keys() | b.keys() if a.get(key) != b.get(key))


def nearest_by_hamming(target: dict[str, Any], candidates: Sequence[Architecture], choices: Mapping[str, dict[str, Any]], rng: random.Random) -> Architecture | None:
    """The candidate whose flat choices (`choices[arch_id]`) are closest to `target`, ties at random."""
    if not candidates:
        return None
    distance = {a.arch_id: hamming(target, choices[a.arch_id]) for a in candidates}
    best = min(distance.values())
    return rng.choice([a for a in candidates if distance[a.arch_id] == best])
