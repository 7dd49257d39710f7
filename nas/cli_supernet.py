"""`nas supernet`: train a weight-sharing supernet on a task, and score architectures with it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nas.cli_common import ArchFileArgument, PresetOption, SetOption, emit, fail, open_space, parse_documents

# torch-heavy modules are imported inside the commands: `nas spaces ...` starts in a fraction of a second.

supernet_app = typer.Typer(help="Train weight-sharing supernets and evaluate subnets with inherited weights.", no_args_is_help=True)


@supernet_app.command("train")
def supernet_train(
    space: str,
    task: Annotated[str, typer.Option("--task", "-t", help="Built-in task (digits, fashion-mnist, rotten-tomatoes) or a .csv/.jsonl/.npz file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint directory (safetensors + checkpoint.json).")],
    preset: PresetOption = None,
    overrides: SetOption = None,
    epochs: Annotated[int, typer.Option(min=0, help="Supervised epochs.")] = 5,
    mlm_epochs: Annotated[int, typer.Option(min=0, help="Text tasks: masked-LM pretraining epochs on the task's own text first.")] = 0,
    batch_size: Annotated[int, typer.Option(min=1)] = 128,
    archs_per_step: Annotated[int | None, typer.Option(min=1, help="Subnets per step, each on its own slice of the batch [default: 4 for images, 1 for text].")] = None,
    sandwich: Annotated[bool, typer.Option(help="Train the largest and smallest subnet in every step.")] = False,
    warmup_epochs: Annotated[int, typer.Option(min=0, help="Curriculum: epochs over which choices widen from the largest.")] = 0,
    lr: Annotated[float, typer.Option(min=0.0)] = 1e-3,
    seed: int = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
    max_train: Annotated[int | None, typer.Option(min=1, help="Train on a deterministic subset of this many examples.")] = None,
    text_column: str = "text",
    label_column: str = "label",
    checkpoint_every: Annotated[int, typer.Option(min=0, help="Also save every N steps (0: only at the end).")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue the checkpoint in --out.")] = False,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
) -> None:
    """Train a supernet; prints one JSON line with the steps, time and throughput."""
    from nas.data import TaskDataError, load_task, task_spec_from_cli
    from nas.spec import DEFAULT_ARCHS_PER_STEP
    from nas.supernet_training import SupernetTrainer, TrainConfig

    has_checkpoint = (out / "checkpoint.json").exists()
    if has_checkpoint and not resume:
        fail(f"--out: {out} already holds a checkpoint; pass --resume to continue it or choose another directory")
    if resume and not has_checkpoint:
        fail(f"--resume: no checkpoint in {out}")
    try:
        data = load_task(task_spec_from_cli(task, text_column, label_column), seed=seed, max_train=max_train)
        if resume:
            trainer = SupernetTrainer.resume(out, data, device=device)
        else:
            config = TrainConfig(
                epochs=epochs, mlm_epochs=mlm_epochs, batch_size=batch_size, archs_per_step=archs_per_step or DEFAULT_ARCHS_PER_STEP[data.kind], sandwich=sandwich,
                warmup_epochs=warmup_epochs, lr=lr, seed=seed, device=device,
            )  # fmt: skip
            trainer = SupernetTrainer(open_space(space, preset, overrides), data, config)
    except (TaskDataError, ValueError) as exc:
        fail(str(exc))
    result = trainer.train(show_progress=progress, checkpoint_dir=out, checkpoint_every=checkpoint_every)
    emit({"checkpoint": str(out), "steps": result.steps, "seconds": round(result.seconds, 2), "subnets_per_second": round(result.subnets_per_second, 2), "last_loss": result.last_loss, "peak_rss_mb": round(result.peak_rss_mb)})


@supernet_app.command("evaluate")
def supernet_evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="A directory written by `nas supernet train`.")],
    file: ArchFileArgument,
    split: Annotated[str, typer.Option(help="val or test")] = "val",
    device: str = "cpu",
) -> None:
    """Accuracy of each architecture with weights inherited from the supernet, plus params and FLOPs."""
    from nas.data import TaskDataError, load_task
    from nas.supernet_training import evaluate_subnet, load_supernet

    if split not in ("val", "test"):
        fail(f"--split: {split!r} not in {{'val', 'test'}}")
    try:
        supernet, meta = load_supernet(checkpoint, device=device)
        source = meta["task"]["source"]
        data = load_task(source["spec"], seed=source["seed"], vocab_size=source["vocab_size"], max_len=source["max_len"], max_train=source["max_train"])
    except (FileNotFoundError, TaskDataError, ValueError, KeyError) as exc:
        fail(f"{checkpoint}: {exc}")
    archs, errors = parse_documents(supernet.space, file)
    if errors:
        fail(errors)
    for where, arch in archs:
        accuracy = evaluate_subnet(supernet, arch, getattr(data, split))
        emit({"where": where, "arch_id": arch.arch_id, "accuracy": accuracy, "split": split, **supernet.space.cost(arch, data.shape).to_dict()})
