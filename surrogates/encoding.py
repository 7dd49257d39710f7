"""A space-independent flat encoding of architectures: every leaf of the canonical JSON as
`path -> value` (e.g. `layers[2].heads -> 4`). Used for one-hot features, categorical samplers
and a Hamming distance between architectures."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from search_spaces import Architecture


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
