"""The `nas` command line.

Exit codes: 0 success; 2 invalid input (bad architecture, file, option), with every problem on
stderr and nothing on stdout for the failed item.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from search_spaces import Architecture, ArchValidationError, SearchSpace, get_space, space_names
from search_spaces.flexibert.nas_bench_bert import load_nas_bench_bert
from search_spaces.registry import SPACES

app = typer.Typer(help="Neural architecture search for transformers.", no_args_is_help=True, add_completion=False)
spaces_app = typer.Typer(help="Inspect and sample search spaces.", no_args_is_help=True)
arch_app = typer.Typer(help="Validate, cost and import architectures.", no_args_is_help=True)
app.add_typer(spaces_app, name="spaces")
app.add_typer(arch_app, name="arch")

INVALID_INPUT = 2

PresetOption = Annotated[str | None, typer.Option("--preset", "-p", help="Preset of the space (default: the space's default).")]
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
        docs = [(str(path), json.loads(text))]
    except json.JSONDecodeError:
        docs = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                docs.append((f"{path}:{number}", json.loads(line)))
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


@spaces_app.command("list")
def spaces_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The available spaces and their presets."""
    rows = [{"space": name, "presets": sorted(SPACES[name].presets), "default_preset": SPACES[name].default_preset} for name in space_names()]
    if as_json:
        emit(rows)
        return
    table = Table("space", "presets", "default preset")
    for row in rows:
        table.add_row(row["space"], ", ".join(row["presets"]), row["default_preset"])
    Console().print(table)


@spaces_app.command("describe")
def spaces_describe(
    space: str,
    preset: PresetOption = None,
    overrides: SetOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The choices of a space's preset and its exact number of architectures."""
    info = open_space(space, preset, overrides).describe()
    if as_json:
        emit(info)
        return
    console = Console()
    console.print(f"[bold]{info['space']}[/bold] preset [bold]{info['preset']}[/bold]")
    table = Table("choice", "allowed")
    for key, value in info["choices"].items():
        table.add_row(key, json.dumps(value))
    console.print(table)
    console.print(f"default input: {json.dumps(info['default_task'])}")
    console.print(f"size: {info['size']:,} architectures ({info['size']:.3e})")


@spaces_app.command("sample")
def spaces_sample(
    space: str,
    preset: PresetOption = None,
    overrides: SetOption = None,
    n: Annotated[int, typer.Option("-n", min=1, help="How many architectures.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same architectures.")] = 0,
    with_cost: Annotated[bool, typer.Option("--cost", help="Add params and FLOPs on the preset's default input.")] = False,
) -> None:
    """Random architectures as JSON lines: {"arch_id", "arch"[, "params", "flops"]}."""
    configured = open_space(space, preset, overrides)
    rng = random.Random(seed)
    for _ in range(n):
        arch = configured.sample(rng)
        record: dict[str, Any] = {"arch_id": arch.arch_id, "arch": arch.to_dict()}
        if with_cost:
            record.update(configured.cost(arch).to_dict())
        emit(record)


@arch_app.command("validate")
def arch_validate(
    space: str,
    file: Annotated[Path, typer.Argument(help="JSON architecture, or JSON lines; '-' reads stdin.")],
    preset: PresetOption = None,
    overrides: SetOption = None,
) -> None:
    """Check architectures against a space: prints {"where", "arch_id"} per valid one; exit 2 and
    every problem on stderr if any is invalid."""
    archs, errors = parse_documents(open_space(space, preset, overrides), file)
    for where, arch in archs:
        emit({"where": where, "arch_id": arch.arch_id})
    if errors:
        fail(errors)


@arch_app.command("cost")
def arch_cost(
    space: str,
    file: Annotated[Path, typer.Argument(help="JSON architecture, or JSON lines; '-' reads stdin.")],
    preset: PresetOption = None,
    overrides: SetOption = None,
    seq_len: Annotated[int | None, typer.Option("--seq-len", help="Text: sequence length (max_len).")] = None,
    vocab_size: Annotated[int | None, typer.Option("--vocab-size", help="Text: vocabulary size.")] = None,
    image_size: Annotated[int | None, typer.Option("--image-size", help="Images: side in pixels.")] = None,
    channels: Annotated[int | None, typer.Option("--channels", help="Images: input channels.")] = None,
    num_classes: Annotated[int | None, typer.Option("--num-classes", help="Output classes.")] = None,
) -> None:
    """Parameters and FLOPs (multiply-add = 2 FLOPs) of each architecture for one input."""
    configured = open_space(space, preset, overrides)
    task = task_for(
        configured, {"--seq-len": seq_len, "--vocab-size": vocab_size, "--image-size": image_size, "--channels": channels, "--num-classes": num_classes}
    )
    archs, errors = parse_documents(configured, file)
    if errors:
        fail(errors)
    for _, arch in archs:
        try:
            cost = configured.cost(arch, task)
        except ValueError as exc:
            fail(str(exc))
        emit({"arch_id": arch.arch_id, **cost.to_dict(), "input": dataclasses.asdict(task)})


@arch_app.command("import")
def arch_import(
    source: Annotated[str, typer.Argument(help="Benchmark format; supported: nas-bench-bert.")],
    file: Annotated[Path, typer.Argument(help="The benchmark file, e.g. BERT_benchmark.json.")],
) -> None:
    """Benchmark records as JSON lines: {"record_id", "arch_id", "arch"}."""
    if source != "nas-bench-bert":
        fail(f"source: {source!r} not in {{'nas-bench-bert'}}")
    try:
        records = load_nas_bench_bert(file)
    except ArchValidationError as err:
        fail([str(p) for p in err.problems])
    for record in records:
        emit(record.to_dict())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
