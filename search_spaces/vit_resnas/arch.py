"""The ViT-ResNAS architecture type: stages of transformer blocks joined by residual spatial reduction.

JSON form (canonical output shown)::

    {"stages": [{"width": 256, "head_dim": 32,
                 "blocks": [{"heads": 6, "mlp": 768}, {"heads": 4, "mlp": 512}, ...]}, ...]}

`blocks` lists the blocks a stage keeps, in order. A stage may also be written with one entry per
supernet slot and `null` for a dropped optional block; that is the same network, so it parses to
the same architecture. `head_dim` may be left out when parsing against a space (its preset fixes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from search_spaces.base import Architecture
from search_spaces.validation import ArchValidationError, Problem, Problems, format_choices
from search_spaces.vit_resnas.choices import StageChoices, VitResNASChoices


@dataclass(frozen=True)
class Block:
    heads: int
    mlp: int

    def __post_init__(self) -> None:
        problems = [Problem(name, f"{getattr(self, name)!r} must be a positive integer") for name in ("heads", "mlp") if not _positive_int(getattr(self, name))]
        if problems:
            raise ArchValidationError(problems)

    def to_dict(self) -> dict[str, int]:
        return {"heads": self.heads, "mlp": self.mlp}


@dataclass(frozen=True)
class Stage:
    width: int
    head_dim: int
    blocks: tuple[Block, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(self.blocks))
        problems = [Problem(name, f"{getattr(self, name)!r} must be a positive integer") for name in ("width", "head_dim") if not _positive_int(getattr(self, name))]
        if not self.blocks:
            problems.append(Problem("blocks", "a stage needs at least one block"))
        if problems:
            raise ArchValidationError(problems)

    def to_dict(self) -> dict[str, Any]:
        return {"width": self.width, "head_dim": self.head_dim, "blocks": [b.to_dict() for b in self.blocks]}


@dataclass(frozen=True)
class VitResNASArch(Architecture):
    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        if not self.stages:
            raise ArchValidationError([Problem("stages", "must not be empty")])
        problems = []
        for i in range(1, len(self.stages)):
            if self.stages[i].width < self.stages[i - 1].width:
                problems.append(Problem(f"stages[{i}].width", f"{self.stages[i].width} < stages[{i - 1}].width={self.stages[i - 1].width}; widths never shrink across stages"))
        if problems:
            raise ArchValidationError(problems)

    def to_dict(self) -> dict[str, Any]:
        return {"stages": [s.to_dict() for s in self.stages]}

    @classmethod
    def from_dict(cls, data: Any) -> VitResNASArch:
        return parse_vit_resnas(data, None)


def parse_vit_resnas(data: Any, choices: VitResNASChoices | None) -> VitResNASArch:
    """Parse decoded JSON, checking it against `choices` when given; every problem is reported."""
    problems = Problems()
    raw_stages = problems.top_level_list(data, "stages", (len(choices.stages),) if choices else None)
    stages = []
    # With a space, extra stages have no choices to check against: the length problem covers them.
    for i, raw in enumerate(raw_stages[: len(choices.stages) if choices else None]):
        stage = _parse_stage(raw, f"stages[{i}]", choices.stages[i] if choices else None, problems)
        if stage is not None:
            stages.append(stage)
    problems.raise_if_any()
    try:
        return VitResNASArch(tuple(stages))
    except ArchValidationError as err:
        raise ArchValidationError(err.problems) from None


def _parse_stage(raw: Any, path: str, choices: StageChoices | None, problems: Problems) -> Stage | None:
    before = len(problems.items)
    fields = problems.mapping(raw, path, required=("width", "blocks") + (() if choices else ("head_dim",)), optional=("head_dim",))
    if fields is None or "width" not in fields or "blocks" not in fields:
        return None
    width = problems.integer(fields["width"], f"{path}.width", choices.widths if choices else None)
    head_dim = problems.integer(fields.get("head_dim", choices.head_dim if choices else None), f"{path}.head_dim", (choices.head_dim,) if choices else None)
    blocks = _parse_blocks(fields["blocks"], f"{path}.blocks", choices, problems)
    if len(problems.items) > before or width is None or head_dim is None or blocks is None:
        return None
    try:
        return Stage(width=width, head_dim=head_dim, blocks=tuple(blocks))
    except ArchValidationError as err:
        problems.extend(err.prefixed(path))
        return None


def _parse_blocks(raw: Any, path: str, choices: StageChoices | None, problems: Problems) -> list[Block] | None:
    items = problems.sequence(raw, path)
    if items is None:
        return None
    dropped = [j for j, item in enumerate(items) if item is None]
    if choices is not None:
        if dropped:
            # Slot form: one entry per supernet slot, null only where a block is optional.
            if len(items) != choices.blocks:
                problems.add(path, f"with null entries the list must have one entry per slot ({choices.blocks}), got {len(items)}")
                return None
            bad = [j + 1 for j in dropped if j + 1 not in choices.optional]
            if bad:
                problems.add(path, f"block(s) {bad} cannot be dropped; optional blocks are {format_choices(choices.optional)} (1-based)")
                return None
        elif len(items) not in choices.depths:
            problems.add(path, f"{len(items)} blocks not in {format_choices(choices.depths)}")
            return None
    blocks = []
    for j, item in enumerate(items):
        if item is None:
            continue
        fields = problems.mapping(item, f"{path}[{j}]", required=("heads", "mlp"))
        if fields is None or "heads" not in fields or "mlp" not in fields:
            continue
        heads = problems.integer(fields["heads"], f"{path}[{j}].heads", choices.heads if choices else None)
        mlp = problems.integer(fields["mlp"], f"{path}[{j}].mlp", choices.mlp if choices else None)
        if heads is not None and mlp is not None:
            blocks.append(Block(heads=heads, mlp=mlp))
    if not blocks and not problems:
        problems.add(path, "a stage needs at least one block")
    return blocks


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
