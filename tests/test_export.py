"""Export: TorchScript and ONNX match the PyTorch model, the written loader reproduces its
predictions in a fresh process with only its format's dependencies, failures leave nothing."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from safetensors.torch import load_file
from sklearn.datasets import load_digits

import nas.export.exporter
from nas.export.exporter import export_from_checkpoint, export_model, resolve_export_dir
from nas.job.formats import EXPORT_FORMATS
from nas.tasks.data import TaskData, _rotten_tomatoes, load_task
from nas.tasks.generated import generated_task
from nas.tasks.tokenizer import encode
from nas.training.trainer import SupernetTrainer
from search_spaces import ArchValidationError, get_space
from tests.helpers import plain_config

# Two stages (so a residual spatial reduction) of up to three blocks, two of them optional.
SMALL_VIT = {
    "stages": [
        {"widths": [16, 24], "heads": [1, 2], "head_dim": 8, "mlp": [32, 48], "blocks": 3, "optional": [2, 3]},
        {"widths": [24, 32], "heads": [2, 3], "head_dim": 8, "mlp": [48, 64], "blocks": 3, "optional": [2, 3]},
    ]
}
VIT_DROPPED = {
    "stages": [
        {"width": 16, "blocks": [{"heads": 1, "mlp": 32}, None, None]},
        {"width": 24, "blocks": [{"heads": 2, "mlp": 48}, {"heads": 3, "mlp": 64}, None]},
    ]
}
VIT_FULL = {"stages": [{"width": 24, "blocks": [{"heads": 2, "mlp": 48}] * 3}, {"width": 32, "blocks": [{"heads": 3, "mlp": 64}] * 3}]}
# Between them every FlexiBERT operation: sa-sdp, sa-wma, lt-dft, lt-dct and dsc-k.
TEXT_ARCHS = {
    "attention+transforms": {"layers": [{"hidden": 128, "heads": 2, "op": op, "ff": [512]} for op in ("sa-sdp", "sa-wma", "lt-dft", "lt-dct")]},
    "span-convolutions": {"layers": [{"hidden": 128, "heads": 4, "op": op, "ff": [512, 512, 512]} for op in ("dsc-5", "dsc-9")]},
}
# Modules a loader of each format must not need: a fresh process sees them as uninstalled.
NOT_NEEDED = {"onnx": ("nas", "search_spaces", "torch", "safetensors"), "torchscript": ("nas", "search_spaces"), "pytorch": ("nas",)}


@pytest.fixture(scope="module")
def texts(tmp_path_factory) -> tuple[list[str], TaskData]:
    """Real review snippets (every 40th of rotten-tomatoes) as a user CSV task, and its raw texts."""
    directory = tmp_path_factory.mktemp("text-task")
    all_texts, labels, classes = _rotten_tomatoes()
    rows = [(all_texts[i], classes[labels[i]]) for i in range(0, 40 * 320, 40)]
    with open(directory / "reviews.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "label"), *rows])
    task = load_task({"csv": str(directory / "reviews.csv")}, workdir=directory, vocab_size=1000, max_len=32)
    return [" ".join(text.split()) for text, _ in rows[:40]], task  # one line each


@pytest.fixture(scope="module")
def digits():
    return load_task("digits")


def raw_digits(n: int = 40) -> np.ndarray:
    """Images in their original pixel scale (0..16), as a user would pass them."""
    return load_digits().images[:n].astype(np.float32)


def text_model(task, arch_data: dict):
    space = get_space("flexibert", "nas-bench-bert")
    arch = space.validate(arch_data)
    torch.manual_seed(0)
    model = space.supernet(task.shape).extract(arch).eval()
    return space, arch, spread_predictions(model, model.classifier, task.val.inputs)


def vit_model(task, arch_data: dict, preset_overrides: dict | None = SMALL_VIT):
    space = get_space("vit-resnas", "small-images", preset_overrides)
    arch = space.validate(arch_data)
    torch.manual_seed(0)
    model = space.supernet(task.shape).extract(arch).eval()
    return space, arch, spread_predictions(model, model.head, task.val.inputs)


def spread_predictions(model, head, inputs: torch.Tensor):
    """Random weights give every input the same class, which would make comparing predictions
    vacuous: amplify the head and centre its logits on real inputs so the class depends on the input."""
    with torch.no_grad():
        head.weight.mul_(30)
        head.bias.sub_(model(inputs).mean(0))
    return model


def model_inputs(task, raw) -> torch.Tensor:
    """What the model sees for raw inputs, computed as training computed it."""
    if task.kind == "text":
        from tokenizers import Tokenizer

        return encode(Tokenizer.from_file(str(task.tokenizer_path)), raw)
    return torch.tensor((raw[:, None] / 16.0 - task.preprocessing["mean"]) / task.preprocessing["std"], dtype=torch.float32)


def logits_of(model, inputs: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(inputs).numpy()


def run_loader(out_dir: Path, raw, tmp_path: Path, fmt: str) -> list[str]:
    """Class names printed by `python loader.py DIR FILE` in a fresh process where the modules the
    format must not need cannot be imported."""
    blocked = tmp_path / "blocked"
    for module in NOT_NEEDED[fmt]:
        (blocked / module).mkdir(parents=True, exist_ok=True)
        (blocked / module / "__init__.py").write_text(f"raise ImportError('{module} must not be needed by a {fmt} export')\n")
    if isinstance(raw, list):
        input_file = tmp_path / "inputs.txt"
        input_file.write_text("\n".join(raw) + "\n", encoding="utf-8")
    else:
        input_file = tmp_path / "inputs.npy"
        np.save(input_file, raw)
    env = {**os.environ, "PYTHONPATH": str(blocked)}
    command = [sys.executable, str(out_dir / "loader.py"), str(out_dir), str(input_file)]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["index"] for line in lines] == list(range(len(raw)))
    return [line["class"] for line in lines]


def import_loader(out_dir: Path):
    spec = importlib.util.spec_from_file_location(f"loader_{out_dir.name}", out_dir / "loader.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_export_dir(out_dir: Path, fmt: str, kind: str, result) -> dict:
    extra = {"pytorch": [], "torchscript": ["model.pt"], "onnx": ["model.onnx"]}[fmt]
    expected = {"arch.json", "model.safetensors", "loader.py", "MODEL_CARD.md", "tokenizer.json" if kind == "text" else "preprocessing.json", *extra}
    assert {p.name for p in out_dir.iterdir()} == expected == set(result.files)
    assert not [p for p in out_dir.parent.iterdir() if p.name.startswith(".")], "staging directories left behind"
    meta = json.loads((out_dir / "arch.json").read_text())
    assert meta["format"] == fmt and meta["arch_id"] == result.arch_id and meta["task"]["kind"] == kind
    assert meta["package_version"] and meta["classes"] and meta["choices"] and meta["cost"]["params"] > 0
    assert "from nas" not in (out_dir / "loader.py").read_text() and "import nas" not in (out_dir / "loader.py").read_text()
    return meta


# ONNX exports cost seconds each: three models cover every operation, dropped optional blocks and
# a residual spatial reduction (the full-depth ViT goes through TorchScript in the checkpoint test).
MODELS = ["text:attention+transforms", "text:span-convolutions", "image:dropped-blocks"]


@pytest.mark.parametrize("which", MODELS)
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_torchscript_and_onnx_match_pytorch(which, texts, digits, tmp_path):
    """Logits of model.pt and model.onnx (onnxruntime, CPU) equal the PyTorch model's on a batch
    size other than the traced one; the ONNX loader, with neither torch nor our packages, predicts
    as the PyTorch model does."""
    kind, name = which.split(":")
    if kind == "text":
        raw, task = texts
        space, arch, model = text_model(task, TEXT_ARCHS[name])
    else:
        raw, task = raw_digits(), digits
        space, arch, model = vit_model(task, VIT_DROPPED)
    inputs = model_inputs(task, raw)
    expected = logits_of(model, inputs[:5])  # the export traced a batch of 2
    predictions = [task.classes[k] for k in logits_of(model, inputs).argmax(-1)]
    assert len(set(predictions)) > 1, "a constant model would make the prediction check meaningless"

    ts = export_model(model, space, arch, task, "torchscript", tmp_path / "ts", metrics={"note": "random weights"})
    check_export_dir(tmp_path / "ts", "torchscript", kind, ts)
    assert ts.max_abs_diff <= 1e-4
    assert np.abs(logits_of(torch.jit.load(str(tmp_path / "ts" / "model.pt")), inputs[:5]) - expected).max() <= 1e-4

    ox = export_model(model, space, arch, task, "onnx", tmp_path / "onnx")
    meta = check_export_dir(tmp_path / "onnx", "onnx", kind, ox)
    assert meta["parity"]["max_abs_diff"] == ox.max_abs_diff <= 1e-4
    graph = onnx.load(str(tmp_path / "onnx" / "model.onnx"))
    assert max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # a symbolic batch axis
    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(None, {session.get_inputs()[0].name: inputs[:5].numpy()})[0]
    assert np.abs(onnx_logits - expected).max() <= 1e-4

    loader = import_loader(tmp_path / "onnx").load(tmp_path / "onnx")
    assert np.abs(loader.logits(raw[:5]) - expected).max() <= 1e-4  # preprocessing of raw inputs included
    assert run_loader(tmp_path / "onnx", raw, tmp_path, "onnx") == predictions


@pytest.mark.parametrize("kind", ["text", "image"])
def test_pytorch_loader_in_a_fresh_process(kind, texts, digits, tmp_path):
    """The `pytorch` loader rebuilds the model with `search_spaces` (not `nas`) and prints the
    PyTorch model's predictions; images use the unmodified small-images preset with optional
    blocks dropped. (ONNX loaders run in the parity test, TorchScript in the checkpoint test.)"""
    fmt = "pytorch"
    if kind == "text":
        raw, task = texts
        space, arch, model = text_model(task, TEXT_ARCHS["span-convolutions"])
    else:
        raw, task = raw_digits(), digits
        block = [{"heads": h, "mlp": m} for h, m in ((3, 96), (6, 192), (6, 384))]
        dropped = {"stages": [{"width": w, "blocks": [b, None, b, None, b, None]} for w, b in zip((32, 64, 128), block)]}  # slots 2, 4, 6 dropped
        space, arch, model = vit_model(task, dropped, preset_overrides=None)
    predictions = [task.classes[k] for k in logits_of(model, model_inputs(task, raw)).argmax(-1)]
    assert len(set(predictions)) > 1
    result = export_model(model, space, arch, task, fmt, tmp_path / "export")
    check_export_dir(tmp_path / "export", fmt, kind, result)
    assert run_loader(tmp_path / "export", raw, tmp_path, fmt) == predictions


def test_a_generated_tasks_model_exports_with_its_tokenizer(tmp_path):
    """A generated task exports as any text task does: its loader, in a fresh process, reads raw
    ListOps texts (the tokenizer splits `[MAX` as training did) and predicts what the model does."""
    spec = {"generate": "listops", "examples": 300, "min_length": 16, "max_length": 32}
    task = load_task(spec, workdir=tmp_path / "tasks")
    raw = generated_task(spec).generate(seed=5)[0][:20]  # texts of another seed: new to the model
    space, arch, model = text_model(task, TEXT_ARCHS["span-convolutions"])
    predictions = [task.classes[k] for k in logits_of(model, model_inputs(task, raw)).argmax(-1)]
    result = export_model(model, space, arch, task, "pytorch", tmp_path / "export")
    meta = check_export_dir(tmp_path / "export", "pytorch", "text", result)
    assert meta["task"]["name"] == "listops" and meta["task"]["shape"]["max_len"] == 32 + 10 + 2 and meta["classes"] == task.classes
    assert run_loader(tmp_path / "export", raw, tmp_path, "pytorch") == predictions


@pytest.fixture(scope="module")
def small_supernet(digits, tmp_path_factory) -> Path:
    """A supernet of the two-stage SMALL_VIT space trained three epochs on digits: it has learned
    (a fine-tune epoch still helps, a wild one hurts), in seconds. The tests only read it."""
    checkpoint = tmp_path_factory.mktemp("small-supernet") / "ckpt"
    trainer = SupernetTrainer(get_space("vit-resnas", "small-images", SMALL_VIT), digits, plain_config(epochs=3, batch_size=128, archs_per_step=2, lr=3e-3, seed=0))
    trainer.train(show_progress=False, checkpoint_dir=checkpoint)
    return checkpoint


def test_export_from_checkpoint_finetunes_and_reports(small_supernet, digits, tmp_path):
    space = get_space("vit-resnas", "small-images", SMALL_VIT)
    arch = space.validate(VIT_FULL)
    with pytest.raises(ArchValidationError, match=r"stages\[0\].width"):
        too_wide = {"stages": [{"width": 64, "blocks": [{"heads": 1, "mlp": 32}]}] * 2}
        export_from_checkpoint(small_supernet, too_wide, "pytorch", tmp_path / "bad")
    assert not (tmp_path / "bad").exists()

    # No task given: it is loaded again from the checkpoint's metadata.
    result = export_from_checkpoint(small_supernet, VIT_FULL, "torchscript", tmp_path / "export", finetune_epochs=1, seed=0)
    meta = check_export_dir(tmp_path / "export", "torchscript", "image", result)
    metrics = result.metrics
    assert metrics["finetune_epochs"] == 1 and meta["metrics"] == metrics and metrics["weights"] == "inherited"
    assert metrics["val_accuracy"] > metrics["val_accuracy_start"] and metrics["finetune_best_epoch"] == 1
    assert 0 <= metrics["test_accuracy_start"] <= 1 and 0 <= metrics["test_accuracy"] <= 1
    assert meta["arch"] == arch.to_dict()

    # The exported weights are the fine-tuned ones: rebuilt from model.safetensors, they score as reported.
    model = space.build(arch, digits.shape)
    model.load_state_dict(load_file(tmp_path / "export" / "model.safetensors"))
    model.eval()
    accuracy = (logits_of(model, digits.val.inputs).argmax(-1) == digits.val.labels.numpy()).mean()
    assert accuracy == pytest.approx(metrics["val_accuracy"])
    raw = raw_digits()
    predictions = [digits.classes[k] for k in logits_of(model, model_inputs(digits, raw)).argmax(-1)]
    assert run_loader(tmp_path / "export", raw, tmp_path, "torchscript") == predictions


def test_resolve_export_dir(tmp_path):
    base = tmp_path / "exports"
    (base / "runs").mkdir(parents=True)
    assert resolve_export_dir(base, "runs/2024/best") == (base / "runs" / "2024" / "best").resolve()
    assert resolve_export_dir(base, "runs/../other") == (base / "other").resolve()
    assert resolve_export_dir(base, str(base / "abs")) == (base / "abs").resolve()  # absolute, but inside
    (base / "escape").symlink_to(tmp_path)
    for bad in ("../x", "runs/../../x", "/etc", "/etc/passwd", "escape/x", "escape", "", ".", "runs/.."):
        with pytest.raises(ValueError, match="^out: "):
            resolve_export_dir(base, bad)


@pytest.fixture
def small_image_model(digits):
    return vit_model(digits, VIT_DROPPED)


def test_bad_format_and_occupied_out_dir(small_image_model, digits, tmp_path):
    space, arch, model = small_image_model
    with pytest.raises(ValueError, match=r"format: 'tflite' not in \{'onnx', 'pytorch', 'torchscript'\}"):
        export_model(model, space, arch, digits, "tflite", tmp_path / "out")
    assert not (tmp_path / "out").exists() and EXPORT_FORMATS == ("pytorch", "torchscript", "onnx")
    (tmp_path / "out").mkdir()
    export_model(model, space, arch, digits, "pytorch", tmp_path / "out")  # an empty directory is fine
    with pytest.raises(FileExistsError, match="out: .* not empty.*overwrite=True"):
        export_model(model, space, arch, digits, "torchscript", tmp_path / "out")
    assert json.loads((tmp_path / "out" / "arch.json").read_text())["format"] == "pytorch"  # untouched
    export_model(model, space, arch, digits, "torchscript", tmp_path / "out", overwrite=True)
    assert json.loads((tmp_path / "out" / "arch.json").read_text())["format"] == "torchscript"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging or old copies left


def test_failed_export_leaves_nothing(small_image_model, digits, tmp_path, monkeypatch):
    space, arch, model = small_image_model

    def broken(*args, **kwargs):
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(nas.export.exporter, "_export_onnx", broken)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        export_model(model, space, arch, digits, "onnx", tmp_path / "new")
    assert list(tmp_path.iterdir()) == []
    export_model(model, space, arch, digits, "pytorch", tmp_path / "old")
    before = sorted(p.name for p in (tmp_path / "old").iterdir())
    with pytest.raises(RuntimeError, match="exporter crashed"):
        export_model(model, space, arch, digits, "onnx", tmp_path / "old", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == before  # the previous export survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


def test_a_model_of_another_arch_is_refused(small_image_model, digits, tmp_path):
    space, arch, model = small_image_model
    other = space.validate(VIT_FULL)
    with pytest.raises(ValueError, match=f"model: its weights are not those of arch {other.arch_id}"):
        export_model(model, space, other, digits, "onnx", tmp_path / "job-1" / "candidate-2" / "out")
    assert list(tmp_path.iterdir()) == []  # nor the directories made for it


def test_every_exported_file_gets_the_mode_of_a_new_file(small_image_model, digits, tmp_path):
    """The weights are as readable as the rest (safetensors alone writes 0600): every file gets
    the mode the umask gives a new file, whatever the umask."""
    space, arch, model = small_image_model
    for umask, expected in ((0o022, 0o644), (0o027, 0o640)):
        previous = os.umask(umask)
        try:
            export_model(model, space, arch, digits, "torchscript", tmp_path / f"umask-{umask:o}")
        finally:
            os.umask(previous)
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in (tmp_path / f"umask-{umask:o}").iterdir()}
        assert "model.safetensors" in modes and set(modes.values()) == {oct(expected)}, modes


def run_loader_on(out_dir: Path, input_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(out_dir / "loader.py"), str(out_dir), str(input_file)], check=False, capture_output=True, text=True, timeout=120)


def assert_one_line(proc: subprocess.CompletedProcess[str], start: str) -> None:
    """The loader's command refused its input: exit 2, one line on stderr, no traceback, no output."""
    assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.count("\n") == 1 and proc.stderr.startswith(start), proc.stderr


