"""Export a found architecture as a standalone model that loads without the service.

An export directory holds:

- `arch.json`: space, preset, choices, architecture and its id, task shape, class names, cost,
  metrics, format, the parity measured at export time and the package version;
- `model.safetensors`: the weights, always, so any format can be rebuilt;
- `tokenizer.json` (text) or `preprocessing.json` (images): how raw inputs become model inputs;
- `loader.py`: a small self-contained script, `load(directory).predict(inputs)` or
  `python loader.py DIR INPUT_FILE`;
- per format: `model.pt` (TorchScript, needs only torch) or `model.onnx` (needs only
  onnxruntime and numpy); `pytorch` rebuilds the model with the `search_spaces` package.

Every export is checked before it is published: the exported model runs on a batch of another
size than the one it was traced with and must match the PyTorch model. Files are written into a
temporary sibling directory renamed into place at the end, so a failed export leaves nothing.
"""

from __future__ import annotations

import copy
import dataclasses
import errno
import importlib.metadata
import itertools
import json
import logging
import os
import shutil
import stat
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from nas.artifact_root import JobFiles
from nas.export.card import model_card
from nas.export.latency import LatencySettings, measure_latency
from nas.job.formats import DEFAULT_FINETUNE_LR, EXPORT_FORMATS, ExportFormat
from nas.job.metrics import ACCURACY
from nas.log import silenced
from nas.tasks.data import TaskData
from nas.training.checkpoint import META_FILE, load_checkpoint_task, load_supernet
from nas.training.standalone import evaluate, train_keeping_best
from search_spaces import Architecture, SearchSpace
from search_spaces.validation import format_choices

logger = logging.getLogger(__name__)
ONNX_OPSET = 18
# Shipped beside each export: a standalone script that imports nothing of this package.
LOADER_FILE = Path(__file__).with_name("loader.py")
CARD_FILE = "MODEL_CARD.md"
EXPORT_FORMAT_VERSION = 1
TRACE_BATCH, CHECK_BATCH = 2, 3  # the check runs another batch size: a batch size baked into the graph fails it
PARITY_TOLERANCE = 1e-4  # relative to the largest logit (absolute for logits below 1)


@dataclass
class ExportResult:
    directory: Path
    format: str
    arch_id: str
    files: list[str]  # names inside `directory`
    metrics: dict[str, Any]
    max_abs_diff: float  # |exported - PyTorch model| on a batch of CHECK_BATCH examples
    seconds: float
    latency: dict[str, Any] | None = None  # as arch.json records it (Latency.to_dict), when measured


def check_format(fmt: str) -> str:
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format: {fmt!r} not in {format_choices(EXPORT_FORMATS)}")
    return fmt


MAX_OUT_CHARS, MAX_NAME_BYTES = 1024, 255  # what every filesystem the service runs on accepts


def resolve_export_dir(base: Path, requested: str) -> Path:
    """`requested` (relative to `base`, or absolute inside it) as a resolved path strictly inside
    `base`. `..` and symlinks are resolved first, so neither can lead out of `base`."""
    if not requested or "\0" in requested:
        raise ValueError("out: must be a non-empty path inside the export directory")
    if len(requested) > MAX_OUT_CHARS or any(len(part.encode()) > MAX_NAME_BYTES for part in Path(requested).parts):
        raise ValueError(f"out: at most {MAX_OUT_CHARS} characters, each directory name at most {MAX_NAME_BYTES} bytes")
    root = Path(base).resolve()
    target = (root / requested).resolve()  # an absolute `requested` replaces root here
    if target == root or not target.is_relative_to(root):
        raise ValueError(f"out: {requested!r} is not inside the export directory")
    return target


