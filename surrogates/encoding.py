"""A space-independent flat encoding of architectures: every leaf of the canonical JSON as
`path -> value` (e.g. `layers[2].heads -> 4`). Used for one-hot features, categorical samplers
and a Hamming distance between architectures."""

from __future__ import annotations

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
