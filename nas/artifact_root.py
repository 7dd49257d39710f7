"""Where a job's files live, and how every node of a Ray cluster reaches them without a shared
filesystem.

The artifact root (`--artifact-root`, $NAS_ARTIFACT_ROOT; default `$NAS_HOME/artifacts`) holds
supernet checkpoints, verified weights, exports and the task files a job's remote processes read.
It is a local directory or any fsspec URI (`s3://bucket/nas`, `gs://…`, `file:///mnt/nfs/nas`).

A URI root is taken to be reachable from every node: remote processes read and write it directly.
A plain path is the coordinator's own disk: processes on other nodes go through a `FileRelay`, a
Ray actor on the coordinator's node, so nothing remote ever opens a path of the coordinator's.
Whatever a remote process reads it keeps in its node's cache (`node_cache()`), keyed by content.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nas.paths import data_home

if TYPE_CHECKING:
    from nas.store import JobRecord

logger = logging.getLogger(__name__)

ROOT_ENV = "NAS_ARTIFACT_ROOT"


def default_root() -> str:
    return os.environ.get(ROOT_ENV) or str(data_home() / "artifacts")


def is_uri(location: str) -> bool:
    return "://" in location


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def upload_dir(directory: Path, location: str) -> None:
    """Copy a local directory tree to `location` (a path or a URI)."""
    if not is_uri(location):
        shutil.copytree(directory, location, dirs_exist_ok=True)
        return
    fs, path = _fs(location)
    fs.makedirs(path, exist_ok=True)
    fs.put(f"{directory}/", path.rstrip("/") + "/", recursive=True)


def download_dir(location: str, directory: Path) -> None:
    """Copy the tree at `location` (a path or a URI) into the new local `directory`."""
    if not is_uri(location):
        shutil.copytree(location, directory)
        return
    fs, path = _fs(location)
    Path(directory).mkdir(parents=True)
    fs.get(path.rstrip("/") + "/", f"{directory}/", recursive=True)


def job_dir_name(job: JobRecord) -> str:
    """"job-7-20261201223015123456": the id, and the time it was submitted, so two stores (two
    SQLite files, say) sharing one root never share a job's directory."""
    return f"job-{job.id}-{job.created_at:%Y%m%d%H%M%S%f}"


def node_cache() -> Path:
    """This node's cache of files read from artifact roots (never the coordinator's, on another node)."""
    return data_home() / "cache"


class Files(Protocol):
    """Reading and writing files by location (a path or a URI), wherever the caller runs."""

    def read(self, location: str) -> bytes: ...
    def write(self, location: str, data: bytes) -> None: ...
    def names(self, location: str) -> list[str]: ...
    def exists(self, location: str) -> bool: ...
    def remove(self, location: str) -> None: ...


class DirectFiles:
    """Files the calling process reaches itself: local paths, or URIs through fsspec."""

    def read(self, location: str) -> bytes:
        if not is_uri(location):
            return Path(location).read_bytes()
        fs, path = _fs(location)
        return fs.cat_file(path)

    def write(self, location: str, data: bytes) -> None:
        if not is_uri(location):
            target = Path(location)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
            partial.write_bytes(data)
            os.replace(partial, target)  # a reader never sees half a file
            return
        fs, path = _fs(location)
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        fs.pipe_file(path, data)

    def names(self, location: str) -> list[str]:
        """The files directly under `location` (none if it does not exist)."""
        if not is_uri(location):
            directory = Path(location)
            return sorted(p.name for p in directory.iterdir() if p.is_file() and not p.name.endswith(".partial")) if directory.is_dir() else []
        fs, path = _fs(location)
        if not fs.isdir(path):
            return []
        return sorted(entry["name"].rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(path, detail=True) if entry["type"] == "file")

    def exists(self, location: str) -> bool:
        if not is_uri(location):
            return Path(location).exists()
        fs, path = _fs(location)
        return fs.exists(path)

    def remove(self, location: str) -> None:
        """A file or a whole directory; nothing if it is not there."""
        if not is_uri(location):
            target = Path(location)
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            return
        fs, path = _fs(location)
        if fs.exists(path):
            fs.rm(path, recursive=True)


