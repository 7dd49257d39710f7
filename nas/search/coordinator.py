"""The coordinator: claims a job from the store, trains (or reuses) its supernet as a Ray task,
then loops strategy.ask -> Ray actors evaluate -> commit -> strategy.tell until the budget or the
time is spent, or the job is cancelled.

The store is the source of truth, which is what makes a job resumable after a crash: results are
committed as each evaluation finishes; on (re)start, candidates left `running` go back to
`proposed` and are evaluated before anything new is asked; the strategy is rebuilt by telling it
the stored results in candidate order (strategies are deterministic in what they have been told,
and `nas.search.proposals` makes what they are told independent of timing); the supernet
checkpoint is reused, or its training resumed from the last epoch's checkpoint.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from nas.artifact_root import ArtifactRoot, JobFiles, job_dir_name, join, read_json, stage_task_files, start_relay
from nas.export.latency import LatencySettings
from nas.job.metrics import format_metrics
from nas.job.schema import JobSpec, LatencySpec
from nas.paths import data_home
from nas.results.front import pareto_candidates, verification_choice
from nas.search.cluster import init_ray, settle_tune_settings
from nas.search.compute import cpu_budget, search_began, search_cpus, stage_compute
from nas.search.dispatch import Died, Evaluated, EvaluatorPool, Raised
from nas.search.dispatch import Outcome as PoolOutcome
from nas.search.heartbeat import Heartbeat, Presence
from nas.search.latency_plan import LatencyPlan
from nas.search.proposals import Proposer, known_before
from nas.search.reporting import best_line, failure, health_line, how_it_proposes, nothing_proposed, place, placement_line, progress_bars
from nas.search.resources import ask_of, check_fits, check_fits_together, describe_ask, how_many_fit, node_resources, ray_options
from nas.search.supernet_task import train_supernet
from nas.statuses import candidates_finished
from nas.store import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_STALE_AFTER_S,
    ArtifactKind,
    CandidateRecord,
    CandidateStatus,
    Claim,
    ClaimLost,
    EventKind,
    JobRecord,
    JobStatus,
    Store,
)
from nas.training.checkpoint import META_FILE
from search_spaces import SearchSpace, TaskShape
from surrogates.base import Strategy

logger = logging.getLogger(__name__)

HEARTBEAT_S = 5.0


@dataclass(frozen=True)
class Ended:
    """How a stage ended the job: its final status, with the error when it failed (a stage that
    succeeded hands on to the next one)."""

    status: JobStatus
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == JobStatus.SUCCEEDED


@dataclass(frozen=True)
class TakenOver:
    """The claim was lost: another coordinator took the job over and finishes it; this one stops
    without writing anything more."""

    succeeded = False


SUCCEEDED, CANCELLED, TAKEN_OVER = Ended(JobStatus.SUCCEEDED), Ended(JobStatus.CANCELLED), TakenOver()
Outcome = Ended | TakenOver  # what each stage of a job returns


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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
        artifact_root: ArtifactRoot | str | Path | None = None,
        ray_cpus: int | None = None,
    ):
        """`jobs_dir`: this machine's working files (the verified stage's Tune state);
        `artifact_root`: where checkpoints and weights go (`nas.artifact_root`; default
        $NAS_ARTIFACT_ROOT or $NAS_HOME/artifacts). `evaluator`: the class Ray actors run
        (default SupernetEvaluator, built with the keywords checkpoint, job_files, threads,
        latency and scoring; in benchmark mode BenchmarkEvaluator, with the table's `path`); its
        `evaluate_many(arch_datas)` returns each one's metrics. `ray_cpus`: the CPUs
        of the local Ray cluster it starts when given no `ray_address` (default: the machine's).
        Time budgets are counted on the store's clock."""
        settle_tune_settings()
        self.store, self.worker = store, worker or default_worker_name()
        self.ray_address, self.ray_cpus, self.stale_after_s, self.max_attempts = ray_address, ray_cpus, stale_after_s, max_attempts
        self.jobs_dir = jobs_dir or data_home() / "jobs"
        self.show_progress = show_progress
        self.evaluator = evaluator
        self.ask_ahead = True  # False: ask only for idle slots and wait for it (the benchmark's baseline)
        self.stagger_starts = True  # False: all evaluator actors start at once (the benchmark's baseline)
        self.artifacts = artifact_root if isinstance(artifact_root, ArtifactRoot) else ArtifactRoot(artifact_root)
        self._relay: Any = None  # the FileRelay of a local artifact root, started with the first job
        self._running: dict[int, Claim] = {}  # the claims of the jobs being run, to hand back on a stop
        self._lock = threading.Lock()  # over _running and _relay: with --max-jobs, jobs run in threads

    # ---- picking jobs ----
    def run_next(self, job_id: int | None = None) -> JobRecord | None:
        """Claim and run one job (queued, or running with a stale heartbeat); None if none is claimable."""
        job = self.store.claim_job(self.worker, job_id=job_id, stale_after_s=self.stale_after_s)
        return self.run_job(job) if job is not None else None

    def serve_forever(self, poll_s: float = 2.0, stop: threading.Event | None = None, max_jobs: int = 1) -> None:
        """Run jobs, up to `max_jobs` at once (each in a thread of its own, with its own actors:
        Ray places them as its resources allow), until `stop` is set, announced in the store as
        alive meanwhile."""
        stop = stop or threading.Event()
        presence = Presence(self.store, self.worker, HEARTBEAT_S)
        presence.start()
        logger.info("coordinator %s: waiting for jobs (%d at a time)", self.worker, max_jobs)
        try:
            if max_jobs == 1:
                self._serve_slot(stop, poll_s)
            else:
                self.show_progress = False  # one terminal cannot show several jobs' bars
                slots = [threading.Thread(target=self._serve_slot, args=(stop, poll_s), name=f"job-slot-{i}", daemon=True) for i in range(max_jobs)]
                for slot in slots:
                    slot.start()
                while any(slot.is_alive() for slot in slots):
                    for slot in slots:
                        slot.join(timeout=0.5)  # short waits: SIGINT reaches this thread as KeyboardInterrupt
        except KeyboardInterrupt:  # SIGINT / SIGTERM (`nas coordinator`, `nas serve` stopping)
            stop.set()
            self._hand_back("interrupted")
            raise
        finally:
            presence.stop()

    def _serve_slot(self, stop: threading.Event, poll_s: float) -> None:
        while not stop.is_set():
            if self.run_next() is None:
                stop.wait(poll_s)

    def _hand_back(self, reason: str) -> None:
        """The jobs this coordinator was running go back to the queue, for the next coordinator to
        resume at once (what they had finished is stored)."""
        with self._lock:
            claims, self._running = list(self._running.values()), {}
        for claim in claims:
            try:
                self.store.release_job(claim, reason)
                logger.info("job %d: handed back to the queue (%s)", claim.job_id, reason)
            except ClaimLost:
                pass  # finished, or taken over, meanwhile

    # ---- one job ----
    def run_job(self, job: JobRecord) -> JobRecord:
        """Run a job this coordinator has just claimed (`job` as `claim_job` returned it: its
        claim is the fencing token of every write below)."""
        claim = job.claim
        if claim is None or claim.worker != self.worker:
            raise ValueError(f"job {job.id} is not claimed by this coordinator ({self.worker})")
        logger.info("job %d (%s): claimed by %s (claim %d)", job.id, job.name, self.worker, claim.epoch)
        heartbeat = Heartbeat(self.store, claim, min(HEARTBEAT_S, self.stale_after_s / 4))
        heartbeat.start()
        with self._lock:
            self._running[job.id] = claim
        try:
            outcome = self._search(job, heartbeat)
        except ClaimLost:  # a write was fenced off: another coordinator has the job now
            outcome = TAKEN_OVER
        except Exception as exc:  # the job fails with the reason; the coordinator lives on
            logger.exception("job %d failed", job.id)
            error = failure(exc)
            self.store.add_event(job.id, EventKind.ERROR, error, {"traceback": traceback.format_exc()})
            outcome = Ended(JobStatus.FAILED, error)
        finally:
            heartbeat.stop.set()
        with self._lock:  # not reached on KeyboardInterrupt: serve_forever hands the job back
            self._running.pop(job.id, None)
        if isinstance(outcome, TakenOver) and heartbeat.broken is not None:  # not taken over: this coordinator cannot keep its claim
            outcome = Ended(JobStatus.FAILED, f"the coordinator's heartbeat broke: {failure(heartbeat.broken)}")
        if isinstance(outcome, TakenOver):
            logger.warning("job %d: another coordinator took it over; stopping", job.id)
            return self.store.get_job(job.id)
        status, error = outcome.status, outcome.error
        logger.info("job %d: %s%s", job.id, status, f" ({error})" if error else "")
        try:
            return self.store.finish_job(job.id, status, error=error, claim=claim)
        except ClaimLost:
            logger.warning("job %d: another coordinator took it over before it finished here", job.id)
            return self.store.get_job(job.id)

    def _search(self, job: JobRecord, heartbeat: Heartbeat) -> Outcome:
        spec = JobSpec.from_stored(job.spec)
        self.store.reset_running(job.id, claim=job.claim)
        init_ray(self.ray_address, self.ray_cpus)
        space = spec.search_space()
        if spec.is_benchmark:
            from nas.search.evaluation import BenchmarkEvaluator
            from surrogates.benchmarks import nas_bench_bert_file
            from surrogates.tabular import NAS_BENCH_BERT_TASK

            table = nas_bench_bert_file()
            evaluator, settings, shape = self.evaluator or BenchmarkEvaluator, {"path": str(table)}, NAS_BENCH_BERT_TASK
            checkpoint, job_files = None, None  # nothing trains in benchmark mode
        else:
            from nas.search.evaluation import Scoring, SupernetEvaluator

            job_files = self._job_files(spec)
            checkpoint = self._supernet(job, spec, job_files, heartbeat)
            if checkpoint is None:
                return CANCELLED if self.store.get_job(job.id).cancel_requested else TAKEN_OVER
            unhealthy = self._unhealthy(job, spec)
            if unhealthy is not None:
                return Ended(JobStatus.FAILED, unhealthy)
            meta = read_json(self.artifacts.files, join(checkpoint, META_FILE))
            if meta is None:
                raise FileNotFoundError(f"the supernet checkpoint of job {job.id} is gone from the artifact root ({checkpoint})")
            shape = type(space.default_task())(**meta["task"]["shape"])
            threads = max(1, int(spec.resources.evaluator.cpus))
            table = None
            supernet = spec.supernet_settings
            scoring = Scoring(finetune_steps=supernet.score_finetune_steps or 0, examples=supernet.score_examples)
            evaluator = self.evaluator or SupernetEvaluator
            settings = {"checkpoint": checkpoint, "job_files": job_files, "threads": threads, "latency": LatencySettings.of(spec.latency), "scoring": scoring}
        # The actors start (in their own processes) while the strategy is built and replayed.
        # No more actors starting at a time than the cluster has CPUs: the first is ready sooner.
        at_once = max(1, int(sum(node.get("CPU", 0.0) for node in node_resources()))) if self.stagger_starts else None
        evaluators = EvaluatorPool(evaluator, settings, self._actor_count(job, spec), ray_options(spec.resources.evaluator), start_at_once=at_once)
        try:
            pool = _table_pool(table) if table is not None else None
            strategy = self._strategy(job, spec, space, shape, pool)
            plan = None if spec.is_benchmark else LatencyPlan(self.store, job.id, job.claim, spec, space, shape)
            outcome = self._evaluate_loop(job, spec, space, strategy, evaluators, heartbeat, plan)
            succeeded = outcome.succeeded
            if succeeded and plan is not None and plan.after is not None:
                plan.measure_front(lambda: pareto_candidates(self.store, job.id, spec.pareto_objectives()), lambda archs: evaluators.evaluate_archs(archs, "latency_metrics"))
            if succeeded and spec.rungs is not None:
                outcome = self._rungs(job, spec, evaluators, heartbeat)
                succeeded = outcome.succeeded
            verifying = succeeded and spec.verify is not None and spec.verify.top_k > 0
            if verifying and spec.verify is not None and spec.verify.references:
                self._score_references(job, spec, space, shape, evaluators)
        finally:
            evaluators.shutdown()  # their CPUs go to the verified stage
        if not verifying:
            return outcome
        assert checkpoint is not None and job_files is not None  # benchmark mode has no verified stage
        return self._verify(job, spec, checkpoint, job_files, heartbeat)

    def _rungs(self, job: JobRecord, spec: JobSpec, evaluators: EvaluatorPool, heartbeat: Heartbeat) -> Outcome:
        """Successive halving over the search's candidates (nas.search.rungs) on the job's
        evaluators: SUCCEEDED, CANCELLED, or TAKEN_OVER."""
        from nas.search.rungs import SuccessiveHalving

        def should_stop() -> bool:
            return heartbeat.lost.is_set() or self.store.get_job(job.id).cancel_requested

        halving = SuccessiveHalving(self.store, job.id, job.claim, spec)
        if halving.run(lambda archs, rung: evaluators.evaluate_as_completed(archs, "rung_score", rung), should_stop, self._rungs_budget(job, spec, evaluators.size)):
            return SUCCEEDED
        return TAKEN_OVER if heartbeat.lost.is_set() else CANCELLED

    def _rungs_budget(self, job: JobRecord, spec: JobSpec, evaluators: int) -> Callable[[], bool]:
        """Whether `budget.cpu_minutes` is spent, for rungs starting now on `evaluators` actors."""
        budget = cpu_budget(spec)
        if budget is None:
            return lambda: False
        now = self.store.clock.now()
        spent = sum(s.cpu_minutes for s in stage_compute(spec, self.store.events(job.id), [], self.store.get_job(job.id).started_at, now))
        end = budget.rungs_end(now, spent, search_cpus(spec, evaluators))
        return lambda: self.store.clock.now() >= end

    def _score_references(self, job: JobRecord, spec: JobSpec, space: SearchSpace, shape: TaskShape, evaluators: EvaluatorPool) -> None:
        """The plain family's members that meet the job's constraints, scored by the job's
        evaluators like its candidates (latency on the same nodes), then `verify.references` of
        them spread in size stored for the verified stage. Once per job: a resumed job keeps them."""
        from nas.search.references import fitting_members, over_limits, spread_in_size

        assert spec.verify is not None
        if self.store.references(job.id):
            return
        members, left_out = fitting_members(space, shape, spec.constraints)
        scored = []
        for member, answer in zip(members, evaluators.evaluate_archs([m.arch.to_dict() for m in members]), strict=True):
            if isinstance(answer, str):
                left_out.append(f"{member.name} (its evaluation failed: {answer})")
            elif over := over_limits(answer, spec.constraints):
                left_out.append(f"{member.name} ({over})")
            else:
                scored.append((member, answer))
        kept = [scored[i] for i in spread_in_size([answer["params"] for _, answer in scored], spec.verify.references)]
        for member, answer in kept:
            self.store.add_reference(job.id, member.name, member.arch.to_dict(), member.arch.arch_id, answer, claim=job.claim)
        names = ", ".join(f"{member.name} ({format_metrics({k: v for k, v in answer.items() if k != 'accuracy'})})" for member, answer in kept) or "none"
        message = f"plain family: {names} will train beside the verified candidates"
        if left_out:
            message += f"; left out as beyond the constraints: {', '.join(left_out)}"
        self.store.add_event(job.id, EventKind.REFERENCES_SCORED, message, {"references": [m.name for m, _ in kept], "left_out": left_out})
        logger.info("job %d: %s", job.id, message)

    def _job_files(self, spec: JobSpec) -> JobFiles:
        """How the job's remote processes reach its files: the artifact root directly when it is
        a URI, else through this coordinator's FileRelay; its task files staged there."""
        staged = stage_task_files(spec.task.to_load_spec(), self.artifacts)
        if self.artifacts.reachable_everywhere:
            return JobFiles(staged=staged)
        import ray

        with self._lock:
            if self._relay is None:
                self._relay = start_relay()
        return JobFiles(relay=self._relay, home_node=ray.get_runtime_context().get_node_id(), staged=staged)

    def _verify(self, job: JobRecord, spec: JobSpec, checkpoint: str, job_files: JobFiles, heartbeat: Heartbeat) -> Outcome:
        """The verified stage (nas.search.verification): `verify.top_k` candidates spread along
        the front (`verification_choice`) and the plain-family references train standalone, each
        with the seeds `verify.seeds` asks for, as one Tune experiment; what was trained before a
        restart is skipped. The verdict ends the stage."""
        from nas.search.verification import Subject

        assert spec.verify is not None and job.claim is not None
        front = verification_choice(self.store, job.id, spec.verify.top_k)
        chosen = [self.store.candidate_number(job.id, row["candidate"]) for row in front]
        references = self.store.references(job.id)
        verified = {v.candidate_id for v in self.store.verifications(job.id)}
        trained = {(t.candidate_id, t.reference_id, t.seed) for t in self.store.trainings(job.id)}
        seeds = [spec.seed + i for i in range(spec.verify.seeds)]
        subjects = [Subject("candidate", c.id, f"candidate {c.seq}", c.arch, spec.seed, keeps_weights=True) for c in chosen if c.id not in verified]
        subjects += [Subject("candidate", c.id, f"candidate {c.seq}", c.arch, seed) for c in chosen for seed in seeds[1:] if (c.id, None, seed) not in trained]
        subjects += [Subject("reference", r.id, r.name, r.arch, seed) for r in references for seed in seeds if (None, r.id, seed) not in trained]
        if subjects:
            # ASHA's early stops only where nothing is compared: a stopped training would bias the verdict.
            early_stop = spec.verify.early_stop and not references and len(seeds) == 1
            outcome = self._train_subjects(job, spec, checkpoint, job_files, heartbeat, subjects, early_stop)
            if not outcome.succeeded:  # the claim was lost, or the job cancelled
                return outcome
        self._say_verdict(job, spec)
        return SUCCEEDED

    def _train_subjects(self, job: JobRecord, spec: JobSpec, checkpoint: str, job_files: JobFiles, heartbeat: Heartbeat, subjects: list, early_stop: bool) -> Outcome:
        """The verified stage's Tune experiment, and how it ended: SUCCEEDED, CANCELLED, or
        TAKEN_OVER."""
        from nas.search.verification import run_verification

        assert spec.verify is not None and job.claim is not None
        # The search's evaluators are gone: trials take what the cluster has (Tune queues the rest).
        nodes = node_resources()
        check_fits("resources.verify", spec.resources.verify, nodes)
        concurrency = max(1, min(len(subjects), how_many_fit(spec.resources.verify, nodes)))
        names = list(dict.fromkeys(s.label for s in subjects))
        seeds = sorted({s.seed for s in subjects})
        message = (
            f"verifying {', '.join(names)} with seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}: {len(subjects)} standalone trainings "
            f"of {spec.verify.epochs} epochs from {spec.verify.init} weights, {concurrency} at a time"
        )
        if early_stop and concurrency > 1:  # what a rerun may not repeat, said where it happens
            message += "; ASHA stops a trial on what the others have reported by then, so which trials stop early can differ between runs"
        elif not early_stop and spec.verify.early_stop:
            message += "; no early stops: the verdict compares whole trainings"
        self.store.add_event(job.id, EventKind.VERIFY_STARTED, message, {"trainings": [s.name for s in subjects], "concurrency": concurrency})
        logger.info("job %d: %s", job.id, message)
        started = time.perf_counter()

        def should_stop() -> bool:
            return heartbeat.lost.is_set() or self.store.get_job(job.id).cancel_requested

        storage = self.jobs_dir / job_dir_name(job) / "verify"
        count = run_verification(self.store, job.id, job.claim, spec, checkpoint, job_files, self.artifacts.job(job, "verified"), subjects, storage, concurrency, should_stop, early_stop)
        if heartbeat.lost.is_set():
            return TAKEN_OVER
        if self.store.get_job(job.id).cancel_requested:
            return CANCELLED
        seconds = time.perf_counter() - started
        self.store.add_event(job.id, EventKind.VERIFY_DONE, f"verified stage: {count} of {len(subjects)} trainings in {seconds:.0f} s", {"verified": count, "asked": len(subjects), "seconds": seconds})
        return SUCCEEDED

    def _say_verdict(self, job: JobRecord, spec: JobSpec) -> None:
        """The verified candidates against the plain family, as an event (nas.results.verdict)."""
        from nas.results.verdict import trained_models, verdict

        if not self.store.references(job.id):
            return
        found = verdict(trained_models(self.store, job.id), [o.metric for o in spec.objectives], (spec.latency or LatencySpec()).describe())
        self.store.add_event(job.id, EventKind.VERDICT, f"verdict: {found.text}", found.to_dict())
        logger.info("job %d: verdict: %s", job.id, found.text)

    def _actor_count(self, job: JobRecord, spec: JobSpec) -> int:
        """`spec.workers`, or as many evaluators (of `resources.evaluator` each) as the cluster
        can ever place: an actor Ray cannot schedule would hold its candidates forever.
        ResourcesUnavailable when no node can hold even one."""
        nodes = node_resources()
        stage = spec.resources.evaluator
        check_fits("resources.evaluator", stage, nodes)
        fit = how_many_fit(stage, nodes)
        if spec.workers <= fit:
            return spec.workers
        each = describe_ask(stage)
        message = f"workers: {spec.workers} asked, but the Ray cluster fits {fit} evaluator{'s' * (fit != 1)} of {each} each (resources.evaluator); running {fit}"
        logger.warning("job %d: %s", job.id, message)
        self.store.add_event(job.id, EventKind.RESOURCES, message, {"asked": spec.workers, "fit": fit, "evaluators": fit, "each": ask_of(stage)})
        return fit

    def _unhealthy(self, job: JobRecord, spec: JobSpec) -> str | None:
        """The remedy, if the job's supernet failed its health check (none is recorded for a
        checkpoint trained before the check existed: that one is trusted)."""
        from nas.training.health import Health, remedy

        figures = dict(self.store.artifacts(job.id, ArtifactKind.SUPERNET_CHECKPOINT)[-1].meta.get("health") or {})
        if not figures or not spec.supernet_settings.check:
            return None
        figures.pop("learned", None)
        health = Health(**figures)
        if health.learned:
            return None
        settings = spec.supernet_settings
        return remedy(health, settings.epochs, settings.lr)

    def _strategy(self, job: JobRecord, spec: JobSpec, space: SearchSpace, shape: TaskShape, pool: list | None) -> Strategy:
        """The spec's strategy, knowing nothing yet: the proposer tells it the stored results (after
        a restart) in candidate order, as each ask needs them."""
        from nas.search.strategies import make_strategy

        return make_strategy(spec, space, shape, pool)

    def _supernet(self, job: JobRecord, spec: JobSpec, job_files: JobFiles, heartbeat: Heartbeat) -> str | None:
        """The location of the job's supernet checkpoint: reused if training finished, else
        trained as a Ray task on whichever node fits `resources.supernet` (resuming a partial
        checkpoint). None if the job was cancelled or the claim lost meanwhile."""
        import ray

        from nas.training.checkpoint import describe_progress, progress_of

        finished = self.store.artifacts(job.id, ArtifactKind.SUPERNET_CHECKPOINT)
        if finished:
            return finished[-1].path
        location = self.artifacts.supernet(job)
        meta_at = join(location, META_FILE)
        self.store.add_event(job.id, EventKind.SUPERNET_STARTED, f"training the supernet (checkpoints in {location})", {"epochs": spec.supernet_settings.epochs})
        logger.info("job %d: training the supernet into %s", job.id, location)
        nodes, workers = node_resources(), spec.supernet_settings.workers
        check_fits("resources.supernet", spec.resources.supernet, nodes)
        if workers > 1:  # a Ray Train run: its workers hold the resources, the task driving them none
            check_fits_together("resources.supernet", spec.resources.supernet, nodes, workers, "supernet.workers")
            options = {"num_cpus": 0}
        else:
            options = ray_options(spec.resources.supernet)
        task = ray.remote(max_retries=0, **options)(train_supernet).remote(spec, location, job_files)
        recorded_step = None
        with progress_bars(self.show_progress) as progress:
            bar = progress.add_task("supernet", total=None)
            while True:
                ready, _ = ray.wait([task], timeout=1.0)
                if ready:
                    resumed_from, health, where = ray.get(task)
                    break
                if heartbeat.lost.is_set() or self.store.get_job(job.id).cancel_requested:
                    ray.cancel(task, force=True)
                    return None
                # Each epoch's checkpoint becomes an event, so `nas status` and the API show progress.
                meta = read_json(self.artifacts.files, meta_at)
                now = progress_of(meta) if meta is not None else None
                if now is not None and now["step"] != recorded_step and now["phase"] != "done":
                    recorded_step, line = now["step"], describe_progress(now)
                    self.store.add_event(job.id, EventKind.SUPERNET_PROGRESS, line, now)
                    progress.update(bar, description=f"supernet {line}")
        if resumed_from:
            self.store.add_event(job.id, EventKind.SUPERNET_RESUMED, f"supernet training resumed at step {resumed_from}", {"step": resumed_from})
        meta = read_json(self.artifacts.files, meta_at)
        final = progress_of(meta) if meta is not None else None
        trained = describe_progress(final) if final else "trained"
        self.store.add_event(job.id, EventKind.SUPERNET_TRAINED, f"{trained} on {place(where)}", {**(final or {}), "where": where})
        self.store.add_event(job.id, EventKind.SUPERNET_HEALTH, health_line(health), health)
        self.store.add_artifact(job.id, ArtifactKind.SUPERNET_CHECKPOINT, location, {"space": spec.space, "preset": spec.preset, "health": health})
        return location

    def _evaluate_loop(self, job: JobRecord, spec: JobSpec, space: SearchSpace, strategy: Strategy, evaluators: EvaluatorPool, heartbeat: Heartbeat, plan: LatencyPlan | None = None) -> Outcome:
        """Evaluate until the budget or the time is spent, the strategy has nothing left to
        propose, or the job is cancelled; proposals are asked ahead in the proposer's thread."""
        # Ahead of need: each evaluator's queued candidate is proposed while its current one runs
        # (the baseline without ask-ahead proposes only for idle evaluators).
        per_call = candidates_per_call(spec)
        proposer = Proposer(strategy, lag=per_call * (evaluators.slots if self.ask_ahead else evaluators.size), per_ask=per_call)
        done = self.store.candidates(job.id, CandidateStatus.DONE)
        for candidate in done:  # what it knew before a restart, told in order as the asks need it
            proposer.tell(candidate.seq, space.validate(candidate.arch), candidate.metrics)
        if done:
            logger.info("job %d: strategy %s is told %d stored results", job.id, spec.strategy, len(done))
        self.store.add_event(
            job.id, EventKind.SEARCH_STARTED, how_it_proposes(proposer.lag, evaluators.size, per_call, spec), {"lag": proposer.lag, "evaluators": evaluators.size, "per_call": per_call}
        )  # fmt: skip
        try:
            return self._evaluate_until_done(job, spec, space, proposer, evaluators, heartbeat, plan, per_call)
        finally:
            proposer.close()

    def _evaluate_until_done(
        self, job: JobRecord, spec: JobSpec, space: SearchSpace, proposer: Proposer, evaluators: EvaluatorPool, heartbeat: Heartbeat, plan: LatencyPlan | None, per_call: int
    ) -> Outcome:
        budget, claim = spec.budget.candidates, job.claim
        deadline, limit = _search_deadline(self.store, self.store.get_job(job.id), spec, evaluators.size, self.store.clock.now())
        primary = spec.surrogate_objectives()[0]
        with progress_bars(self.show_progress) as progress:
            bar = progress.add_task("candidates", total=budget, completed=self._finished(job.id))
            while True:
                if heartbeat.lost.is_set():
                    return TAKEN_OVER
                if self.store.get_job(job.id).cancel_requested:
                    self.store.reset_running(job.id, claim=claim)  # unfinished evaluations are dropped, finished ones stay
                    return CANCELLED
                finished = self._finished(job.id)
                if finished >= budget:
                    return SUCCEEDED
                if deadline is not None and self.store.clock.now() >= deadline:
                    # Evaluations still in flight are dropped (their actors are killed on the
                    # way out) and finishing the job releases their candidates.
                    return self._time_spent(job, spec, limit, finished, evaluators.in_flight_candidates)
                # While a latency predictor calibrates, calls of one: no more candidates are measured than it needs.
                calibrating = plan is not None and plan.calibrating
                waiting = self._dispatch(job, proposer, evaluators, budget - finished, 1 if calibrating else per_call, measure_latency=plan is None or not plan.predicting)
                if not evaluators.busy and (proposer.asking or waiting):
                    proposer.wait(timeout=1.0)  # nothing to wait for but the next proposals
                    continue
                if not evaluators.busy:  # the strategy came back with nothing, and nothing is left to evaluate
                    self.store.add_event(job.id, EventKind.EXHAUSTED, f"no candidates left to evaluate after {finished}")
                    if finished == 0:  # nothing was evaluated: no result to call a success
                        return Ended(JobStatus.FAILED, nothing_proposed(spec))
                    return SUCCEEDED
                self._record(job, space, proposer, evaluators.wait(timeout=1.0), plan)
                evaluators.check()
                self._record_placement(job, evaluators)
                if self.show_progress:
                    best = self.store.best(job.id, primary.metric, primary.maximize)
                    progress.update(bar, completed=self._finished(job.id), description=f"candidates {best_line(best, primary.metric, spec.is_benchmark)}")

    def _record(self, job: JobRecord, space: SearchSpace, proposer: Proposer, outcomes: list[PoolOutcome], plan: LatencyPlan | None) -> None:
        """The pool's outcomes into the store (the results of a call in one transaction), and
        the results told to the proposer."""
        evaluated = [o for o in outcomes if isinstance(o, Evaluated)]
        completed = [plan.complete(o.candidate.arch, o.metrics) if plan is not None else o.metrics for o in evaluated]
        if evaluated:
            self.store.record_results([(o.candidate.id, metrics, o.seconds) for o, metrics in zip(evaluated, completed, strict=True)], claim=job.claim)
        for outcome, metrics in zip(evaluated, completed, strict=True):
            proposer.tell(outcome.candidate.seq, space.validate(outcome.candidate.arch), metrics)
        for outcome in outcomes:
            if isinstance(outcome, Raised):  # retried like a crash, up to max_attempts
                self.store.record_failure(outcome.candidate.id, outcome.reason, self.max_attempts, claim=job.claim)
            elif isinstance(outcome, Died):
                if outcome.running is not None:
                    self.store.record_failure(outcome.running.id, outcome.reason, self.max_attempts, claim=job.claim)
                for released in outcome.released:
                    self.store.release_candidate(released.id, claim=job.claim)

    def _record_placement(self, job: JobRecord, evaluators: EvaluatorPool) -> None:
        """An event for the evaluators that just started: where each runs."""
        started = evaluators.take_started()
        if not started:
            return
        self.store.add_event(job.id, EventKind.EVALUATORS_STARTED, placement_line(started), {"evaluators": [{"slot": slot, **where} for slot, where in started if isinstance(where, dict)]})

    def _finished(self, job_id: int) -> int:
        return candidates_finished(self.store.counts(job_id))

    def _time_spent(self, job: JobRecord, spec: JobSpec, limit: str, finished: int, dropped: int) -> Outcome:
        """The search's end at `limit` ("max_minutes" or "cpu_minutes"), with what it had done."""
        given = f"{spec.budget.max_minutes} min" if limit == "max_minutes" else f"{spec.budget.cpu_minutes} CPU-minutes"
        dropped_text = f"; {dropped} evaluation{'s' * (dropped != 1)} in flight dropped" if dropped else ""
        self.store.add_event(job.id, EventKind.TIME_BUDGET, f"{limit}={getattr(spec.budget, limit)} spent after {finished} candidates{dropped_text}", {"dropped": dropped, "limit": limit})
        if self.store.counts(job.id).get(CandidateStatus.DONE, 0) == 0:  # a job that found nothing has not succeeded
            spent_on, remedy = ("training the supernet", "raise it or lower supernet.epochs") if spec.supernet is not None else ("starting up", "raise it")
            return Ended(JobStatus.FAILED, f"budget.{limit}: {given} were spent {spent_on} before any candidate was evaluated; {remedy}")
        return SUCCEEDED

    def _dispatch(self, job: JobRecord, proposer: Proposer, evaluators: EvaluatorPool, remaining: int, per_call: int, measure_latency: bool = True) -> int:
        """Give every idle slot a call of up to `per_call` candidates: stored `proposed` ones
        first (left from before a restart, retries, or asked ahead), then what the proposer has
        come back with; then ask for the next ones once the results they must know have arrived
        (`Proposer.ready`), so that each slot has its next call waiting; latency is measured
        unless `measure_latency` is off (a predictor gives it). Returns how many wait."""
        flying = evaluators.flying_ids()
        queued = [c for c in self.store.candidates(job.id, CandidateStatus.PROPOSED) if c.id not in flying]
        while True:
            while evaluators.idle and queued and evaluators.in_flight_candidates < remaining:
                call = _next_call(queued, min(per_call, remaining - evaluators.in_flight_candidates), evaluators.must_go_alone)
                evaluators.send(self.store.start_candidates([c.id for c in call], self.worker, claim=job.claim), measure_latency)
            asked = proposer.take()
            if asked:
                queued.extend(self.store.add_candidates(job.id, [(a.arch_id, a.to_dict()) for a in asked], claim=job.claim))
                continue
            if asked is not None or proposer.asking:  # came back empty, or under way
                return len(queued)
            unfinished = [c for status in (CandidateStatus.PROPOSED, CandidateStatus.RUNNING) for c in self.store.candidates(job.id, status)]
            next_seq = self.store.next_seq(job.id)
            finished_through = min((c.seq for c in unfinished), default=next_seq) - 1
            if not proposer.ready(next_seq, finished_through):  # an earlier candidate's result is still to come
                return len(queued)
            # Pending for the strategy: the candidates after those it knows, and the failed ones (never told).
            through = known_before(next_seq, proposer.lag)
            failed = [c for c in self.store.candidates(job.id, CandidateStatus.FAILED) if c.seq <= through]
            pending = [proposer.space.validate(c.arch) for c in failed + self.store.candidates(job.id, after_seq=through)]
            if not proposer.ask(next_seq, remaining - len(unfinished), pending):
                return len(queued)  # the budget is taken by the candidates already proposed
            if self.ask_ahead:
                return len(queued)
            proposer.wait(timeout=None)  # the baseline (ask_ahead off): the loop waits for its proposals


# Candidates per evaluator call when scoring is cheap: enough that a call's fixed costs (the Ray
# round trip, the store's commits, the proposer's ask) are a small share of it.
MAX_CANDIDATES_PER_CALL = 16
BUDGET_PER_CALL_CANDIDATE = 64  # a call of k candidates from a budget of 64 k on


def candidates_per_call(spec: JobSpec) -> int:
    """One candidate per evaluator call, unless scoring is cheap (inherited weights with no
    fine-tune, or a table in benchmark mode) and the budget runs to hundreds: then one per 64
    candidates of the budget, at most MAX_CANDIDATES_PER_CALL. A call's candidates are proposed
    knowing the same results, so a small budget keeps one per call: each proposal knows all it can."""
    cheap = spec.is_benchmark or not spec.supernet_settings.score_finetune_steps
    return max(1, min(MAX_CANDIDATES_PER_CALL, spec.budget.candidates // BUDGET_PER_CALL_CANDIDATE)) if cheap else 1


def _next_call(queued: list[CandidateRecord], most: int, alone: Callable[[int], bool]) -> list[CandidateRecord]:
    """The next call's candidates, taken from the front of `queued`: up to `most`, but one that
    must go alone (its last call's actor died) goes by itself."""
    if alone(queued[0].id):
        return [queued.pop(0)]
    call: list[CandidateRecord] = []
    i = 0
    while i < len(queued) and len(call) < most:
        if alone(queued[i].id):
            i += 1
            continue
        call.append(queued.pop(i))
    return call


def _search_deadline(store: Store, job: JobRecord, spec: JobSpec, evaluators: int, now: datetime) -> tuple[datetime | None, str]:
    """When the search must end, and which limit ends it: `budget.max_minutes` counted from the
    job's first start (a resumed job does not get a fresh budget), or `budget.cpu_minutes` on
    `evaluators` actors after what its supernet spent (nas.search.compute)."""
    ends = []
    if spec.budget.max_minutes is not None:
        ends.append(((job.started_at or now) + timedelta(minutes=spec.budget.max_minutes), "max_minutes"))
    budget = cpu_budget(spec)
    if budget is not None:
        events = store.events(job.id)
        supernet = sum(s.cpu_minutes for s in stage_compute(spec, events, [], job.started_at, now) if s.stage == "supernet")
        ends.append((budget.search_end(search_began(events, job.started_at) or now, supernet, search_cpus(spec, evaluators)), "cpu_minutes"))
    return min(ends, default=(None, ""))


def _table_pool(table: Path) -> list:
    """Benchmark mode: the table's architectures are the space a strategy draws from."""
    from surrogates.tabular import NasBenchBertTable

    return NasBenchBertTable(table).pool
