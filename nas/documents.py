"""Decoding the JSON and YAML documents users send (job specs, architecture files, API bodies),
bounded: nesting depth, no YAML aliases (an alias bomb expands a few lines into gigabytes), no
duplicate keys (which both formats would otherwise resolve silently to the last value).
Every problem is a `DocumentError` naming where it is."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

MAX_DEPTH = 32  # a job spec nests 3 levels and an architecture 5; deeper input is a mistake or an attack


class DocumentError(ValueError):
    """A document that cannot be read; the message starts with where (file, line, column)."""


def nesting_depth(value: Any) -> int:
    """How deeply lists and mappings nest in `value` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            return depth
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _bounded(value: Any, where: str) -> Any:
    if nesting_depth(value) > MAX_DEPTH:
        raise DocumentError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DocumentError(f"duplicate key {key!r}")
        out[key] = value
    return out


def load_json(text: str, where: str) -> Any:
    """A JSON document; json.JSONDecodeError for text that is not JSON (so callers can try YAML)."""
    try:
        return _bounded(json.loads(text, object_pairs_hook=_unique_keys), where)
    except RecursionError:
        raise DocumentError(f"{where}: nested deeper than {MAX_DEPTH} levels") from None
    except DocumentError as exc:
        raise DocumentError(str(exc) if str(exc).startswith(where) else f"{where}: {exc}") from None


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without aliases and without duplicate keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.MarkedYAMLError(problem="aliases (*name) are not allowed", problem_mark=mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.MarkedYAMLError(problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 (PyYAML's) reads 2e-3 as a string: only 2.0e-3 is a float there. A learning rate
# written 2e-3 is meant as a number, as YAML 1.2 and JSON read it.
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"), list("-+0123456789.")
)


def load_yaml(text: str, where: str) -> Any:
    """A YAML document (no aliases, no duplicate keys); DocumentError with line and column."""
    try:
        return _bounded(yaml.load(text, Loader=_StrictLoader), where)  # noqa: S506 (a SafeLoader)
    except RecursionError:
        raise DocumentError(f"{where}: nested deeper than {MAX_DEPTH} levels") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise DocumentError(f"{where}{at}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