def test_loaders_refuse_inputs_they_cannot_take_in_one_line(small_image_model, digits, texts, tmp_path, capsys):
    """An image model's loader given text, or a text model's given an array, says what it expected
    and what it got: one line and exit 2 from the command, LoaderError (a ValueError) in Python."""
    space, arch, model = small_image_model
    export_model(model, space, arch, digits, "pytorch", tmp_path / "image")
    raw, task = texts
    text_space, text_arch, text_net = text_model(task, TEXT_ARCHS["span-convolutions"])
    export_model(text_net, text_space, text_arch, task, "pytorch", tmp_path / "text")
    (tmp_path / "reviews.txt").write_text("\n".join(raw[:3]) + "\n", encoding="utf-8")
    np.save(tmp_path / "images.npy", raw_digits(3))
    expected = "images as a numpy array of numbers (n, 8, 8) or (n, 1, 8, 8), pixel values 0 to 16"

    # The command, in a process of its own, as a user runs it.
    assert_one_line(run_loader_on(tmp_path / "image", tmp_path / "reviews.txt"), f"INPUT_FILE: {tmp_path / 'reviews.txt'} is not a .npy file; this image model reads a .npy file of {expected}")
    assert_one_line(run_loader_on(tmp_path / "text", tmp_path / "images.npy"), f"INPUT_FILE: {tmp_path / 'images.npy'} is not UTF-8 text; this text model reads a .txt file of one text per line")

    # The same command's function in this process, and the Python API, for every other mistake.
    image, text = (import_loader(tmp_path / name) for name in ("image", "text"))
    np.save(tmp_path / "flat.npy", raw_digits(3).reshape(3, 64))
    np.save(tmp_path / "words.npy", np.array(["a", "b"]))
    (tmp_path / "renamed.npy").write_text("not an array")
    for module, directory, input_file, message in (
        (image, "image", "flat.npy", f"inputs: expected {expected}, got shape (3, 64)"),
        (image, "image", "words.npy", f"inputs: expected {expected}, got texts (2,)"),
        (image, "image", "renamed.npy", f"INPUT_FILE: {tmp_path / 'renamed.npy'} is not a numpy array file; this image model reads a .npy file of {expected}"),
        (image, "image", "missing.npy", f"INPUT_FILE: {tmp_path / 'missing.npy'} not found; this image model reads a .npy file of {expected}"),
        (image, "nowhere", "images.npy", f"export directory: {tmp_path / 'nowhere'} holds no arch.json; expected a directory written by `nas export`"),
    ):
        assert module.main([str(tmp_path / directory), str(tmp_path / input_file)]) == 2
        assert capsys.readouterr() == ("", message + "\n")
    predictor, reader = image.load(tmp_path / "image"), text.load(tmp_path / "text")
    nan = raw_digits(2)
    nan[1, 3, 3] = np.nan
    for inputs, message in (
        (nan, f"inputs: expected {expected}, got NaN or infinite values (1 of 128)"),
        ([np.zeros((8, 8)), np.zeros((7, 7))], f"inputs: expected {expected}, got images of different shapes"),
        (["a text"], f"inputs: expected {expected}, got texts (1,)"),
    ):
        with pytest.raises(image.LoaderError, match=re.escape(message)):
            predictor.predict(inputs)
    for inputs, message in (
        ("one review", "inputs: expected a list of texts (str), got a single str; wrap it in a list"),
        (["good", 3.5], "inputs[1]: expected a text (str), got float 3.5"),
        (raw_digits(2), "inputs: expected a list of texts (str), got a numpy array of float32 (2, 8, 8)"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            reader.predict(inputs)
    assert len(reader.predict(raw[:3])) == len(predictor.predict(raw_digits(3))) == 3  # what they take still works


def test_the_model_card_names_the_kind_with_its_article(small_image_model, digits, tmp_path):
    from nas.export.card import model_card

    space, arch, model = small_image_model
    export_model(model, space, arch, digits, "pytorch", tmp_path / "export")
    card, meta = (tmp_path / "export" / "MODEL_CARD.md").read_text(), json.loads((tmp_path / "export" / "arch.json").read_text())
    assert "\nAn image classifier for task `digits` (10 classes)" in card
    assert "\nA text classifier for task `digits`" in model_card({**meta, "task": {**meta["task"], "kind": "text"}})


def test_the_model_card_gives_the_latency_measured_at_export_in_the_jobs_runtime(small_image_model, digits, tmp_path):
    from nas.export.latency import LatencySettings

    space, arch, model = small_image_model
    settings = LatencySettings(runtime="onnxruntime", batch_size=2, threads=1, max_seconds=1.0)
    export_model(model, space, arch, digits, "pytorch", tmp_path / "export", metrics={"latency_ms": 1.5}, latency=settings)
    card, meta = (tmp_path / "export" / "MODEL_CARD.md").read_text(), json.loads((tmp_path / "export" / "arch.json").read_text())
    measured = meta["latency"]
    assert 0 < measured["low_ms"] <= measured["ms"] <= measured["high_ms"] and measured["ms"] <= measured["median_ms"]
    assert (measured["runtime"], measured["batch_size"], measured["threads"], measured["quantile"]) == ("onnxruntime", 2, 1, 0.1)
    assert f"- latency: {measured['ms']:.2f} ms per call" in card and "onnxruntime, batch 2, 1 thread, measured at export on " in card
    assert "- latency measured by the search, on its evaluator's node: 1.50 ms" in card
    export_model(model, space, arch, digits, "pytorch", tmp_path / "unmeasured")
    assert json.loads((tmp_path / "unmeasured" / "arch.json").read_text())["latency"] is None and "latency" not in (tmp_path / "unmeasured" / "MODEL_CARD.md").read_text()


def test_a_finetune_that_makes_the_model_worse_is_refused_unless_asked(small_supernet, digits, tmp_path):
    from nas.export.exporter import FinetuneWorse

    # A learning rate far too high wrecks the inherited weights in one epoch.
    with pytest.raises(FinetuneWorse, match=r"fine-tuning made the model worse on validation, .* nothing was exported"):
        export_from_checkpoint(small_supernet, VIT_FULL, "pytorch", tmp_path / "worse", finetune_epochs=1, finetune_lr=5.0, task=digits)
    assert not (tmp_path / "worse").exists()
    kept = export_from_checkpoint(small_supernet, VIT_FULL, "pytorch", tmp_path / "kept", finetune_epochs=1, finetune_lr=5.0, keep_worse=True, task=digits)
    assert kept.metrics["val_accuracy"] < kept.metrics["val_accuracy_start"] and kept.metrics["finetune_lr"] == 5.0


def test_training_keeps_the_best_epoch_on_validation(digits):
    from nas.training.standalone import evaluate, train_keeping_best

    space = get_space("vit-resnas", "small-images", SMALL_VIT)
    torch.manual_seed(0)
    model = space.build(space.validate(VIT_FULL), digits.shape)
    seen: list[tuple[int, float, bool]] = []
    best = train_keeping_best(model, digits, 3, lr=3e-3, include_start=False, on_epoch=lambda e, v, new: seen.append((e, v, new)))
    assert [e for e, _, _ in seen] == [1, 2, 3] and best.history[1:] == [v for _, v, _ in seen]
    assert best.val_accuracy == max(best.history[1:]) and best.history[best.epoch] == best.val_accuracy
    assert evaluate(model, digits.val) == pytest.approx(best.val_accuracy)  # the model holds the best epoch's weights


def test_scoring_after_a_short_finetune_is_repeatable_and_changes_the_score(small_supernet):
    from nas.search.evaluation import Scoring, SupernetEvaluator

    arch = get_space("vit-resnas", "small-images", SMALL_VIT).validate(VIT_FULL).to_dict()
    inherited = SupernetEvaluator(str(small_supernet), latency=None).evaluate(arch)
    tuned = SupernetEvaluator(str(small_supernet), latency=None, scoring=Scoring(finetune_steps=20))
    first, second = tuned.evaluate(arch), tuned.evaluate(arch)
    assert first == second  # the same candidate always gets the same steps, and the supernet is untouched
    assert first["accuracy"] != inherited["accuracy"] and first["params"] == inherited["params"]
    assert tuned.finetuned_score(tuned.space.validate(arch), steps=20) == first["accuracy"]


def test_a_short_training_from_inherited_weights_scores_its_best_epoch_and_repeats(small_supernet, digits):
    """The rung between inherited scores and the verified stage: a few epochs of standalone
    training from the inherited weights, scored by its best epoch on the whole validation split;
    the same candidate trains the same way every time, and the supernet is left as it was."""
    from nas.search.evaluation import SupernetEvaluator
    from nas.training.standalone import evaluate_subnet, train_keeping_best

    evaluator = SupernetEvaluator(str(small_supernet), latency=None)
    arch = evaluator.space.validate(VIT_FULL)
    before = evaluate_subnet(evaluator.supernet, arch, digits.val)
    first, second = evaluator.trained_score(arch, epochs=2), evaluator.trained_score(arch, epochs=2)
    assert first == second and evaluate_subnet(evaluator.supernet, arch, digits.val) == before
    trained = train_keeping_best(evaluator.supernet.extract(arch), evaluator.task, 2, seed=int(arch.arch_id[:8], 16), include_start=False)
    assert first == trained.val_accuracy == max(trained.history[1:]) and first != before


def test_candidates_scored_together_score_as_each_alone_and_one_bad_fails_alone(small_supernet, digits):
    """Inherited scores of several candidates in one pass over the validation batches are each
    one's own; an architecture outside the space fails by itself; a sample of the validation
    split is the same for every candidate and scores on its own examples."""
    import random

    from nas.search.evaluation import Scoring, SupernetEvaluator
    from nas.training.standalone import evaluate_subnet

    space = get_space("vit-resnas", "small-images", SMALL_VIT)
    archs = [space.sample(random.Random(i)).to_dict() for i in range(4)]
    evaluator = SupernetEvaluator(str(small_supernet), latency=None)
    too_wide = {"stages": [{"width": 64, "blocks": [{"heads": 1, "mlp": 32}]}] * 2}
    together = evaluator.evaluate_many([archs[0], too_wide, *archs[1:]])
    assert isinstance(together[1], str) and together[1].startswith("ArchValidationError: ") and "stages[0].width" in together[1]
    alone = [evaluator.evaluate(arch) for arch in archs]
    assert [together[0], *together[2:]] == alone
    assert [a["accuracy"] for a in alone] == [evaluate_subnet(evaluator.supernet, space.validate(arch), digits.val) for arch in archs]

    sampled = SupernetEvaluator(str(small_supernet), latency=None, scoring=Scoring(examples=50))
    assert len(sampled.scored_on) == 50 and sampled.scored_on.labels.tolist() == SupernetEvaluator(str(small_supernet), latency=None, scoring=Scoring(examples=50)).scored_on.labels.tolist()
    scores = [m["accuracy"] for m in sampled.evaluate_many(archs)]
    assert all(abs(score * 50 - round(score * 50)) < 1e-9 for score in scores)  # counted on 50 examples
    assert scores == [evaluate_subnet(sampled.supernet, space.validate(arch), sampled.scored_on) for arch in archs]
