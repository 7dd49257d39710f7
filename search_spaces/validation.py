"""Validation of architecture data with errors that name the field path and what is allowed.

Parsers never stop at the first problem: they collect every problem they can find in one pass,
so a user fixing a file sees the whole list at once.
"""

from __future__ import annotations

import reprlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, at `path` (e.g. ``layers[2].heads``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def prefixed(self, prefix: str) -> Problem:
        if not prefix:
            return self
        if not self.path:
            return Problem(prefix, self.message)
        joiner = "" if self.path.startswith("[") else "."
        return Problem(f"{prefix}{joiner}{self.path}", self.message)


class ArchValidationError(ValueError):
    """Raised when data does not describe a valid architecture of a space."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid architecture")

    def prefixed(self, prefix: str) -> list[Problem]:
        return [p.prefixed(prefix) for p in self.problems]


def format_choices(allowed: Collection[Any]) -> str:
    """`{2, 4}` style listing, sorted when the values are comparable."""
    values = list(allowed)
    try:
        values = sorted(values)
    except TypeError:
        pass
    return "{" + ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values) + "}"


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong, _SHORT.maxlist, _SHORT.maxdict = 3, 58, 58, 58, 8, 8


def describe(value: Any) -> str:
    """A short rendering of a bad value for an error message: huge and deeply nested inputs are
    cut (a plain repr of a very deep value would itself overflow the stack)."""
    text = _SHORT.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Problems:
    """Collects problems while a parser walks the input."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(Problem(path, message))

    def extend(self, problems: Iterable[Problem]) -> None:
        self.items.extend(problems)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ArchValidationError(self.items)

    def top_level_list(self, data: Any, key: str, lengths: Collection[int] | None) -> list[Any]:
        """The list under `key` of a one-field object (raises at once if there is none to read)."""
        top = self.mapping(data, "", required=(key,))
        if top is None or key not in top:
            self.raise_if_any()
        return self.sequence(top[key], key, lengths) or []

    # ---- typed readers: return None (and record a problem) when the value is unusable ----

    def mapping(
        self,
        data: Any,
        path: str,
        required: Collection[str],
        optional: Collection[str] = (),
    ) -> Mapping[str, Any] | None:
        if not isinstance(data, Mapping):
            self.add(path, f"expected an object, got {type(data).__name__} {describe(data)}")
            return None
        allowed = set(required) | set(optional)
        for key in data:
            if key not in allowed:
                self.add(_join(path, str(key)), f"unknown field; allowed fields: {format_choices(allowed)}")
        for key in required:
            if key not in data:
                self.add(_join(path, key), "missing required field")
        return data

    def integer(self, value: Any, path: str, allowed: Collection[int] | None = None) -> int | None:
        # bool is an int subclass in Python; `true` is never a meaningful layer size.
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
                value = int(value)
            else:
                self.add(path, f"expected an integer, got {type(value).__name__} {describe(value)}")
                return None
        if value <= 0:
            self.add(path, f"{value} must be a positive integer")
            return None
        if allowed is not None and value not in allowed:
            self.add(path, f"{value} not in {format_choices(allowed)}")
            return None
        return value

    def string(self, value: Any, path: str, allowed: Collection[str] | None = None) -> str | None:
        if not isinstance(value, str):
            self.add(path, f"expected a string, got {type(value).__name__} {describe(value)}")
            return None
        if allowed is not None and value not in allowed:
            self.add(path, f"{describe(value)} not in {format_choices(allowed)}")
            return None
        return value

    def sequence(self, value: Any, path: str, lengths: Collection[int] | None = None) -> list[Any] | None:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            self.add(path, f"expected a list, got {type(value).__name__} {describe(value)}")
            return None
        if not value:
            self.add(path, "must not be empty")
            return None
        if lengths is not None and len(value) not in lengths:
            # Still return the items so that their own problems are reported in the same pass.
            self.add(path, f"length {len(value)} not in {format_choices(lengths)}")
        return list(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
