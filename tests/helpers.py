"""What several test modules share: specs, waiting on conditions, a movable clock, the command
line run in this process or in its own, a `nas serve` process, a small trained job. Fixtures are
in conftest.py; no test module imports another."""

from __future__ import annotations

import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import yaml

from nas.training.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
NAS = [sys.executable, "-m", "nas.cli"]
T = TypeVar("T")
# (space, preset) for every preset of every space.
ALL_PRESETS = [("flexibert", "nas-bench-bert"), ("flexibert", "flexibert"), ("flexibert", "flexibert-2"), ("vit-resnas", "tiny"), ("vit-resnas", "small-images")]


# ---- waiting and time ----


def poll(condition: Callable[[], T], timeout: float, what: str = "the condition", every: float = 0.05) -> T:
    """The first truthy value of `condition()`, asked every `every` seconds; an AssertionError
    naming `what` after `timeout` seconds. Tests wait on conditions, never on fixed sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


class ManualClock:
    """A clock (nas.clock.Clock) that stands still until a test moves it."""

    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=timezone.utc)) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


# ---- requirements a newcomer's machine may lack ----


def require(what: str, problem: str | None, env: str) -> None:
    """Skip the test with `problem` (a one-line reason naming what is missing), or fail it where
    the environment variable `env` is 1 (CI): there the requirement is mandatory."""
    if problem is None:
        return
    if os.environ.get(env, "") not in ("", "0"):
        pytest.fail(f"{what}: {problem} ({env} is set)", pytrace=False)
    pytest.skip(f"{what}: {problem}")


# ---- job specs, the API ----

API_TOKEN = "test-token-\N{GREEK SMALL LETTER ALPHA}"  # non-ASCII: the comparison works on bytes
API_AUTH = {"Authorization": f"Bearer {API_TOKEN}".encode()}  # a header's bytes, UTF-8 here
BENCH_SPEC: dict[str, Any] = yaml.safe_load((EXAMPLES / "nas-bench-bert.yaml").read_text())
# A trained (non-benchmark) job; submitting it loads no data.
DIGITS_SPEC: dict[str, Any] = {"name": "digits-vit", "space": "vit-resnas", "preset": "small-images", "task": "digits"}


def benchmark_spec(**changes: Any) -> dict[str, Any]:
    """The NAS-Bench-BERT example (no training), 12 candidates of regularized evolution."""
    spec = yaml.safe_load((EXAMPLES / "nas-bench-bert.yaml").read_text())
    spec.update({"strategy": "evolution", "budget": {"candidates": 12}, **changes})
    return spec


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """A directory `name` that `make(directory)` fills once per test run, in the directory every
    pytest worker sees (their temporary directories lie in it): whichever worker asks first makes
    it under a file lock, the others wait, then read it. It is marked done only when `make`
    returns, so what a worker that died half-way left is made again (the directory keeps its
    path, which what `make` stores may name)."""
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent if os.environ.get("PYTEST_XDIST_WORKER") else tmp_path_factory.getbasetemp()
    directory, done = shared / name, shared / f"{name}.done"
    with FileLock(str(shared / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir()
            make(directory)
            done.touch()
    return directory


def digits_spec(**changes: Any) -> dict[str, Any]:
    """The digits example with a supernet far too small to learn (the machinery is under test),
    so its health check is off; so is the verified stage, unless `changes` ask for it. Its
    objectives are accuracy and params, which repeat exactly (a measured latency does not).
    Candidates are scored with their inherited weights (no fine-tune: tests/test_export.py covers
    it) and their latency measured for 2 s at most: a candidate costs about a second, not five to
    fifteen on a loaded machine."""
    spec = yaml.safe_load((EXAMPLES / "digits-vit.yaml").read_text())
    spec.update({
        "objectives": [{"metric": "accuracy"}, {"metric": "params"}], "budget": {"candidates": 4},
        "supernet": {"epochs": 1, "archs_per_step": 2, "batch_size": 64, "max_train": 300, "check": False, "score_finetune_steps": 0},
        "latency": {**spec["latency"], "max_seconds": 2}, "verify": {"top_k": 0}, **changes,
    })  # fmt: skip
    return spec


def plain_config(**changes: Any) -> TrainConfig:
    """A trainer config for tests of the trainer's mechanics: one subnet-slice rule and nothing
    else (no sandwich, no curriculum, no MLM) unless a test asks for it."""
    values: dict[str, Any] = {"epochs": 5, "batch_size": 128, "archs_per_step": 4, "sandwich": False, "warmup_epochs": 0, "mlm_epochs": 0, "lr": 1e-3, "seed": 0}
    return TrainConfig(**{**values, **changes})


def reviews_csv(path: Path, count: int, columns: tuple[str, str] = ("text", "label")) -> list[str]:
    """The first `count` rotten-tomatoes review snippets as a user's CSV task (a header of
    `columns`, then text and class name); returns the class names."""
    import csv

    from nas.tasks.data import _rotten_tomatoes

    texts, labels, classes = _rotten_tomatoes()
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows((text, classes[label]) for text, label in list(zip(texts, labels))[:count])
    return classes


# ---- results ----


def assert_non_dominated(front: Sequence[Mapping[str, Any]], done: Sequence[Any], objectives: Sequence[tuple[str, bool]]) -> None:
    """`front` is exactly the set of done candidates no other done candidate dominates."""

    def as_max(c: Any) -> np.ndarray:
        return np.array([c.metrics[m] if up else -c.metrics[m] for m, up in objectives])

    points = {c.seq: as_max(c) for c in done}
    expected = {i for i, p in points.items() if not any(np.all(q >= p) and np.any(q > p) for q in points.values())}
    assert {row["candidate"] for row in front} == expected


def job_reusing_supernet(store: Any, spec: Mapping[str, Any], checkpoint: Path, tmp_path: Path, owner: str | None = None) -> Any:
    """A job of `spec` that holds a copy of the trained supernet `checkpoint` (it trains none of
    its own). The copy is the job's, so deleting the job removes nothing another test reads."""
    from nas import service

    job = service.submit_job(store, spec, owner=owner)
    own = tmp_path / f"supernet-{job.id}"
    shutil.copytree(checkpoint, own)
    store.add_artifact(job.id, "supernet_checkpoint", str(own))
    return job


