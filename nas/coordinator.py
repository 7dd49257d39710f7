"""The coordinator: claims a job from the store, trains (or reuses) its supernet as a Ray task,
then loops strategy.ask -> Ray actors evaluate -> commit -> strategy.tell until the budget or the
time is spent, or the job is cancelled.

The store is the source of truth, which is what makes a job resumable after a crash: results are
committed as each evaluation finishes; on (re)start, candidates left `running` go back to
`proposed` and are evaluated before anything new is asked; the strategy is rebuilt by replaying
the stored results (strategies are deterministic in what they have been told); the supernet
checkpoint is reused, or its training resumed from the last epoch's checkpoint.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nas.log import silenced
from nas.paths import data_home
from nas.spec import JobSpec, parse_spec
from nas.store import DEFAULT_MAX_ATTEMPTS, DEFAULT_STALE_AFTER_S, CandidateRecord, JobRecord, Store

SUPERNET_ARTIFACT = "supernet_checkpoint"
# Event kinds of a job's supernet training, in the order they occur (the service reads the latest).
SUPERNET_STARTED, SUPERNET_PROGRESS, SUPERNET_TRAINED = "supernet", "supernet_progress", "supernet_trained"
HEARTBEAT_S = 5.0


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def init_ray(address: str | None) -> None:
    import ray

    if not ray.is_initialized():
        # Local by default; an existing cluster by address (or RAY_ADDRESS, which ray reads itself).
        address = address or os.environ.get("RAY_ADDRESS") or None
        # A local cluster gets Ray's token auth by default; Ray's warning announcing that default
        # would be the first line of every local run, so it is silenced for local starts only.
        with silenced("ray._private.authentication.authentication_token_setup") if address is None else nullcontext():
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)


def train_supernet(spec_data: dict[str, Any], checkpoint_dir: str) -> int:
    """Ray task body: train the job's supernet, checkpointing every epoch; resumes a partial run.
    Returns the step it started from (0 for a fresh run)."""
    import torch

    from nas.data import load_task
    from nas.supernet_training import SupernetTrainer, TrainConfig

    torch.set_num_threads(1)
    spec = parse_spec(spec_data)
    settings = spec.supernet
    data = load_task(spec.task.to_load_spec(), seed=spec.seed, max_train=settings.max_train)
    directory = Path(checkpoint_dir)
    if (directory / "checkpoint.json").exists():
        trainer = SupernetTrainer.resume(directory, data, device="cpu")
    else:
        config = TrainConfig(
            epochs=settings.epochs, mlm_epochs=settings.mlm_epochs if data.kind == "text" else 0, batch_size=settings.batch_size,
            archs_per_step=settings.archs_per_step, lr=settings.lr,
            sandwich=settings.sandwich and settings.archs_per_step >= 2,  # a one-subnet step has no room for the sandwich
            warmup_epochs=min(settings.warmup_epochs, settings.epochs), seed=spec.seed, device="cpu",
        )  # fmt: skip
        trainer = SupernetTrainer(spec.search_space(), data, config)
    started_at = trainer.position.global_step
    trainer.train(show_progress=False, checkpoint_dir=directory, checkpoint_every=trainer.steps_per_epoch())
    return started_at


@dataclass
class _Flight:
    candidate: CandidateRecord
    actor: int
    handle: Any  # the actor it was sent to (a replacement actor has a new handle)
    order: int  # dispatch order: an actor runs its candidates first in, first out


SLOTS_PER_ACTOR = 2  # one evaluating, one queued behind it: the actor never waits for our commits


@dataclass
class _Heartbeat:
    """Refreshes the claim in the background; `lost` is set when another coordinator took over."""

    store: Store
    job_id: int
    worker: str
    interval: float
    lost: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                if not self.store.heartbeat(self.job_id, self.worker):
                    self.lost.set()
                    return
            except Exception:  # a database hiccup: try again next beat; staleness is minutes away
                continue


class Coordinator:
    def __init__(
        self,
        store: Store,
        worker: str | None = None,
        ray_address: str | None = None,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        jobs_dir: Path | None = None,
        show_progress: bool = False,
        evaluator: type | None = None,
    ):
        """`evaluator`: the class Ray actors run for trained jobs (default SupernetEvaluator; its
        constructor takes the checkpoint directory, and `evaluate(arch_data)` returns metrics)."""
        self.store, self.worker = store, worker or default_worker_name()
        self.ray_address, self.stale_after_s, self.max_attempts = ray_address, stale_after_s, max_attempts
        self.jobs_dir = jobs_dir or data_home() / "jobs"
        self.show_progress = show_progress
        self.evaluator = evaluator
        self._dispatched = itertools.count()

    # ---- picking jobs ----
    def run_next(self, job_id: int | None = None) -> JobRecord | None:
        """Claim and run one job (queued, or running with a stale heartbeat); None if none is claimable."""
        job = self.store.claim_job(self.worker, job_id=job_id, stale_after_s=self.stale_after_s)
        return self.run_job(job) if job is not None else None

    def serve_forever(self, poll_s: float = 2.0, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        while not stop.is_set():
            if self.run_next() is None:
                stop.wait(poll_s)

    # ---- one job ----
    def run_job(self, job: JobRecord) -> JobRecord:
        heartbeat = _Heartbeat(self.store, job.id, self.worker, min(HEARTBEAT_S, self.stale_after_s / 4))
        heartbeat.start()
        try:
            status, error = self._search(job, heartbeat)
        except Exception as exc:  # the job fails with the reason; the coordinator lives on
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            heartbeat.stop.set()
        if status is None:  # claim lost: the other coordinator finishes the job
            return self.store.get_job(job.id)
        return self.store.finish_job(job.id, status, error=error, worker=self.worker)

    def _search(self, job: JobRecord, heartbeat: _Heartbeat) -> tuple[str | None, str | None]:
        import ray

        spec = parse_spec(job.spec)
        self.store.reset_running(job.id)
        init_ray(self.ray_address)
        if spec.is_benchmark:
            from nas.evaluation import BenchmarkEvaluator
            from surrogates.benchmarks import nas_bench_bert_file
            from surrogates.tabular import NAS_BENCH_BERT_TASK, NasBenchBertTable

            path = nas_bench_bert_file()
            evaluator, args, shape = BenchmarkEvaluator, (str(path),), NAS_BENCH_BERT_TASK
            pool = NasBenchBertTable(path).pool
        else:
            from nas.evaluation import SupernetEvaluator
            from nas.supernet_training import read_checkpoint_meta

            checkpoint = self._supernet(job, spec, heartbeat)
            if checkpoint is None:
                return ("cancelled", None) if self.store.get_job(job.id).cancel_requested else (None, None)
            meta = read_checkpoint_meta(Path(checkpoint))
            shape = type(spec.search_space().default_task())(**meta["task"]["shape"])
            evaluator, args, pool = self.evaluator or SupernetEvaluator, (checkpoint,), None
        space = spec.search_space()
        from nas.strategies import make_strategy

        strategy = make_strategy(spec, space, shape, pool)
        done = sorted(self.store.candidates(job.id, "done"), key=lambda c: (c.finished_at or datetime.min.replace(tzinfo=timezone.utc), c.seq))
        for candidate in done:  # replay: the strategy becomes what it was before the restart
            strategy.tell(space.validate(candidate.arch), candidate.metrics)
        remote = ray.remote(num_cpus=1, max_restarts=0)(evaluator)
        actors = [remote.remote(*args) for _ in range(spec.workers)]
        try:
            return self._evaluate_loop(job, spec, space, strategy, remote, args, actors, heartbeat)
        finally:
            for actor in actors:
                ray.kill(actor)

    def _supernet(self, job: JobRecord, spec: JobSpec, heartbeat: _Heartbeat) -> str | None:
        """The job's checkpoint directory: reused if training finished, else trained as a Ray task
        (resuming a partial checkpoint). None if the job was cancelled or the claim lost meanwhile."""
        import ray

        from nas.supernet_training import checkpoint_progress, describe_progress

        finished = self.store.artifacts(job.id, SUPERNET_ARTIFACT)
        if finished:
            return finished[-1].path
        directory = self.jobs_dir / f"job-{job.id}" / "supernet"
        directory.mkdir(parents=True, exist_ok=True)
        self.store.add_event(job.id, SUPERNET_STARTED, f"training the supernet in {directory}", {"epochs": spec.supernet.epochs})
        task = ray.remote(num_cpus=1, max_retries=0)(train_supernet).remote(spec.to_dict(), str(directory))
        recorded_step = None
        with self._progress() as progress:
            bar = progress.add_task("supernet", total=None)
            while True:
                ready, _ = ray.wait([task], timeout=1.0)
                if ready:
                    resumed_from = ray.get(task)
                    break
                if heartbeat.lost.is_set() or self.store.get_job(job.id).cancel_requested:
                    ray.cancel(task, force=True)
                    return None
                # Each epoch's checkpoint becomes an event, so `nas status` and the API show progress.
                now = checkpoint_progress(directory)
                if now is not None and now["step"] != recorded_step and now["phase"] != "done":
                    recorded_step, line = now["step"], describe_progress(now)
                    self.store.add_event(job.id, SUPERNET_PROGRESS, line, now)
                    progress.update(bar, description=f"supernet {line}")
        if resumed_from:
            self.store.add_event(job.id, "supernet_resumed", f"supernet training resumed at step {resumed_from}", {"step": resumed_from})
        final = checkpoint_progress(directory)
        self.store.add_event(job.id, SUPERNET_TRAINED, describe_progress(final) if final else "trained", final)
        self.store.add_artifact(job.id, SUPERNET_ARTIFACT, str(directory), {"space": spec.space, "preset": spec.preset})
        return str(directory)

    def _evaluate_loop(self, job, spec: JobSpec, space, strategy, remote, args, actors: list, heartbeat: _Heartbeat) -> tuple[str | None, str | None]:
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        budget = spec.budget.candidates
        deadline = _deadline(self.store.get_job(job.id), spec)
        primary = spec.surrogate_objectives()[0]
        in_flight: dict[Any, _Flight] = {}
        idle = list(range(len(actors))) * SLOTS_PER_ACTOR
        with self._progress() as progress:
            counts = self.store.counts(job.id)
            bar = progress.add_task("candidates", total=budget, completed=counts.get("done", 0) + counts.get("failed", 0))
            while True:
                if heartbeat.lost.is_set():
                    return None, None
                if self.store.get_job(job.id).cancel_requested:
                    self.store.reset_running(job.id)  # unfinished evaluations are dropped, finished ones stay
                    return "cancelled", None
                counts = self.store.counts(job.id)
                finished = counts.get("done", 0) + counts.get("failed", 0)
                if finished >= budget:
                    return "succeeded", None
                if deadline is not None and time.time() >= deadline and not in_flight:
                    self.store.add_event(job.id, "time_budget", f"max_minutes={spec.budget.max_minutes} spent after {finished} candidates")
                    if counts.get("done", 0) == 0:  # a job that found nothing has not succeeded
                        spent_on, remedy = ("training the supernet", "raise it or lower supernet.epochs") if spec.supernet is not None else ("starting up", "raise it")
                        return "failed", f"budget.max_minutes: {spec.budget.max_minutes} min were spent {spent_on} before any candidate was evaluated; {remedy}"
                    return "succeeded", None
                if deadline is None or time.time() < deadline:
                    self._dispatch(job, strategy, actors, idle, in_flight, budget - finished)
                if not in_flight:
                    self.store.add_event(job.id, "exhausted", f"no candidates left to evaluate after {finished}")
                    return "succeeded", None
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
                for ref in ready:
                    if ref not in in_flight:  # settled with an earlier failure of its actor
                        continue
                    flight = in_flight.pop(ref)
                    try:
                        metrics, seconds = ray.get(ref)
                    except RayActorError as exc:
                        self._worker_died(flight, exc, in_flight, actors, idle, lambda: remote.remote(*args))
                        continue
                    except RayTaskError as exc:  # the evaluation raised: retried like a crash, up to max_attempts
                        self.store.record_failure(flight.candidate.id, _reason(exc), self.max_attempts)
                    else:
                        self.store.record_result(flight.candidate.id, metrics, seconds)
                        strategy.tell(space.validate(flight.candidate.arch), metrics)
                    idle.append(flight.actor)
                if self.show_progress:
                    best = self.store.best(job.id, primary.metric, primary.maximize)
                    counts = self.store.counts(job.id)
                    best_text = f"best {primary.metric} {best.metrics[primary.metric]:.4g}" if best else ""
                    progress.update(bar, completed=counts.get("done", 0) + counts.get("failed", 0), description=f"candidates {best_text}")

    def _worker_died(self, flight: _Flight, exc: Exception, in_flight: dict, actors: list, idle: list[int], replacement) -> None:
        """An actor died: the earliest candidate dispatched to it was running and counts a failed
        attempt; those queued behind it never started and go back to `proposed` as they were."""
        lost = sorted([flight, *(f for f in in_flight.values() if f.handle is flight.handle)], key=lambda f: f.order)
        for ref in [r for r, f in in_flight.items() if f.handle is flight.handle]:
            del in_flight[ref]
        self.store.record_failure(lost[0].candidate.id, _reason(exc), self.max_attempts)
        for queued in lost[1:]:
            self.store.release_candidate(queued.candidate.id)
        if actors[flight.actor] is flight.handle:
            actors[flight.actor] = replacement()
        idle.extend(f.actor for f in lost)

    def _dispatch(self, job: JobRecord, strategy, actors: list, idle: list[int], in_flight: dict, remaining: int) -> None:
        """Give every idle actor a candidate: stored `proposed` ones first (left from before a
        restart, or retries), then new proposals from the strategy."""
        flying = {f.candidate.id for f in in_flight.values()}
        while idle and len(in_flight) < remaining:
            queued = [c for c in self.store.candidates(job.id, "proposed") if c.id not in flying]
            if not queued:
                # Everything not done is pending for the strategy (only those rows are read: done ones pile up).
                unfinished = sorted((c for status in ("proposed", "running", "failed") for c in self.store.candidates(job.id, status)), key=lambda c: c.seq)
                pending = [strategy.space.validate(c.arch) for c in unfinished]
                wanted = min(len(idle), remaining - len(in_flight))
                asked = strategy.ask(wanted, pending=pending)
                if not asked:
                    return
                self.store.add_candidates(job.id, [(a.arch_id, a.to_dict()) for a in asked])
                continue
            candidate = self.store.start_candidate(queued[0].id, self.worker)
            actor = idle.pop(0)
            ref = actors[actor].timed.remote(candidate.arch)
            in_flight[ref] = _Flight(candidate, actor, actors[actor], next(self._dispatched))
            flying.add(candidate.id)

    def _progress(self) -> Progress:
        return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), disable=not self.show_progress, transient=False)


def _reason(exc: Exception) -> str:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first_line}"


def _deadline(job: JobRecord, spec: JobSpec) -> float | None:
    """Wall-clock end of the job's time budget, counted from its first start (a resumed job does
    not get a fresh budget)."""
    if spec.budget.max_minutes is None:
        return None
    started = job.started_at or datetime.now(timezone.utc)
    return started.timestamp() + spec.budget.max_minutes * 60