def export_model(
    model: nn.Module,
    space: SearchSpace,
    arch: Architecture,
    task: TaskData,
    fmt: ExportFormat,
    out_dir: Path,
    *,
    metrics: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    overwrite: bool = False,
    latency: LatencySettings | None = None,
) -> ExportResult:
    """Write `model` (the standalone model of `arch` on `task`) to `out_dir` in format `fmt`;
    `provenance` (the job and candidate it came from) goes into arch.json and the model card, and
    so does its latency on this machine when `latency` says how to measure it (the job's settings)."""
    start = time.perf_counter()
    check_format(fmt)
    arch = space.check(arch)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, overwrite)
    try:
        metrics = json.loads(json.dumps(metrics or {}))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metrics: must be JSON-serializable ({exc})") from None
    # Input handling is checked before any file is written.
    if task.kind == "text" and (task.tokenizer_path is None or not Path(task.tokenizer_path).is_file()):
        raise ValueError(f"task: text task {task.name!r} has no tokenizer file ({task.tokenizer_path})")
    preprocessing = _image_preprocessing(task) if task.kind == "image" else None
    model = copy.deepcopy(model).cpu().eval()  # the caller's model keeps its device and mode
    inputs = _example_inputs(task, TRACE_BATCH + CHECK_BATCH)
    trace_inputs, check_inputs = inputs[:TRACE_BATCH], inputs[TRACE_BATCH:]
    with torch.no_grad():
        reference = model(check_inputs)

    created = _make_parent(out_dir)
    staging = _sibling(out_dir, "partial")
    staging.mkdir()
    try:
        save_file({name: t.detach().contiguous() for name, t in model.state_dict().items()}, staging / "model.safetensors")
        if preprocessing is None:
            shutil.copyfile(task.tokenizer_path, staging / "tokenizer.json")
        else:
            _write_json(staging / "preprocessing.json", preprocessing)
        shutil.copyfile(LOADER_FILE, staging / "loader.py")
        # model.safetensors must rebuild the model whatever the format (and it catches a model
        # that is not `arch`'s); then the format's own file is checked.
        max_abs_diff = _check_parity("pytorch", _rebuild_pytorch(space, arch, task, staging / "model.safetensors"), check_inputs, reference)
        if fmt == "torchscript":
            max_abs_diff = _check_parity(fmt, _export_torchscript(model, trace_inputs, staging / "model.pt"), check_inputs, reference)
        elif fmt == "onnx":
            max_abs_diff = _check_parity(fmt, _export_onnx(model, trace_inputs, staging / "model.onnx"), check_inputs, reference)
        measured = measure_latency(model, inputs[:1], latency).to_dict() if latency is not None else None
        files = sorted([*(p.name for p in staging.iterdir()), "arch.json", CARD_FILE])
        meta = {
            "export_format_version": EXPORT_FORMAT_VERSION,
            "format": fmt,
            "space": space.name,
            "preset": space.preset,
            "choices": dataclasses.asdict(space.choices),
            "arch": arch.to_dict(),
            "arch_id": arch.arch_id,
            "task": {"name": task.name, "kind": task.kind, "shape": dataclasses.asdict(task.shape)},
            "classes": list(task.classes),
            "model_input": _model_input(task),
            "cost": space.cost(arch, task.shape).to_dict(),
            "metrics": metrics,
            "parity": {"max_abs_diff": max_abs_diff, "batch_size": CHECK_BATCH},
            "latency": measured,
            "files": files,
            "package_version": _package_version(),
            "torch_version": torch.__version__,
            "provenance": provenance,
        }
        _write_json(staging / "arch.json", meta)
        (staging / CARD_FILE).write_text(model_card(meta), encoding="utf-8")
        _same_modes(staging)
        _publish(staging, out_dir, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(created)
        raise
    return ExportResult(out_dir, fmt, arch.arch_id, files, metrics, max_abs_diff, time.perf_counter() - start, measured)


class FinetuneWorse(ValueError):
    """Fine-tuning left the model below its starting validation accuracy; nothing was exported."""



def export_from_checkpoint(
    checkpoint_dir: str | Path,
    arch_json: dict[str, Any] | Architecture,
    fmt: ExportFormat,
    out_dir: Path,
    *,
    weights: str | Path | None = None,
    finetune_epochs: int = 0,
    finetune_lr: float = DEFAULT_FINETUNE_LR,
    keep_worse: bool = False,
    seed: int = 0,
    task: TaskData | None = None,
    metrics: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
    latency: LatencySettings | None = None,
) -> ExportResult:
    """Export `arch_json` of a supernet checkpoint's space: with the weights it inherits from the
    supernet, or with `weights` (a safetensors file of the standalone model, e.g. a verified
    training's). Optionally fine-tune it first on the training split, keeping its best epoch on
    validation; a fine-tune whose best epoch is below the starting validation accuracy raises
    FinetuneWorse unless `keep_worse`. The result's metrics give validation and test accuracy
    before (`*_start`) and of the exported model (`val_accuracy`, `test_accuracy`), and `metrics`
    (e.g. the candidate's search results) besides. `progress` is told each step that takes a
    while, as a line for people; `latency`: as `export_model`."""
    check_format(fmt)
    if finetune_epochs < 0:
        raise ValueError(f"finetune_epochs: {finetune_epochs} must be >= 0")
    if not finetune_lr > 0:
        raise ValueError(f"finetune_lr: {finetune_lr} must be > 0")
    _check_out_dir(Path(out_dir), overwrite)  # before the expensive part
    files = JobFiles()  # this machine reaches the artifact root (a URI's files are read into its cache)
    directory = files.local_dir(str(checkpoint_dir), META_FILE)
    supernet, meta = load_supernet(directory)
    space = supernet.space
    arch = space.check(arch_json) if isinstance(arch_json, Architecture) else space.validate(arch_json)
    if task is None:
        task = load_checkpoint_task(meta, directory)
    if task.shape != supernet.task:
        raise ValueError(f"task: shape {dataclasses.asdict(task.shape)} differs from the checkpoint's {meta['task']['shape']}")
    if weights is None:
        model = supernet.extract(arch).eval()
    else:
        model = _rebuild_pytorch(space, arch, task, files.local_file(str(weights)))
    start = {"val_accuracy_start": evaluate(model, task.val), "test_accuracy_start": evaluate(model, task.test)}
    report: dict[str, Any] = {"weights": "inherited" if weights is None else "trained", **(metrics or {}), **start, "finetune_epochs": finetune_epochs}
    tell = progress or (lambda line: None)
    if finetune_epochs:
        tell(f"  validation {ACCURACY.format(start['val_accuracy_start'])}, test {ACCURACY.format(start['test_accuracy_start'])} before the fine-tune")

        def epoch_done(epoch: int, val_accuracy: float, improved: bool) -> None:
            tell(f"  fine-tune epoch {epoch}/{finetune_epochs}: validation {ACCURACY.format(val_accuracy)}{' (best so far)' if improved else ''}")

        best = train_keeping_best(model, task, finetune_epochs, lr=finetune_lr, seed=seed, include_start=False, on_epoch=epoch_done)
        report.update({"finetune_lr": finetune_lr, "finetune_best_epoch": best.epoch, "finetune_val_history": best.history})
        if best.val_accuracy < start["val_accuracy_start"] and not keep_worse:
            raise FinetuneWorse(
                f"finetune_epochs: fine-tuning made the model worse on validation, {ACCURACY.format(start['val_accuracy_start'])} before and "
                f"{ACCURACY.format(best.val_accuracy)} at its best epoch ({best.epoch} of {finetune_epochs}); nothing was exported. Lower the "
                f"learning rate (finetune_lr, now {finetune_lr:g}), export without fine-tuning, or pass keep_worse to export it anyway"
            )
    report.update({"val_accuracy": evaluate(model, task.val), "test_accuracy": evaluate(model, task.test)})
    if latency is not None:
        tell(f"  measuring its latency ({latency.runtime}, batch {latency.batch_size}, {latency.threads} thread{'s' * (latency.threads != 1)}) …")
    return export_model(model, space, arch, task, fmt, out_dir, metrics=report, provenance=provenance, overwrite=overwrite, latency=latency)


# ---- steps ----


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"out: {out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"out: {out_dir} exists and is not empty; choose another directory or pass overwrite=True")


def _image_preprocessing(task: TaskData) -> dict[str, Any]:
    """What the loader applies to raw images (for text, tokenizer.json does it all)."""
    max_value = task.preprocessing.get("max_value")
    if max_value is None:
        raise ValueError(f"task: image task {task.name!r} does not record its pixel scale (preprocessing max_value), so raw images cannot be prepared")
    shape = task.shape
    return {
        "kind": "image",
        "channels": shape.channels,
        "image_size": shape.image_size,
        "max_value": float(max_value),
        "mean": task.preprocessing["mean"],
        "std": task.preprocessing["std"],
        "steps": "x / max_value, then (x - mean) / std; input (n, size, size) or (n, channels, size, size)",
    }


def _model_input(task: TaskData) -> dict[str, Any]:
    """What model.pt / model.onnx take, for users who skip the loader."""
    shape = task.shape
    if task.kind == "text":
        return {"name": "inputs", "shape": ["batch", shape.max_len], "dtype": "int64", "meaning": "token ids (tokenizer.json), 0 = padding"}
    size = shape.image_size
    return {"name": "inputs", "shape": ["batch", shape.channels, size, size], "dtype": "float32", "meaning": "images after preprocessing.json"}


def _example_inputs(task: TaskData, n: int) -> torch.Tensor:
    """`n` real model inputs of the task (validation split first)."""
    x = torch.cat([split.inputs[:n] for split in (task.val, task.train, task.test)])
    if not len(x):
        raise ValueError(f"task: {task.name!r} has no examples to trace the model with")
    return x[torch.arange(n) % len(x)]


Runner = Callable[[torch.Tensor], Any]  # model inputs -> logits (tensor or array)


def _rebuild_pytorch(space: SearchSpace, arch: Architecture, task: TaskData, weights: Path) -> Runner:
    """The model rebuilt from the written weights, as the loader rebuilds it."""
    with torch.device("meta"):  # no random init: the weights come from the file
        rebuilt = space.build(arch, task.shape)
    try:
        rebuilt.load_state_dict(load_file(weights), strict=True, assign=True)
    except RuntimeError as exc:
        raise ValueError(f"model: its weights are not those of arch {arch.arch_id} on task shape {task.shape} ({exc})") from None
    return rebuilt.eval()


def save_torchscript(model: nn.Module, trace_inputs: torch.Tensor, path: Path) -> None:
    """The model traced to a TorchScript file (what `loader.py` and a latency measurement load)."""
    with warnings.catch_warnings(), torch.no_grad():
        # The forwards' shape checks become constants of the trace (harmless: batch sizes are
        # checked after), and torch 2.13 deprecates jit.trace, still the way to a file needing only torch.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.trace(model, (trace_inputs,), check_trace=False), str(path))


def save_onnx(model: nn.Module, trace_inputs: torch.Tensor, path: Path) -> None:
    """The model as an ONNX file with a dynamic batch dimension (input `inputs`, output `logits`)."""
    # torch's exporter logs a warning per torchvision operator it cannot register; our models use none.
    with warnings.catch_warnings(), silenced("torch.onnx._internal.exporter._registration"):
        warnings.simplefilter("ignore", FutureWarning)  # torch-internal pytree deprecations
        # The dynamo exporter (torch.export + onnxscript): the legacy TorchScript exporter cannot
        # export layer_norm over a shape read from the input.
        program = torch.onnx.export(
            model, (trace_inputs,), input_names=["inputs"], output_names=["logits"], opset_version=ONNX_OPSET,
            dynamo=True, dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False,
        )  # fmt: skip
    program.save(str(path))  # one file unless the weights exceed 2 GB


def _export_torchscript(model: nn.Module, trace_inputs: torch.Tensor, path: Path) -> Runner:
    save_torchscript(model, trace_inputs, path)
    return torch.jit.load(str(path))  # what the user will load, not the in-memory trace


def _export_onnx(model: nn.Module, trace_inputs: torch.Tensor, path: Path) -> Runner:
    import onnxruntime  # imported here: only ONNX exports need it

    save_onnx(model, trace_inputs, path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x.numpy()})[0]