def trained_job(store: Any, checkpoint: Path, tmp_path: Path, owner: str | None = None, accuracy: float = 0.3) -> tuple[Any, Any]:
    """A digits job reusing the supernet `checkpoint`, with one done candidate, the space's
    smallest, scoring `accuracy`: something to export."""
    from search_spaces import get_space

    space = get_space("vit-resnas", "small-images")
    job = job_reusing_supernet(store, DIGITS_SPEC, checkpoint, tmp_path, owner)
    arch = space.extreme(random.Random(0), largest=False)
    (candidate,) = store.add_candidates(job.id, [(arch.arch_id, arch.to_dict())])
    store.start_candidate(candidate.id, "test")
    store.record_result(candidate.id, {"accuracy": accuracy, "params": space.cost(arch).params})
    return job, candidate


def verdict_job(store: Any, checkpoint: Path, tmp_path: Path, owner: str | None = None) -> Any:
    """A finished digits job whose one rung (a 5-step fine-tune) scored its candidate (the space's
    smallest), whose verified stage trained it and the plain family's plain-S beside it, two seeds
    each, and stated its verdict, as the coordinator records them (the figures are made up; the
    records and the verdict are real)."""
    from nas.job.schema import JobSpec
    from nas.results.verdict import trained_models, verdict
    from nas.store import EventKind
    from search_spaces import get_space

    space = get_space("vit-resnas", "small-images")
    rungs = {"eta": 2, "finetune_steps": 5, "train_epochs": 0}
    job = job_reusing_supernet(store, {**DIGITS_SPEC, "objectives": [{"metric": "accuracy"}, {"metric": "latency_ms"}], "rungs": rungs}, checkpoint, tmp_path, owner)
    claim = store.claim_job("setup", job.id).claim
    arch, plain = space.extreme(random.Random(0), largest=False), next(m for m in space.plain_family() if m.name == "plain-S")

    def measured(arch: Any, ms: float) -> dict[str, float]:
        return {"params": float(space.cost(arch).params), "latency_ms": ms, "latency_low_ms": 0.98 * ms, "latency_high_ms": 1.02 * ms}

    (candidate,) = store.add_candidates(job.id, [(arch.arch_id, arch.to_dict())], claim=claim)
    store.start_candidate(candidate.id, "setup", claim=claim)
    store.record_result(candidate.id, {"accuracy": 0.9, **measured(arch, 0.5)}, claim=claim)
    store.record_rung_score(candidate.id, 1, "fine-tuned 5 steps", 0.92, 2.0, claim=claim)
    reference = store.add_reference(job.id, plain.name, plain.arch.to_dict(), plain.arch.arch_id, {"accuracy": 0.9, **measured(plain.arch, 0.8)}, claim=claim)
    figures = {"init": "inherited", "best_epoch": 2, "epochs_trained": 3, "epochs": 3, "seconds": 5.0, "test_examples": 179}
    store.record_verification(candidate.id, {**figures, "val_accuracy": 0.95, "test_accuracy": 0.94, "weights": None}, claim=claim)
    for seed, (ours, theirs) in enumerate([(0.94, 0.93), (0.95, 0.94)]):
        store.record_training(job.id, {**figures, "val_accuracy": ours, "test_accuracy": ours}, seed=seed, candidate_id=candidate.id, claim=claim)
        store.record_training(job.id, {**figures, "val_accuracy": theirs, "test_accuracy": theirs}, seed=seed, reference_id=reference.id, claim=claim)
    objectives = [o.metric for o in JobSpec.from_stored(job.spec).objectives]
    found = verdict(trained_models(store, job.id), objectives, "onnxruntime, batch 1, 1 thread")
    store.add_event(job.id, EventKind.VERDICT, f"verdict: {found.text}", found.to_dict())
    return store.finish_job(job.id, "succeeded", claim=claim)


