"""Datasets a client uploads to a server (POST /datasets), so that a spec can name data the
server's filesystem holds without the client ever seeing it: `task: {dataset: ID}`.

Each upload is checked as a job's task file is (`nas.tasks.data.check_task_data`: columns,
classes, arrays), then kept under `<data root>/datasets/<id>/` beside a manifest. The id comes
from the uploader and the content's SHA-256, so the same file uploaded twice by one user is one
dataset.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from nas.tasks.catalog import FILE_FORMATS

logger = logging.getLogger(__name__)

MAX_DATASET_BYTES = 100 * 2**20  # a text table of a few hundred thousand rows, or images to match
DATASETS_DIR = "datasets"
_ID = re.compile(r"ds-[0-9a-f]{16}")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
MANIFEST = "manifest.json"


class DatasetError(ValueError):
    """An upload or a dataset reference that cannot be used: `field` names what is wrong."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


class DatasetNotFound(KeyError):
    def __init__(self, dataset_id: str):
        self.dataset_id = dataset_id
        super().__init__(dataset_id)

    def __str__(self) -> str:
        return f"dataset {self.dataset_id!r} not found (GET /datasets lists the uploaded ones)"


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str  # the file name the client gave
    format: str  # csv | jsonl | npz
    sha256: str
    bytes: int
    train_examples: int | None  # of the training split a job makes of it
    text_column: str | None  # csv / jsonl: the columns it was checked with (a spec may name others)
    label_column: str | None
    uploaded_at: str
    owner: str | None = None  # the uploading user (API keys); None: the server's token

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def datasets_root(data_root: Path) -> Path:
    return Path(data_root) / DATASETS_DIR


def incoming_path(data_root: Path) -> Path:
    """Where an upload is written while it arrives (same filesystem as its final place)."""
    root = datasets_root(data_root)
    root.mkdir(parents=True, exist_ok=True)
    return root / f".incoming-{uuid.uuid4().hex}"


def check_upload_fields(name: str, fmt: str | None, text_column: str | None, label_column: str | None) -> str:
    """The upload's format (given, or from the name's suffix); DatasetError for a bad field."""
    if not _NAME.fullmatch(name) or name.startswith("."):
        raise DatasetError("name", f"{name!r} is not a plain file name (letters, digits, '.', '_', '-'; at most 100)")
    fmt = fmt or Path(name).suffix.removeprefix(".").lower()
    if fmt not in FILE_FORMATS:
        raise DatasetError("format", f"{fmt!r} not one of {', '.join(FILE_FORMATS)} (give format=, or a name ending in one)")
    if fmt == "npz" and (text_column or label_column):
        raise DatasetError("text_column" if text_column else "label_column", "only csv and jsonl datasets have columns")
    return fmt


def register_upload(data_root: Path, incoming: Path, name: str, fmt: str, text_column: str | None, label_column: str | None, owner: str | None = None) -> Dataset:
    """Check the uploaded file at `incoming` as a task file and keep it as `owner`'s; the file is
    moved or removed either way. DatasetError (field `body`) when it would not load as a task."""
    from nas.tasks.data import TaskDataError, check_task_data  # reads the data: only uploads pay

    try:
        columns = {"text_column": text_column or "text", "label_column": label_column or "label"} if fmt != "npz" else {}
        try:
            train_examples = check_task_data({fmt: str(incoming), **columns})
        except TaskDataError as exc:  # the client's name for the file, never the server's path
            # The uploader's own file: its columns may be named back to them, with how to choose.
            message = str(exc).replace(str(incoming), repr(name))
            if ": no column " in message:
                message += " (name the text and label columns with the text_column and label_column parameters)"
            raise DatasetError("body", message) from None
        digest = _sha256(incoming)
        # One dataset per owner and content: the same file from another user is theirs, and
        # nobody learns from an id that someone else uploaded it.
        dataset_id = "ds-" + hashlib.sha256(f"{owner or ''}\0{digest}".encode()).hexdigest()[:16]
        directory = datasets_root(data_root) / dataset_id
        if (directory / MANIFEST).is_file():  # the same content again: one dataset
            logger.info("dataset %s: uploaded again as %s", dataset_id, name)
            return get_dataset(data_root, dataset_id)
        directory.mkdir(parents=True, exist_ok=True)
        incoming.replace(directory / name)
        dataset = Dataset(
            id=dataset_id, name=name, format=fmt, sha256=digest, bytes=(directory / name).stat().st_size, train_examples=train_examples,
            text_column=columns.get("text_column"), label_column=columns.get("label_column"), uploaded_at=datetime.now(timezone.utc).isoformat(), owner=owner,
        )  # fmt: skip
        # The manifest last: a dataset without one is an unfinished upload, never listed.
        (directory / MANIFEST).write_text(json.dumps(dataset.to_dict(), indent=2))
        logger.info("dataset %s: %s (%s, %d bytes) stored", dataset_id, name, fmt, dataset.bytes)
        return dataset
    finally:
        incoming.unlink(missing_ok=True)


def client_message(message: str, path: str, name: str) -> str:
    """A data error as a client may see it: the file by the client's name, and none of its content
    (the loader's messages quote columns and values found)."""
    return message.replace(path, repr(name)).split("; columns are")[0].split("; found")[0]


def get_dataset(data_root: Path, dataset_id: str) -> Dataset:
    if not isinstance(dataset_id, str) or not _ID.fullmatch(dataset_id):
        raise DatasetNotFound(str(dataset_id))
    manifest = datasets_root(data_root) / dataset_id / MANIFEST
    if not manifest.is_file():
        raise DatasetNotFound(dataset_id)
    return Dataset(**json.loads(manifest.read_text()))


def dataset_file(data_root: Path, dataset_id: str) -> Path:
    dataset = get_dataset(data_root, dataset_id)
    return datasets_root(data_root) / dataset.id / dataset.name


def list_datasets(data_root: Path) -> list[Dataset]:
    """The uploaded datasets, oldest first."""
    root = datasets_root(data_root)
    found = [get_dataset(data_root, d.name) for d in root.iterdir() if _ID.fullmatch(d.name) and (d / MANIFEST).is_file()] if root.is_dir() else []
    return sorted(found, key=lambda d: (d.uploaded_at, d.id))


def delete_dataset(data_root: Path, dataset_id: str) -> Dataset:
    """Remove a dataset (jobs that trained on it keep their results; rerunning them fails)."""
    dataset = get_dataset(data_root, dataset_id)
    shutil.rmtree(datasets_root(data_root) / dataset.id)
    logger.info("dataset %s deleted", dataset.id)
    return dataset


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
