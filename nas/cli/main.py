"""The `nas` command line.

Exit codes: 0 success; 2 invalid input (bad architecture, file, option), with every problem on
stderr and nothing on stdout for the failed item.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from nas.cli import jobs as cli_jobs
from nas.cli.common import ArchFileArgument, PresetOption, SetOption, emit, fail, open_space, parse_documents, task_for
from nas.cli.remote import remote_app
from nas.cli.supernet import supernet_app
from nas.cli.users import users_app
from nas.log import configure_cli_logging
from search_spaces import ArchValidationError, space_names
from search_spaces.flexibert.nas_bench_bert import load_nas_bench_bert
from search_spaces.registry import SPACES
from surrogates.benchmarks import nas_bench_bert_file

app = typer.Typer(help="Neural architecture search for transformers.", no_args_is_help=True, add_completion=False)
spaces_app = typer.Typer(help="Inspect and sample search spaces.", no_args_is_help=True)
arch_app = typer.Typer(help="Validate, cost and import architectures.", no_args_is_help=True)
app.add_typer(spaces_app, name="spaces")
app.add_typer(arch_app, name="arch")
app.add_typer(supernet_app, name="supernet")
app.add_typer(remote_app, name="remote")
app.add_typer(users_app, name="users")
cli_jobs.register(app)


def _version(value: bool) -> None:
    if value:
        import importlib.metadata

        typer.echo(f"transformer-nas {importlib.metadata.version('transformer-nas')}")
        raise typer.Exit()


@app.callback()
def _common(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what the service does (to stderr).")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    configure_cli_logging(verbose)


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
    file: ArchFileArgument,
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
    file: ArchFileArgument,
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
    file: Annotated[Path | None, typer.Argument(help="The benchmark file (BERT_benchmark.json); default: the copy shipped with the package.")] = None,
) -> None:
    """Benchmark records as JSON lines: {"record_id", "arch_id", "arch"}."""
    if source != "nas-bench-bert":
        fail(f"source: {source!r} not in {{'nas-bench-bert'}}")
    try:
        records = load_nas_bench_bert(file if file is not None else nas_bench_bert_file())
    except ArchValidationError as err:
        fail([str(p) for p in err.problems])
    for record in records:
        emit(record.to_dict())


def main() -> None:
    app()