# ---- the command line ----


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def cli(*args: str, stdin: str | None = None) -> CliResult:
    """`nas ARGS` run in this process (Typer's runner): what a user's shell would show, without a
    process start. The `nas` logger is left as it was (the command attaches a stderr handler)."""
    from typer.testing import CliRunner

    from nas.cli.main import app

    logger = logging.getLogger("nas")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    try:
        result = CliRunner().invoke(app, list(args), input=stdin, catch_exceptions=False)
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
    return CliResult(result.exit_code, result.stdout, result.stderr)


def env_for(tmp_path: Path, ray_address: str | None = None) -> dict[str, str]:
    """The environment of a `nas` process a test starts: its own data directory, this checkout;
    with `ray_address`, it joins that Ray cluster instead of starting its own (bounded) one."""
    env = {**os.environ, "NAS_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    if ray_address is not None:
        env["RAY_ADDRESS"] = ray_address
        env.pop("NAS_RAY_CPUS", None)  # a bound for local clusters only
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def nas_serve(tmp_path: Path, *args: str, token: str | None = "serve-token", ray_address: str | None = None) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A `nas serve` process on a free port of this machine, its store under tmp_path (its
    coordinators on the Ray cluster at `ray_address`, else each on its own); yields its URL once
    /health answers, and stops it (SIGINT, as Ctrl-C) at the end."""
    import httpx

    port = free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    environment = env_for(tmp_path, ray_address)
    environment.pop("NAS_DB_URL", None)
    environment.pop("NAS_ARTIFACT_ROOT", None)  # its home's, as a server started with only NAS_HOME
    if token:
        environment["NAS_API_TOKEN"] = token
    else:
        environment.pop("NAS_API_TOKEN", None)
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([*NAS, "serve", "--port", str(port), *args], env=environment, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert server.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        poll(answers, 60, "the server to answer", every=0.2)
        yield url, server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
        log.close()


def advance_once_evaluating(store: Any, job_id: int, clock: Any, seconds: float) -> Any:
    """A started thread that moves `clock` on by `seconds` once the job has an evaluation in
    flight (a time budget spent while evaluations run); join it after the job."""
    import threading

    def advance() -> None:
        poll(lambda: store.counts(job_id).get("running", 0) >= 1, 240, "an evaluation in flight")
        clock.advance(seconds)

    mover = threading.Thread(target=advance, daemon=True)
    mover.start()
    return mover
