"""Invalid specs: `SpecError` lists every problem, each "field.path: message"; pydantic's errors
are turned into that form here."""

from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from nas.job.metrics import GOALS, METRICS
from search_spaces.validation import describe
from surrogates.registry import STRATEGY_NAMES


class SpecError(ValueError):
    """An invalid spec; `problems` lists every problem found, each "field.path: message"."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


_CHOICES_BY_FIELD = {"metric": METRICS, "goal": GOALS, "strategy": STRATEGY_NAMES}


def format_error(error: ErrorDetails, root: type[BaseModel]) -> str:
    """One pydantic error of validating `root` as "path: message"."""
    loc, value, kind, ctx = error["loc"], error.get("input"), error["type"], error.get("ctx", {})
    path = field_path(loc) or "spec"
    if kind == "extra_forbidden":
        allowed = _fields_at(root, loc[:-1])
        return f"{path}: unknown field" + (f"; allowed: {choices(allowed)}" if allowed else "")
    if kind == "missing":
        return f"{path}: missing required field"
    if kind == "literal_error":
        # pydantic writes the allowed values as "'a', 'b' or 'c'"
        allowed = _CHOICES_BY_FIELD.get(str(loc[-1])) or re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"{path}: {describe(value)} not in " + (choices(allowed) if allowed else f"{{{ctx.get('expected')}}}")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        # The field's whole range where it has one (ctx holds only the bound crossed).
        return f"{path}: {describe(value)} must be {bounds_text(**(_bounds(_field_at(root, loc)) or ctx))}"
    if kind == "finite_number":
        return f"{path}: {describe(value)} is not a finite number"
    if kind == "too_long":
        return f"{path}: {ctx.get('actual_length')} items; at most {ctx.get('max_length')}"
    if kind in ("too_short", "string_too_short"):
        return f"{path}: must not be empty"
    if kind == "string_too_long":
        return f"{path}: longer than {ctx.get('max_length')} characters"
    expected = {
        "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
        "float_type": "a number", "float_parsing": "a number", "string_type": "a string",
        "model_type": "an object (mapping)", "dict_type": "an object (mapping)", "list_type": "a list",
    }.get(kind)  # fmt: skip
    if expected is not None:
        return f"{path}: expected {expected}, got {type(value).__name__} {describe(value)}"
    if kind == "value_error":
        return f"{path}: {ctx.get('error')}"
    return f"{path}: {error['msg']}"


def field_path(loc: tuple[int | str, ...]) -> str:
    """("objectives", 1, "metric") -> "objectives[1].metric"."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fields_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the model at `loc` (for "unknown field" messages)."""
    model = _model_at(root, loc)
    return list(model.model_fields) if model is not None else []


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model at `loc` inside `root` (None where `loc` leads to no model)."""
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue  # a list index: the item model was found with its list
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    return model


def _field_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> FieldInfo | None:
    """The field a pydantic error's `loc` points at, if it is a model's field."""
    model = _model_at(root, loc[:-1]) if loc else None
    return model.model_fields.get(str(loc[-1])) if model is not None else None


_SIGNS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}  # lower bounds first


def _bounds(field: FieldInfo | None) -> dict[str, float]:
    """The bounds (ge, gt, le, lt) of a numeric field."""
    return {name: getattr(m, name) for m in (field.metadata if field else ()) for name in _SIGNS if getattr(m, name, None) is not None}


def bounds_text(**bounds: float) -> str:
    """">= 1 and <= 10,000" for ge=1, le=10_000: what a value must be, the whole range at once."""
    return " and ".join(f"{sign} {_number(bounds[name])}" for name, sign in _SIGNS.items() if name in bounds)


def _number(value: float) -> str:
    """A bound as people read it: 10,000 and 0.001 (1e+18 where digits would run on)."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:g}"
    return f"{int(value):,}" if abs(value) < 1e15 else f"{value:g}"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class inside an annotation such as `list[X]` or `X | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def choices(values: Any) -> str:
    return "{" + ", ".join(str(v) for v in values) + "}"

