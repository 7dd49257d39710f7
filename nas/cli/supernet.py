"""`nas supernet`: train a weight-sharing supernet on a task, and score architectures with it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from nas.cli.common import ArchFileArgument, PresetOption, SetOption, emit, fail, open_space, parse_documents
from nas.job.errors import format_error
from nas.job.metrics import ACCURACY
from nas.job.schema import MIN_EPOCHS, MIN_SUPERNET_STEPS, SupernetSpec

# torch-heavy modules are imported inside the commands: `nas spaces ...` starts in a fraction of a second.

_DEFAULTS = SupernetSpec()  # the job spec's supernet defaults are this command's too

supernet_app = typer.Typer(help="Train weight-sharing supernets and evaluate subnets with inherited weights.", no_args_is_help=True)


@supernet_app.command("train")
def supernet_train(
    space: str,
    task: Annotated[str, typer.Option("--task", "-t", help="Built-in task (digits, fashion-mnist, rotten-tomatoes), a generated one at its defaults (listops, recall) or a .csv/.jsonl/.npz file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint directory (safetensors + checkpoint.json).")],
    preset: PresetOption = None,
    overrides: SetOption = None,
    epochs: Annotated[int | None, typer.Option(min=1, help=f"Supervised epochs (default: enough for {MIN_SUPERNET_STEPS} steps, at least {MIN_EPOCHS}).")] = None,
    mlm_epochs: Annotated[int | None, typer.Option(min=0, help=f"Text tasks: masked-LM pretraining epochs on the task's own text first (default: {_DEFAULTS.mlm_epochs}).")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help=f"(default: {_DEFAULTS.batch_size})")] = None,
    archs_per_step: Annotated[int | None, typer.Option(min=1, help="Subnets per step, each on its own slice of the batch (default: 4 for images, 1 for text).")] = None,
    sandwich: Annotated[bool | None, typer.Option("--sandwich/--no-sandwich", help="Train the largest and smallest subnet in every step (default: when a step trains two or more).")] = None,
    warmup_epochs: Annotated[int | None, typer.Option(min=0, help="Curriculum: epochs over which choices widen from the largest (default: min(2, epochs)).")] = None,
    distill: Annotated[bool, typer.Option("--distill/--no-distill", help="In-place distillation: the largest subnet of every step learns from the labels on the whole batch, the others from its predictions (needs the sandwich rule).")] = False,
    lr: Annotated[float | None, typer.Option(help=f"Peak learning rate, > 0 (default: {_DEFAULTS.lr}).")] = None,
    seed: int = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
    max_train: Annotated[int | None, typer.Option(min=1, help="Train on a deterministic subset of this many examples.")] = None,
    text_column: str = "text",
    label_column: str = "label",
    checkpoint_every: Annotated[int, typer.Option(min=0, help="Also save every N steps (0: only at the end).")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue the checkpoint in --out.")] = False,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line.")] = False,
) -> None:
    """Train a supernet; prints the steps, time, throughput and the health check (largest and
    smallest subnet against the majority class on validation)."""
    from nas.tasks.data import TaskDataError, load_task, task_spec_from_cli
    from nas.training.config import TrainConfig
    from nas.training.health import check_supernet, epoch_check
    from nas.training.trainer import SupernetTrainer

    has_checkpoint = (out / "checkpoint.json").exists()
    if has_checkpoint and not resume:
        fail(f"--out: {out} already holds a checkpoint; pass --resume to continue it or choose another directory")
    if resume and not has_checkpoint:
        fail(f"--resume: no checkpoint in {out}")
    given = {"epochs": epochs, "mlm_epochs": mlm_epochs, "batch_size": batch_size, "archs_per_step": archs_per_step, "sandwich": sandwich, "warmup_epochs": warmup_epochs, "lr": lr, "max_train": max_train, "distill": distill or None}
    try:
        settings = SupernetSpec(**{name: value for name, value in given.items() if value is not None})
    except ValidationError as err:
        fail([_as_option("supernet." + format_error(e, SupernetSpec)) for e in err.errors()])
    try:
        data = load_task(task_spec_from_cli(task, text_column, label_column), seed=seed, max_train=max_train)
        if resume:
            trainer = SupernetTrainer.resume(out, data, device=device)
        else:
            problems = [_as_option(p) for p in settings.resolved(data.kind, len(data.train)).problems()]
            if problems:
                fail(problems)
            config = TrainConfig.from_spec(settings, data.kind, seed=seed, device=device, train_examples=len(data.train))
            trainer = SupernetTrainer(open_space(space, preset, overrides), data, config)
    except (TaskDataError, ValueError) as exc:
        fail(str(exc))
    result = trainer.train(show_progress=progress, checkpoint_dir=out, checkpoint_every=checkpoint_every, epoch_check=epoch_check(data.val, seed))
    health = check_supernet(trainer.supernet, data.val, seed)
    if as_json:
        emit(
            {
                "checkpoint": str(out), "epochs": trainer.config.epochs, "steps": result.steps, "seconds": round(result.seconds, 2),
                "subnets_per_second": round(result.subnets_per_second, 2), "last_loss": result.last_loss, "peak_rss_mb": round(result.peak_rss_mb),
                "health": health.to_dict(),
            }
        )  # fmt: skip
        return
    verdict = "learned" if health.learned else "did not learn"
    typer.echo(f"wrote {out}: {result.steps:,} steps ({trainer.config.epochs} epochs) in {result.seconds:.0f} s, {result.subnets_per_second:.1f} subnets/s, last loss {result.last_loss:.4f}")
    typer.echo(
        f"  {verdict}: largest subnet {ACCURACY.format(health.largest)}, smallest {ACCURACY.format(health.smallest)} on validation; "
        f"majority class {ACCURACY.format(health.majority_rate)} (threshold {ACCURACY.format(health.threshold)})"
    )


def _as_option(problem: str) -> str:
    """"supernet.archs_per_step: ... supernet.batch_size=4" in this command's option names."""
    import re

    return re.sub(r"supernet\.([a-z_]+)", lambda m: "--" + m.group(1).replace("_", "-"), problem)


@supernet_app.command("evaluate")
def supernet_evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="A directory written by `nas supernet train`.")],
    file: ArchFileArgument,
    split: Annotated[str, typer.Option(help="val or test")] = "val",
    device: str = "cpu",
) -> None:
    """Accuracy of each architecture with weights inherited from the supernet, plus params and FLOPs."""
    from nas.tasks.data import TaskDataError
    from nas.training.checkpoint import load_checkpoint_task, load_supernet
    from nas.training.standalone import evaluate_subnet

    if split not in ("val", "test"):
        fail(f"--split: {split!r} not in {{'val', 'test'}}")
    try:
        supernet, meta = load_supernet(checkpoint, device=device)
        data = load_checkpoint_task(meta)
    except (FileNotFoundError, TaskDataError, ValueError, KeyError) as exc:
        fail(f"{checkpoint}: {exc}")
    archs, errors = parse_documents(supernet.space, file)
    if errors:
        fail(errors)
    for where, arch in archs:
        accuracy = evaluate_subnet(supernet, arch, getattr(data, split))
        emit({"where": where, "arch_id": arch.arch_id, "accuracy": accuracy, "split": split, **supernet.space.cost(arch, data.shape).to_dict()})
