"""Supernet checkpoints on disk: `supernet.safetensors`, `optimizer.safetensors` and
`checkpoint.json` (space, preset and choices, task and its source, config, position), written by
`SupernetTrainer.save_checkpoint`; read here for progress, evaluation and export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors.torch import load_file

from nas.artifact_root import JobFiles
from nas.job.metrics import ACCURACY
from search_spaces import get_space
from search_spaces.supernet import Supernet

if TYPE_CHECKING:
    from nas.tasks.data import TaskData

CHECKPOINT_FORMAT = 1
META_FILE = "checkpoint.json"
TOKENIZER_FILE = "tokenizer.json"  # text tasks: the checkpoint carries its tokenizer, for any node


def read_checkpoint_meta(directory: Path) -> dict[str, Any]:
    path = Path(directory) / META_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no checkpoint here") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: checkpoint format {meta.get('format')!r}, this version reads {CHECKPOINT_FORMAT}")
    return meta


def checkpoint_progress(directory: Path) -> dict[str, Any] | None:
    """How far the training checkpointed in `directory` has come, JSON-ready; None before its
    first checkpoint (or in the instant one replaces another)."""
    try:
        meta = read_checkpoint_meta(directory)
    except (FileNotFoundError, ValueError):
        return None
    return progress_of(meta)


def progress_of(meta: dict[str, Any]) -> dict[str, Any] | None:
    """`checkpoint_progress` of a checkpoint's metadata (None if it is not a checkpoint this
    version reads)."""
    if meta.get("format") != CHECKPOINT_FORMAT:
        return None
    position, progress, config = meta["position"], meta.get("progress", {}), meta["config"]
    phase_epochs = {"mlm": config["mlm_epochs"], "supervised": config["epochs"]}
    return {
        "phase": position["phase"],
        "epochs_done": position["epoch"],
        "epochs": phase_epochs.get(position["phase"]),
        "step": position["global_step"],
        "total_steps": progress.get("total_steps"),
        "loss": progress.get("loss"),
        "health": progress.get("health"),  # the latest epoch's check (nas.training.health), if one ran
        "epoch_losses": progress.get("epoch_losses", []),  # mean loss of each finished epoch
    }


def describe_progress(progress: dict[str, Any]) -> str:
    """One line for people: "supervised: epoch 3/8 done, step 300/800 (38%), loss 0.6120; largest
    subnet 61.20%, smallest 48.00% (majority class 10.10%)"."""
    loss = "" if progress.get("loss") is None else f", loss {progress['loss']:.4f}"
    health = progress.get("health")
    if health:
        loss += f"; largest subnet {ACCURACY.format(health['largest'])}, smallest {ACCURACY.format(health['smallest'])} (majority class {ACCURACY.format(health['majority_rate'])})"
    if progress["phase"] == "done":
        return f"trained: {progress['step']:,} steps{loss}"
    total = progress.get("total_steps")
    steps = f"step {progress['step']:,}/{total:,} ({progress['step'] / total:.0%})" if total else f"step {progress['step']:,}"
    return f"{progress['phase']}: epoch {progress['epochs_done']}/{progress['epochs']} done, {steps}{loss}"


def load_supernet(directory: Path, device: str = "cpu") -> tuple[Supernet, dict[str, Any]]:
    """A trained supernet from a checkpoint (for evaluation), with the checkpoint's metadata."""
    meta = read_checkpoint_meta(directory)
    space = get_space(meta["space"], meta["preset"], meta["choices"])
    shape_cls = type(space.default_task())
    supernet = space.supernet(shape_cls(**meta["task"]["shape"]))
    supernet.load_state_dict(load_file(Path(directory) / "supernet.safetensors", device=device))
    return supernet.to(device).eval(), meta


def load_checkpoint_task(meta: dict[str, Any], directory: Path | None = None, job_files: JobFiles | None = None) -> TaskData:
    """The task a checkpoint was trained on, loaded again exactly (same split, same tokenizer:
    the one in the checkpoint's `directory` where it has one). `job_files`: on another node, the
    job's staged task files are read from the artifact root."""
    from nas.tasks.data import load_task  # imports torch and the data readers: only callers pay
    from nas.tasks.tokenizer import LEGACY

    source = dict(meta["task"].get("source") or {})  # load_task's own arguments, as it recorded them
    if "spec" not in source:
        raise ValueError("task: the checkpoint does not record how to load its task")
    if meta["task"].get("kind") == "text":
        source.setdefault("tokenizer_file", LEGACY)  # recorded since tokenizers are deterministic
        if directory is not None and (Path(directory) / TOKENIZER_FILE).is_file():
            source["tokenizer_file"] = str(Path(directory) / TOKENIZER_FILE)
    spec = source["spec"]
    if job_files is not None:
        source["spec"] = job_files.localize(spec)
    task = load_task(**source)
    task.source["spec"] = spec  # as the job names it: the same on every node
    return task


def open_checkpoint(location: str, job_files: JobFiles | None = None, device: str = "cpu") -> tuple[Supernet, dict[str, Any], TaskData]:
    """The supernet checkpointed at `location` (a directory, or one in an artifact root), its
    metadata and its task, from wherever this process runs."""
    job_files = job_files or JobFiles()
    directory = job_files.local_dir(location, META_FILE)
    supernet, meta = load_supernet(directory, device=device)
    return supernet, meta, load_checkpoint_task(meta, directory, job_files)