def _fs(location: str) -> tuple[Any, str]:
    import fsspec

    return fsspec.core.url_to_fs(location)


class FileRelay(DirectFiles):
    """A Ray actor on the coordinator's node that reads and writes the coordinator's local
    artifact root for processes on other nodes (`start_relay`, `RelayedFiles`)."""


class RelayedFiles:
    """`Files` through a FileRelay actor: what remote processes get for a local artifact root."""

    def __init__(self, relay: Any):
        self.relay = relay

    def read(self, location: str) -> bytes:
        return _get(self.relay.read.remote(location))

    def write(self, location: str, data: bytes) -> None:
        _get(self.relay.write.remote(location, data))

    def names(self, location: str) -> list[str]:
        return _get(self.relay.names.remote(location))

    def exists(self, location: str) -> bool:
        return _get(self.relay.exists.remote(location))

    def remove(self, location: str) -> None:
        _get(self.relay.remove.remote(location))


def _get(ref: Any) -> Any:
    import ray

    return ray.get(ref)


def start_relay() -> Any:
    """A FileRelay pinned to this process's node (it needs no CPU: it only moves bytes)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    actor = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=3)(FileRelay)
    return actor.options(scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote()


class ArtifactRoot:
    """The artifact root of this service: where each kind of job file goes."""

    def __init__(self, root: str | Path | None = None):
        location = str(root) if root is not None else default_root()
        self.location = location.rstrip("/") if is_uri(location) else str(Path(location).expanduser().resolve())
        self.files = DirectFiles()

    def check(self) -> ArtifactRoot:
        """The root, once it is known to be usable from here; ValueError saying why not (an
        unknown protocol, its fsspec driver missing, a directory that cannot be made)."""
        try:
            if is_uri(self.location):
                _fs(self.location)
            else:
                Path(self.location).mkdir(parents=True, exist_ok=True)
        except (ImportError, ValueError, OSError) as exc:
            raise ValueError(f"{self.location}: {exc}") from None
        return self

    @property
    def reachable_everywhere(self) -> bool:
        """A URI: every node reads and writes it itself. A plain path: only this machine does."""
        return is_uri(self.location)

    def job(self, job: JobRecord, *parts: str) -> str:
        return join(self.location, "jobs", job_dir_name(job), *parts)

    def supernet(self, job: JobRecord) -> str:
        return self.job(job, "supernet")

    def exports(self) -> str:
        """Where the API server writes the exports clients ask for (unless --export-root says)."""
        return join(self.location, "exports")

    def staged(self, digest: str, name: str) -> str:
        return join(self.location, "task-files", digest, name)

    def __repr__(self) -> str:
        return f"ArtifactRoot({self.location!r})"


# ---- what a job's remote processes are given ----


@dataclass
class JobFiles:
    """What a process on any node needs to reach a job's files. `relay`: the FileRelay of a
    local artifact root (None: the root, or a location, is reachable directly); `home_node`: the
    Ray node of the coordinator, where the relay's files are local; `staged`: the job's task
    files (as the spec names them) -> their copies in the artifact root."""

    relay: Any = None
    home_node: str | None = None
    staged: dict[str, str] = field(default_factory=dict)

    @property
    def direct(self) -> bool:
        """Whether this process reads the root itself: no relay, or on the coordinator's node."""
        if self.relay is None:
            return True
        import ray

        return ray.is_initialized() and ray.get_runtime_context().get_node_id() == self.home_node

    @property
    def files(self) -> Files:
        return DirectFiles() if self.direct else RelayedFiles(self.relay)

    def local_dir(self, location: str, key_file: str) -> Path:
        """`location` as a directory of this node: itself where this process can open it, else
        a copy in the node's cache (`fetch_dir`)."""
        if not is_uri(location) and self.direct:
            return Path(location)
        return self.fetch_dir(location, key_file)

    def fetch_dir(self, location: str, key_file: str, kind: str = "checkpoints") -> Path:
        """A directory of the artifact root, read once into this node's cache. The cache is keyed
        by the location and the content of `key_file` (a checkpoint's metadata, which changes
        with every save), so a newer version at the same location is read again."""
        files = self.files
        key = files.read(join(location, key_file))
        target = node_cache() / kind / hashlib.sha256(location.encode() + b"\0" + key).hexdigest()[:16]
        if target.is_dir():
            return target
        contents = {name: files.read(join(location, name)) for name in files.names(location) if name != key_file}
        _write_dir(target, {**contents, key_file: key})
        return target

    def local_file(self, location: str) -> Path:
        """`location` as a file of this node: itself where this process can open it, else a
        copy in the node's cache."""
        if not is_uri(location) and self.direct:
            return Path(location)
        return self.fetch_file(location)

    def fetch_file(self, location: str) -> Path:
        """A file of the artifact root read into this node's cache (keyed by its content)."""
        data = self.files.read(location)
        target = node_cache() / "files" / hashlib.sha256(data).hexdigest()[:16] / location.rsplit("/", 1)[-1]
        if not target.is_file():
            _write_dir(target.parent, {target.name: data})
        return target

    def publish_dir(self, directory: Path, location: str, last: str | None = None) -> None:
        """Copy `directory`'s files to `location`; `last` (e.g. the checkpoint's metadata) is
        written after the others, so a reader that sees it sees the files it describes."""
        files = self.files
        names = sorted(p.name for p in Path(directory).iterdir() if p.is_file())
        for name in [n for n in names if n != last] + [n for n in names if n == last]:
            files.write(join(location, name), (Path(directory) / name).read_bytes())

    def localize(self, task_spec: Any) -> Any:
        """A task spec (`TaskSpec.to_load_spec()` form) with its staged files replaced by their
        copies in this node's cache."""
        if not isinstance(task_spec, dict) or self.direct:
            return task_spec
        local = dict(task_spec)
        for key, value in task_spec.items():
            if isinstance(value, str) and value in self.staged:
                local[key] = str(self.fetch_file(self.staged[value]))
        return local