def _check_parity(fmt: str, run: Runner, inputs: torch.Tensor, reference: torch.Tensor) -> float:
    """max |run(inputs) - reference|, raising when it is beyond the tolerance."""
    with torch.no_grad():
        diff = (torch.as_tensor(run(inputs)) - reference).abs().max().item()
    tolerance = PARITY_TOLERANCE * max(1.0, reference.abs().max().item())
    if not diff <= tolerance:  # also catches NaN
        raise RuntimeError(
            f"format {fmt}: the exported model differs from the PyTorch model by {diff:.3g} on a batch of {CHECK_BATCH} (tolerance {tolerance:.3g})"
        )
    return diff


def _make_parent(out_dir: Path) -> list[Path]:
    """Create the missing directories above `out_dir`; returns them, deepest first, for a failed
    export to remove (it leaves nothing, not even the directories made for it)."""
    missing = list(itertools.takewhile(lambda p: not p.exists(), out_dir.parents))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_empty(directories: list[Path]) -> None:
    """Remove `directories` (deepest first), leaving any that something else has filled meanwhile."""
    for directory in directories:
        try:
            directory.rmdir()
        except OSError:
            logger.info("kept %s: not empty after a failed export", directory)
            return  # its parents hold it


def _same_modes(directory: Path) -> None:
    """Give every file in `directory` the mode a new file gets here (0644 under a umask of 022):
    safetensors writes its file 0600, which would leave the weights unreadable to those who can
    read the rest. The mode is read off a new file, which carries the umask; asking os.umask
    would change the umask of every thread of this process for a moment."""
    probe = directory / ".mode"
    probe.touch()
    mode = stat.S_IMODE(probe.stat().st_mode)
    probe.unlink()
    for path in directory.iterdir():
        if path.is_file():
            path.chmod(mode)


def _sibling(out_dir: Path, purpose: str) -> Path:
    return out_dir.with_name(f".{out_dir.name}.{purpose}-{uuid.uuid4().hex[:8]}")


def _publish(staging: Path, out_dir: Path, overwrite: bool) -> None:
    """Rename the complete `staging` directory to `out_dir`."""
    if overwrite and out_dir.exists():
        old = _sibling(out_dir, "old")
        os.replace(out_dir, old)
        os.replace(staging, out_dir)
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.replace(staging, out_dir)  # replaces an empty directory only: one filled meanwhile stays
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise FileExistsError(f"out: {out_dir} was filled during the export; pass overwrite=True to replace it") from None
        raise


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def _package_version() -> str:
    try:
        return importlib.metadata.version("transformer-nas")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# ---- the loader written into every export ----
