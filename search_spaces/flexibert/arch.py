"""The FlexiBERT architecture type: a heterogeneous stack of encoder layers.

JSON form (canonical output shown; `op` may also be given as a list with one operation per head)::

    {"layers": [{"hidden": 256, "heads": 4, "op": "sa-sdp", "ff": [1024, 1024, 1024]},
                {"hidden": 128, "heads": 2, "op": ["dsc-5", "lt-dft"], "ff": [512]}]}

Heads of one layer are interchangeable (their outputs are concatenated and then projected), so
per-head operations are kept sorted: any order of the same heads is the same network and id.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from search_spaces.base import Architecture
from search_spaces.flexibert.choices import FlexiBertChoices, is_operation
from search_spaces.validation import ArchValidationError, Problem, Problems, format_choices

LAYER_FIELDS = ("hidden", "heads", "op", "ff")


@dataclass(frozen=True)
class Layer:
    hidden: int
    ops: tuple[str, ...]  # one per head, sorted
    ff: tuple[int, ...]  # widths of the feed-forward stack, input side first

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(sorted(self.ops)))
        object.__setattr__(self, "ff", tuple(self.ff))
        problems: list[Problem] = []
        if not _positive_int(self.hidden):
            problems.append(Problem("hidden", f"{self.hidden!r} must be a positive integer"))
        if not self.ops:
            problems.append(Problem("heads", "a layer needs at least one head"))
        for op in self.ops:
            if not isinstance(op, str) or not is_operation(op):
                problems.append(Problem("op", f"{op!r} is not an operation (sa-sdp, sa-wma, lt-dft, lt-dct, dsc-<odd k>)"))
        if not self.ff or not all(_positive_int(d) for d in self.ff):
            problems.append(Problem("ff", f"{list(self.ff)!r} must be a non-empty list of positive integers"))
        if not problems and self.hidden % len(self.ops):
            problems.append(Problem("hidden", f"hidden={self.hidden} not divisible by heads={len(self.ops)}"))
        if problems:
            raise ArchValidationError(problems)

    @property
    def heads(self) -> int:
        return len(self.ops)

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def op_groups(self) -> list[tuple[str, int]]:
        """(operation, number of heads) in canonical order: how heads are grouped into modules."""
        return sorted(Counter(self.ops).items())

    def to_dict(self) -> dict[str, Any]:
        op: str | list[str] = self.ops[0] if len(set(self.ops)) == 1 else list(self.ops)
        return {"hidden": self.hidden, "heads": self.heads, "op": op, "ff": list(self.ff)}


@dataclass(frozen=True)
class FlexiBertArch(Architecture):
    layers: tuple[Layer, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise ArchValidationError([Problem("layers", "must not be empty")])

    def to_dict(self) -> dict[str, Any]:
        return {"layers": [layer.to_dict() for layer in self.layers]}

    @classmethod
    def from_dict(cls, data: Any) -> FlexiBertArch:
        """Parse any FlexiBERT architecture, without a space's bounds."""
        return parse_flexibert(data, None)


def parse_flexibert(data: Any, choices: FlexiBertChoices | None) -> FlexiBertArch:
    """Parse decoded JSON, checking it against `choices` when given; every problem is reported."""
    problems = Problems()
    raw_layers = problems.top_level_list(data, "layers", choices.num_layers if choices else None)
    layers: list[Layer] = []
    for i, raw in enumerate(raw_layers):
        layer = _parse_layer(raw, f"layers[{i}]", choices, problems)
        if layer is not None:
            layers.append(layer)
    if choices is not None and not problems:
        _check_model_wide(layers, choices, problems)
    problems.raise_if_any()
    return FlexiBertArch(tuple(layers))


def _parse_layer(raw: Any, path: str, choices: FlexiBertChoices | None, problems: Problems) -> Layer | None:
    before = len(problems.items)
    fields = problems.mapping(raw, path, required=LAYER_FIELDS)
    if fields is None or any(key not in fields for key in LAYER_FIELDS):
        return None
    hidden = problems.integer(fields["hidden"], f"{path}.hidden", choices.hidden if choices else None)
    heads = problems.integer(fields["heads"], f"{path}.heads", choices.heads if choices else None)
    ops = _parse_ops(fields["op"], heads, f"{path}.op", choices, problems)
    ff = _parse_ff(fields["ff"], f"{path}.ff", choices, problems)
    if len(problems.items) > before or hidden is None or heads is None or ops is None or ff is None:
        return None
    try:
        return Layer(hidden=hidden, ops=tuple(ops), ff=tuple(ff))
    except ArchValidationError as err:
        problems.extend(err.prefixed(path))
        return None


def _parse_ops(raw: Any, heads: int | None, path: str, choices: FlexiBertChoices | None, problems: Problems) -> list[str] | None:
    allowed = choices.ops if choices else None
    if isinstance(raw, str):
        op = _parse_op(raw, path, allowed, problems)
        return None if op is None or heads is None else [op] * heads
    items = problems.sequence(raw, path)
    if items is None:
        return None
    if choices is not None and not choices.mixed_ops and len(set(map(str, items))) > 1:
        problems.add(path, "heads of one layer must share one operation in this preset (mixed_ops is off)")
        return None
    ops = [_parse_op(item, f"{path}[{j}]", allowed, problems) for j, item in enumerate(items)]
    if heads is not None and len(items) != heads:
        problems.add(path, f"{len(items)} operations given but heads={heads}")
        return None
    return None if any(op is None for op in ops) else ops


def _parse_op(raw: Any, path: str, allowed: tuple[str, ...] | None, problems: Problems) -> str | None:
    op = problems.string(raw, path, allowed)
    if op is not None and allowed is None and not is_operation(op):
        problems.add(path, f"{op!r} is not an operation (sa-sdp, sa-wma, lt-dft, lt-dct, dsc-<odd k>)")
        return None
    return op


def _parse_ff(raw: Any, path: str, choices: FlexiBertChoices | None, problems: Problems) -> list[int] | None:
    items = problems.sequence(raw, path, choices.ff_layers if choices else None)
    if items is None:
        return None
    dims = [problems.integer(d, f"{path}[{j}]", choices.ff_dims if choices else None) for j, d in enumerate(items)]
    if any(d is None for d in dims):
        return None
    if choices is not None and choices.same_ff_dim and len(set(dims)) > 1:
        problems.add(path, f"{dims} must repeat one width in this preset (same_ff_dim is on)")
        return None
    return dims  # type: ignore[return-value]


def _check_model_wide(layers: list[Layer], choices: FlexiBertChoices, problems: Problems) -> None:
    if choices.same_hidden and len({layer.hidden for layer in layers}) > 1:
        first = layers[0].hidden
        for i, layer in enumerate(layers):
            if layer.hidden != first:
                problems.add(
                    f"layers[{i}].hidden",
                    f"{layer.hidden} differs from layers[0].hidden={first}; this preset has one hidden size per model "
                    f"(same_hidden is on, allowed {format_choices(choices.hidden)})",
                )


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
