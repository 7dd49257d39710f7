"""The choices that bound a FlexiBERT space, and the named presets."""

from __future__ import annotations

import re
from dataclasses import dataclass

from search_spaces.validation import ArchValidationError, Problem

# Operation names: family-parameter. `dsc-<k>` takes any odd kernel size; presets pick which.
SELF_ATTENTION = ("sa-sdp", "sa-wma")
LINEAR_TRANSFORM = ("lt-dft", "lt-dct")
_DSC_PATTERN = re.compile(r"dsc-([1-9][0-9]*)")


def is_operation(name: str) -> bool:
    if name in SELF_ATTENTION or name in LINEAR_TRANSFORM:
        return True
    match = _DSC_PATTERN.fullmatch(name)
    return match is not None and int(match.group(1)) % 2 == 1


def conv_kernel(op: str) -> int:
    """Kernel size of a `dsc-<k>` operation."""
    return int(op.split("-", 1)[1])


SIX_OPERATIONS = ("sa-sdp", "sa-wma", "lt-dft", "lt-dct", "dsc-5", "dsc-9")


@dataclass(frozen=True)
class FlexiBertChoices:
    """What each decision of a FlexiBERT architecture may take.

    num_layers: allowed encoder depths.
    hidden: allowed hidden sizes of a layer.
    heads: allowed head counts (a layer's hidden must be divisible by its head count).
    ops: allowed operations of a head.
    ff_dims: allowed widths of a feed-forward layer.
    ff_layers: allowed numbers of feed-forward layers in a layer's stack.
    same_hidden: one hidden size for the whole model (NAS-Bench-BERT) instead of per layer.
    same_ff_dim: a layer's feed-forward stack repeats one width.
    mixed_ops: heads of one layer may use different operations.
    """

    num_layers: tuple[int, ...]
    hidden: tuple[int, ...]
    heads: tuple[int, ...]
    ops: tuple[str, ...]
    ff_dims: tuple[int, ...]
    ff_layers: tuple[int, ...]
    same_hidden: bool
    same_ff_dim: bool
    mixed_ops: bool

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        for name in ("num_layers", "hidden", "heads", "ff_dims", "ff_layers"):
            values = getattr(self, name)
            if not values or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in values):
                problems.append(Problem(name, f"must be a non-empty list of positive integers, got {values!r}"))
        if not self.ops or any(not isinstance(op, str) or not is_operation(op) for op in self.ops):
            problems.append(
                Problem("ops", f"must be a non-empty list of {SELF_ATTENTION + LINEAR_TRANSFORM} or dsc-<odd k>, got {self.ops!r}")
            )
        for name in ("same_hidden", "same_ff_dim", "mixed_ops"):
            if not isinstance(getattr(self, name), bool):
                problems.append(Problem(name, f"must be true or false, got {getattr(self, name)!r}"))
        if not problems:
            for h in self.hidden:
                if not self.heads_for(h):
                    problems.append(Problem("hidden", f"{h} is divisible by none of heads {sorted(self.heads)}"))
        if problems:
            raise ArchValidationError(problems)
        # Canonical order, no duplicates: presets compare and print the same however written.
        for name in ("num_layers", "hidden", "heads", "ops", "ff_dims", "ff_layers"):
            object.__setattr__(self, name, tuple(sorted(set(getattr(self, name)))))

    def heads_for(self, hidden: int) -> tuple[int, ...]:
        """Head counts allowed for a layer of this hidden size."""
        return tuple(n for n in self.heads if hidden % n == 0)


PRESETS: dict[str, FlexiBertChoices] = {
    # Exactly the space of NAS-Bench-BERT's search_space.json (Serianni & Kalita, 2023).
    "nas-bench-bert": FlexiBertChoices(
        num_layers=(2, 4),
        hidden=(128, 256),
        heads=(2, 4),
        ops=SIX_OPERATIONS,
        ff_dims=(512, 1024),
        ff_layers=(1, 3),
        same_hidden=True,
        same_ff_dim=True,
        mixed_ops=False,
    ),
    # The FlexiBERT paper's space (Tuli et al., JAIR 2023): 240^2 + 240^4 architectures.
    "flexibert": FlexiBertChoices(
        num_layers=(2, 4),
        hidden=(128, 256),
        heads=(2, 4),
        ops=SIX_OPERATIONS,
        ff_dims=(512, 1024),
        ff_layers=(1, 3),
        same_hidden=False,
        same_ff_dim=False,
        mixed_ops=False,
    ),
    # A wider space in the spirit of FlexiBERT 2.0: BERT-base-sized layers, mixed-operation heads.
    "flexibert-2": FlexiBertChoices(
        num_layers=(2, 4, 6, 8, 10, 12),
        hidden=(128, 256, 512, 768),
        heads=(2, 4, 8, 12),
        ops=SIX_OPERATIONS,
        ff_dims=(512, 1024, 2048, 3072),
        ff_layers=(1, 2, 3),
        same_hidden=False,
        same_ff_dim=False,
        mixed_ops=True,
    ),
}
