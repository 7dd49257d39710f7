"""Spaces by name."""

from __future__ import annotations

from typing import Any

from search_spaces.base import SearchSpace
from search_spaces.flexibert import FlexiBertSpace
from search_spaces.vit_resnas import VitResNASSpace
from search_spaces.validation import format_choices

SPACES: dict[str, type[SearchSpace]] = {
    FlexiBertSpace.name: FlexiBertSpace,
    VitResNASSpace.name: VitResNASSpace,
}


def space_names() -> list[str]:
    return sorted(SPACES)


def get_space(name: str, preset: str | None = None, overrides: dict[str, Any] | None = None) -> SearchSpace:
    """A configured space: `name`'s `preset` (its default when None) with `overrides` applied."""
    if name not in SPACES:
        raise ValueError(f"space: {name!r} not in {format_choices(SPACES)}")
    return SPACES[name](preset, overrides)