def _write_dir(target: Path, contents: dict[str, bytes]) -> None:
    """Write `contents` as `target` at once: concurrent readers on this node (several evaluator
    actors) see the whole directory or none of it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    for name, data in contents.items():
        (partial / name).write_bytes(data)
    try:
        os.replace(partial, target)
    except OSError:  # another process got there first with the same content
        shutil.rmtree(partial, ignore_errors=True)


FILE_KEYS = ("csv", "jsonl", "npz")  # the task spec fields that name a file


def stage_task_files(task_spec: Any, root: ArtifactRoot) -> dict[str, str]:
    """Copy the files a task spec names (on this machine) into the artifact root, once per
    content; returns spec path -> artifact location, for `JobFiles.localize` on other nodes."""
    staged: dict[str, str] = {}
    if not isinstance(task_spec, dict):
        return staged
    for key in FILE_KEYS:
        path = task_spec.get(key)
        if not isinstance(path, str):
            continue
        data = Path(path).read_bytes()
        location = root.staged(hashlib.sha256(data).hexdigest()[:16], Path(path).name)
        if not root.files.exists(location):
            root.files.write(location, data)
            logger.info("task file %s staged as %s (%d bytes)", path, location, len(data))
        staged[path] = location
    return staged


def read_json(files: Files, location: str) -> dict[str, Any] | None:
    """A JSON file of the artifact root, or None if it is not (yet) there."""
    try:
        return json.loads(files.read(location))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
