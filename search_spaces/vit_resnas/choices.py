"""The choices that bound a ViT-ResNAS space, and the named presets (Liao et al., 2021)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from search_spaces.validation import ArchValidationError, Problem


@dataclass(frozen=True)
class StageChoices:
    """One stage: its embedding widths, per-block heads (of a fixed head_dim) and MLP sizes,
    and which of its `blocks` slots (1-based) may be dropped."""

    widths: tuple[int, ...]
    heads: tuple[int, ...]
    head_dim: int
    mlp: tuple[int, ...]
    blocks: int
    optional: tuple[int, ...]

    def __post_init__(self) -> None:
        problems = []
        for name in ("widths", "heads", "mlp"):
            values = getattr(self, name)
            if not values or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in values):
                problems.append(Problem(name, f"must be a non-empty list of positive integers, got {values!r}"))
            else:
                object.__setattr__(self, name, tuple(sorted(set(values))))
        for name in ("head_dim", "blocks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                problems.append(Problem(name, f"must be a positive integer, got {value!r}"))
        if not problems:
            optional = tuple(sorted(set(self.optional)))
            if any(not isinstance(i, int) or not 1 <= i <= self.blocks for i in optional) or len(optional) >= self.blocks:
                problems.append(Problem("optional", f"must be block numbers in 1..{self.blocks}, leaving at least one block, got {self.optional!r}"))
            object.__setattr__(self, "optional", optional)
        if problems:
            raise ArchValidationError(problems)

    @property
    def depths(self) -> tuple[int, ...]:
        """Allowed numbers of blocks in this stage."""
        return tuple(range(self.blocks - len(self.optional), self.blocks + 1))

    def active_slots(self, depth: int) -> tuple[int, ...]:
        """The supernet slots (0-based) a stage of `depth` blocks uses: optional slots are
        dropped from the last one backwards, so every depth has one canonical placement."""
        dropped = set(self.optional[len(self.optional) - (self.blocks - depth) :]) if depth < self.blocks else set()
        return tuple(i - 1 for i in range(1, self.blocks + 1) if i not in dropped)


@dataclass(frozen=True)
class VitResNASChoices:
    """stages: one StageChoices per stage (residual spatial reduction between stages).
    patch_size: the stem's patch size; 0 picks it from the input (ceil(image_size / 8))."""

    stages: tuple[StageChoices, ...]
    patch_size: int

    def __post_init__(self) -> None:
        stages = tuple(s if isinstance(s, StageChoices) else _stage_from_mapping(s, i) for i, s in enumerate(self.stages))
        if not stages:
            raise ArchValidationError([Problem("stages", "must not be empty")])
        if isinstance(self.patch_size, bool) or not isinstance(self.patch_size, int) or self.patch_size < 0:
            raise ArchValidationError([Problem("patch_size", f"must be 0 (auto) or a positive integer, got {self.patch_size!r}")])
        object.__setattr__(self, "stages", stages)

    def patch_for(self, image_size: int) -> int:
        return self.patch_size or max(1, math.ceil(image_size / 8))


def _stage_from_mapping(data: Any, index: int) -> StageChoices:
    if not isinstance(data, Mapping):
        raise ArchValidationError([Problem(f"stages[{index}]", f"expected an object, got {data!r}")])
    try:
        return StageChoices(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
    except TypeError as exc:
        raise ArchValidationError([Problem(f"stages[{index}]", str(exc))]) from None
    except ArchValidationError as err:
        raise ArchValidationError(err.prefixed(f"stages[{index}]")) from None


def _mlp_sizes(full: int) -> tuple[int, ...]:
    """Seven MLP sizes from 0.5x to 1.0x of `full`."""
    return tuple(full // 2 + i * full // 12 for i in range(7))


def _three_stages(widths: tuple[int, ...], heads: tuple[tuple[int, ...], ...], head_dims: tuple[int, ...], mlp_full: int) -> tuple[StageChoices, ...]:
    """Widths and MLP sizes double from stage to stage, as in the paper's space."""
    return tuple(
        StageChoices(
            widths=tuple(w * 2**s for w in widths),
            heads=heads[s],
            head_dim=head_dims[s],
            mlp=_mlp_sizes(mlp_full * 2**s),
            blocks=6,
            optional=(2, 4, 6),
        )
        for s in range(3)
    )


PRESETS: dict[str, VitResNASChoices] = {
    # The paper's ImageNet-224 tiny space.
    "tiny": VitResNASChoices(
        stages=_three_stages((160, 176, 192, 224, 256), ((3, 4, 5, 6), (6, 8, 10, 12), (6, 8, 10, 12)), (32, 48, 64), 768),
        patch_size=16,
    ),
    # The same structure scaled down for 8x8 and 28x28 inputs, so a subnet trains on a CPU.
    "small-images": VitResNASChoices(
        stages=_three_stages((32, 40, 48, 56, 64), ((3, 4, 5, 6), (6, 8, 10, 12), (6, 8, 10, 12)), (8, 12, 16), 192),
        patch_size=0,
    ),
}
