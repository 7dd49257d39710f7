"""Helpers shared by the `nas` command modules: errors, output, spaces and architecture files."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from nas.documents import DocumentError, load_json
from search_spaces import Architecture, ArchValidationError, SearchSpace, get_space

INVALID_INPUT = 2

PresetOption = Annotated[str | None, typer.Option("--preset", "-p", help="Preset of the space (default: the space's default).")]
ArchFileArgument = Annotated[Path, typer.Argument(help="JSON architecture, or JSON lines; '-' reads stdin.")]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override one choice of the preset, as NAME=JSON (e.g. --set 'num_layers=[2]'). Repeatable."),
]


def fail(lines: list[str] | str, code: int = INVALID_INPUT) -> NoReturn:
    for line in [lines] if isinstance(lines, str) else lines:
        sys.stderr.write(f"{line}\n")
    raise typer.Exit(code)


def emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data) + "\n")


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            fail(f"--set: {item!r} must look like NAME=JSON, e.g. num_layers=[2,4]")
        try:
            overrides[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            fail(f"--set {name}: {value!r} is not JSON (lists look like [2,4], booleans true/false)")
    return overrides


def open_space(name: str, preset: str | None, overrides: list[str] | None = None) -> SearchSpace:
    try:
        return get_space(name, preset, parse_overrides(overrides))
    except ArchValidationError as err:
        fail([f"--set {p}" for p in err.problems])
    except ValueError as exc:
        fail(str(exc))


def read_documents(path: Path) -> list[tuple[str, Any]]:
    """(where, data) for each architecture in a file: one JSON document, or JSON lines. A record
    with an `arch` field (as `nas spaces sample` and `nas arch import` print) contributes that field."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read ({exc.__class__.__name__}: {exc})")
    if not text.strip():
        fail(f"{path}: empty file, expected a JSON architecture or JSON lines")
    try:
        docs = [(str(path), load_json(text, str(path)))]
    except DocumentError as exc:
        fail(str(exc))
    except json.JSONDecodeError:
        docs = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                docs.append((f"{path}:{number}", load_json(line, f"{path}:{number}")))
            except DocumentError as exc:
                fail(str(exc))
            except json.JSONDecodeError as exc:
                fail(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})")
    return [(where, doc["arch"] if isinstance(doc, dict) and "arch" in doc else doc) for where, doc in docs]


# Input-shape flags of `nas arch cost` and the task field each one sets.
TASK_FLAGS = {"--seq-len": "max_len", "--vocab-size": "vocab_size", "--image-size": "image_size", "--channels": "channels", "--num-classes": "num_classes"}


def parse_documents(space: SearchSpace, path: Path) -> tuple[list[tuple[str, Architecture]], list[str]]:
    """The valid architectures of a file with where each came from, and every problem of the rest."""
    archs, errors = [], []
    for where, data in read_documents(path):
        try:
            archs.append((where, space.validate(data)))
        except ArchValidationError as err:
            errors += [f"{where}: {p}" for p in err.problems]
    return archs, errors


def task_for(space: SearchSpace, given: dict[str, int | None]) -> Any:
    """The space's default task with the input-shape flags that were `given` applied."""
    task = space.default_task()
    fields = {f.name for f in dataclasses.fields(task)}
    given = {flag: v for flag, v in given.items() if v is not None}
    allowed = [flag for flag, field in TASK_FLAGS.items() if field in fields]
    wrong = [flag for flag in given if flag not in allowed]
    if wrong:
        fail(f"{', '.join(wrong)}: not an input option of space {space.name!r}; allowed: {', '.join(allowed)}")
    for flag, value in given.items():
        if value <= 0:
            fail(f"{flag}: {value} must be a positive integer")
    return dataclasses.replace(task, **{TASK_FLAGS[flag]: v for flag, v in given.items()})
