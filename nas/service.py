"""The operations the CLI (`nas submit | jobs | status | pareto | export`) and the REST API share.

Each takes a `Store` and returns JSON-ready dicts. Bad input raises a `ServiceError` naming the
field: `NotFound` (API 404), `Conflict` (the request is fine but the job or candidate is not in a
state that allows it, API 409) or `BadRequest` (API 422; also a ValueError). An invalid job spec
raises `nas.job.errors.SpecError`, which lists every problem. Every stored spec is read back
typed, through `JobSpec.from_stored`.

Nothing heavy is imported here: torch comes with `nas.export.exporter` inside `export_candidate`,
matplotlib with `nas.results.plots`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import shutil
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from nas.artifact_root import DirectFiles, download_dir, is_uri, job_dir_name, join, upload_dir
from nas.job.formats import DEFAULT_FINETUNE_LR, EXPORT_FORMATS
from nas.job.metrics import METRICS, job_metrics
from nas.job.parse import load_spec, parse_spec
from nas.job.schema import JobSpec, ObjectiveSpec
from nas.paths import data_home
from nas.results.front import Verified, candidate_row, feasible_rows, front_rows, verified_candidates
from nas.results.verdict import trained_models
from nas.search.compute import compute_summary
from nas.search.rungs import rung_states
from nas.statuses import candidates_finished
from nas.store import (
    COORDINATOR_ALIVE_S,
    DEFAULT_STALE_AFTER_S,
    ArtifactKind,
    ArtifactNotFound,
    CandidateNotFound,
    CandidateRecord,
    CandidateStatus,
    EventKind,
    EventRecord,
    InvalidTransition,
    JobNotFound,
    JobRecord,
    JobStatus,
    RungScoreRecord,
    Store,
)
from nas.tasks.catalog import BENCHMARK_METRICS, BENCHMARK_TASK, FILE_FORMATS
from search_spaces import ArchValidationError, SearchSpace

logger = logging.getLogger(__name__)

# ---- errors ----


class ServiceError(Exception):
    """A request the service refuses; `field` names the input at fault."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


class NotFound(ServiceError):
    """The job or candidate named by `field` does not exist (or not where it was looked for)."""


class Conflict(ServiceError):
    """Valid input, but the job or candidate is not in a state that allows the operation."""


class BadRequest(ServiceError, ValueError):
    """Invalid input: the message says what is allowed."""


# ---- jobs ----


def submit_job(store: Store, data: Mapping[str, Any] | Path, data_root: Path | None = None, owner: str | None = None) -> JobRecord:
    """Validate a spec (decoded data, or a YAML/JSON file) and queue it for `owner` (an API
    user's name). SpecError, listing every problem, before anything is written. `data_root`:
    where a server's clients may point tasks."""
    spec = load_spec(data) if isinstance(data, Path) else parse_spec(data, data_root=data_root)
    return store.create_job(spec.to_dict(), spec.name, owner=owner)


def job_spec(job: JobRecord) -> JobSpec:
    """The job's spec, typed (the stored canonical form read back)."""
    return JobSpec.from_stored(job.spec)


def get_job(store: Store, job_id: int) -> JobRecord:
    try:
        return store.get_job(job_id)
    except JobNotFound as exc:
        raise NotFound("job_id", str(exc)) from None


def list_jobs(store: Store, status: str | None = None, limit: int | None = None, after: int | None = None, owner: str | None = None) -> list[JobRecord]:
    """Jobs in id order (only `owner`'s, if given); a page of at most `limit` with ids above `after`."""
    try:
        return store.list_jobs(status, limit=limit, after=after, owner=owner)
    except ValueError as exc:  # the store names the field and the allowed statuses
        raise BadRequest("status", str(exc).removeprefix("status: ")) from None


def service_health(store: Store) -> dict[str, Any]:
    """GET /health: the coordinators alive (by their heartbeats) and the jobs queued and running."""
    jobs = store.job_counts()
    return {"status": "ok", "coordinators": len(store.coordinators()), "jobs": {"queued": jobs[JobStatus.QUEUED], "running": jobs[JobStatus.RUNNING]}}


def cancel_job(store: Store, job_id: int) -> JobRecord:
    """Queued: cancelled now; running: its coordinator stops it; finished: unchanged."""
    try:
        return store.request_cancel(job_id)
    except JobNotFound as exc:
        raise NotFound("job_id", str(exc)) from None


# Where a job's search scores come from, as the dashboard and `nas status` say it (by benchmark mode).
SCORE_SOURCES = {False: "weights inherited from the supernet", True: "NAS-Bench-BERT's table of GLUE scores, looked up"}

SILENT_AFTER_S = COORDINATOR_ALIVE_S  # a claimed job's heartbeat comes every few seconds
NO_COORDINATOR = (
    "no coordinator is running, so nothing will run this job yet: start `nas coordinator` against this store "
    "(`nas serve` runs one unless given --coordinators 0)"
)


def delete_job(store: Store, job_id: int) -> dict[str, Any]:
    """Delete a job that is not running, and the files it made: its supernet checkpoint and
    working directory, verified weights and exports. Files that cannot be removed are reported
    (`files_left`), not fatal: the job is gone from the store either way."""
    try:
        job, artifacts, verifications = store.delete_job(job_id)
    except JobNotFound as exc:
        raise NotFound("job_id", str(exc)) from None
    except InvalidTransition as exc:
        raise Conflict("job_id", str(exc)) from None
    locations = {a.path for a in artifacts if a.path} | {v.weights for v in verifications if v.weights}  # a predictor has no file
    # The job's directory (in the artifact root, and this machine's working one) holds them all.
    marker = f"/{job_dir_name(job)}/"
    locations |= {location[: location.index(marker) + len(marker) - 1] for location in locations if marker in location}
    locations.add(str(data_home() / "jobs" / job_dir_name(job)))
    files = DirectFiles()
    removed, left = [], []
    for location in sorted(locations, key=len):  # outermost first: what is inside goes with it
        if not files.exists(location):
            continue
        try:
            files.remove(location)
            removed.append(location)
        except OSError as exc:
            logger.warning("job %d: could not remove %s (%s)", job.id, location, exc)
            left.append(location)
    logger.info("job %d (%s) deleted; %d paths removed", job.id, job.name, len(removed))
    return {"id": job.id, "name": job.name, "status": job.status, "deleted": True, "files_removed": len(removed), "files_left": len(left)}


def job_summary(store: Store, job: JobRecord, counts: Mapping[str, int] | None = None, coordinators: int | None = None) -> dict[str, Any]:
    """What `nas status` and GET /jobs/{id} show: the spec's essentials, candidate counts and the
    best done candidate on the primary objective (within the spec's constraints). `counts`: the
    job's candidate counts, `coordinators`: how many coordinators are alive, when the caller has
    them already (job lists fetch them once)."""
    spec = job_spec(job)
    counts = dict(counts) if counts is not None else store.counts(job.id)
    if job.status == JobStatus.QUEUED and coordinators is None:
        coordinators = len(store.coordinators())
    # The job's events and verifications, read once for every part of the summary.
    events = store.events(job.id)
    verifications = verified_candidates(store, job.id)
    rung_scores = store.rung_scores(job.id) if spec.rungs is not None else []
    # `best` is non-dominated: the front's first row, highest on the primary objective, ties
    # broken by the other objectives in order.
    pairs = resolve_objectives(spec)
    best = _best(store, job.id, spec, pairs, verifications) if counts[CandidateStatus.DONE] else None
    verifying = spec.verify is not None and spec.verify.top_k
    verified = next(iter(front_rows(store, job.id, spec, pairs, verifications, verified=True)), None) if verifying and verifications else None
    supernet = supernet_state(job, spec, events)
    now = store.clock.now()
    silent = _silent(job, now)
    return {
        "id": job.id,
        "name": job.name,
        "owner": job.owner,
        "status": job.status,
        "space": spec.space,
        "preset": spec.preset,
        "task": spec.task.to_load_spec(),
        "strategy": spec.strategy,
        "objectives": [o.model_dump() for o in spec.objectives],
        "constraints": _constraints(spec),
        "budget": spec.budget.model_dump(exclude_none=True),
        "counts": counts,
        "candidates_done": counts[CandidateStatus.DONE],
        "best": {k: best[k] for k in ("candidate", "arch_id", "metrics", "verified")} if best else None,
        "best_verified": {k: verified[k] for k in ("candidate", "arch_id", "metrics", "verified")} if verified else None,
        # How each metric reads (label, unit, style): the dashboard formats values as the CLI does.
        "metric_display": {name: m.display() for name, m in job_metrics(spec.is_benchmark).items()},
        "score_source": SCORE_SOURCES[spec.is_benchmark],
        "exportable": not spec.is_benchmark,  # benchmark mode has no trained weights
        # Accuracy of always answering the validation split's most frequent class: what any score
        # must clearly beat (benchmark jobs replay GLUE scores, which have no such rate).
        "chance_accuracy": supernet["health"]["majority_rate"] if supernet and supernet.get("health") else None,
        # Successive halving between the search and the verified stage (nas.search.rungs).
        "rungs": rung_states(spec.rungs, rung_scores) if spec.rungs is not None else None,
        "verify": verify_state(job, spec, events, len(verifications)),
        # CPUs held times minutes, per stage (nas.search.compute): what budget.cpu_minutes limits.
        "compute": compute_summary(spec, events, store.trainings(job.id), job.started_at, job.finished_at, now) if not spec.is_benchmark else None,
        # The verified candidates against the plain family (nas.results.verdict), as the end of
        # the verified stage stated it.
        "verdict": next((e.data for e in reversed(events) if e.kind == EventKind.VERDICT), None),
        "eta": stage_eta(job, spec, events, counts, now, rung_scores) if silent is None else None,  # no pace while nothing runs it
        "supernet": supernet,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "error": job.error,
        "cancel_requested": job.cancel_requested,
        # Why a job does not move: said where a client sees it, not only in server logs.
        "waiting": NO_COORDINATOR if job.status == JobStatus.QUEUED and not coordinators else silent,
    }


def best_row(store: Store, job: JobRecord) -> dict[str, Any] | None:
    """The job's best done candidate as `job_summary` names it (the front's first row), or None."""
    spec = job_spec(job)
    return _best(store, job.id, spec, resolve_objectives(spec), verified_candidates(store, job.id))


def _best(store: Store, job_id: int, spec: JobSpec, pairs: Sequence[tuple[str, bool]], verifications: Mapping[int, Verified]) -> dict[str, Any] | None:
    """The front's first row: highest on the primary objective, ties broken by the others in order."""
    return next(iter(front_rows(store, job_id, spec, pairs, verifications)), None)


def _silent(job: JobRecord, now: datetime) -> str | None:
    """For a running job whose coordinator stopped beating: that it may have died, and what happens next."""
    if job.status != JobStatus.RUNNING or job.heartbeat_at is None:
        return None
    silent = (now - job.heartbeat_at).total_seconds()
    if silent <= SILENT_AFTER_S:
        return None
    return (
        f"its coordinator ({job.claimed_by}) has not reported for {silent:.0f} s and may have stopped; another coordinator "
        f"takes the job over, resuming it, once it has been silent for its --stale-after (default {DEFAULT_STALE_AFTER_S:.0f} s)"
    )


def job_summaries(store: Store, jobs: Sequence[JobRecord]) -> list[dict[str, Any]]:
    """`job_summary` of each job, the counts of all of them read at once."""
    counts = store.counts_of([job.id for job in jobs])
    coordinators = len(store.coordinators()) if any(job.status == JobStatus.QUEUED for job in jobs) else None
    return [job_summary(store, job, counts.get(job.id), coordinators) for job in jobs]


_SUPERNET_STATES = {EventKind.SUPERNET_STARTED: "starting", EventKind.SUPERNET_PROGRESS: "training", EventKind.SUPERNET_TRAINED: "trained"}


def supernet_state(job: JobRecord, spec: JobSpec, events: Sequence[EventRecord]) -> dict[str, Any] | None:
    """Where the job's supernet training stands, from the coordinator's latest supernet event in
    the job's `events`: state pending / starting / training / trained, a one-line message, and the
    progress figures (phase, epochs done of the phase's epochs, step of total steps, loss). None in
    benchmark mode, which trains nothing."""
    if spec.supernet is None:
        return None
    latest = next((e for e in reversed(events) if e.kind in _SUPERNET_STATES), None)
    # The health check (nas.training.health): largest / smallest subnet against the majority class.
    health = next((e.data for e in reversed(events) if e.kind == EventKind.SUPERNET_HEALTH), None)
    if latest is None:
        return {"state": "pending", "message": "not started", "progress": None, "at": None, "health": None}
    progress = latest.data if latest.kind != EventKind.SUPERNET_STARTED else None
    return {"state": _SUPERNET_STATES[latest.kind], "message": latest.message, "progress": progress or None, "at": _iso(latest.at), "health": health}


def stage_eta(
    job: JobRecord, spec: JobSpec, events: Sequence[EventRecord], counts: Mapping[str, int], now: datetime, rung_scores: Sequence[RungScoreRecord] = ()
) -> dict[str, Any] | None:
    """The running stage (supernet, search, rung N of successive halving, or verify) and the
    seconds it has left at the pace it has gone so far; `seconds` is None until that pace is
    known. None unless the job is running. `rung_scores`: the job's, when it has rungs."""
    if job.status != JobStatus.RUNNING:
        return None
    last = {e.kind: e for e in events}  # the latest event of each kind

    def left(start: datetime | None, done: float, total: float, at: datetime | None = None) -> float | None:
        at = at or now
        if start is None or done <= 0 or (at - start).total_seconds() <= 0:
            return None
        return max(0.0, (total - done) * (at - start).total_seconds() / done - (now - at).total_seconds())

    if EventKind.VERIFY_STARTED in last:
        begun = last[EventKind.VERIFY_STARTED]
        asked = len(begun.data.get("trainings") or []) or (spec.verify.top_k if spec.verify else 0)
        done = sum(1 for e in events if e.id > begun.id and e.kind in (EventKind.VERIFIED, EventKind.REFERENCE_TRAINED))
        return {"stage": "verify", "seconds": left(begun.at, done, asked)}
    if EventKind.RUNG_STARTED in last:
        begun = last[EventKind.RUNG_STARTED]
        rung = begun.data["rung"]
        done = sum(1 for r in rung_scores if r.rung == rung and r.finished_at > begun.at)
        before = sum(1 for r in rung_scores if r.rung == rung) - done  # scored before a restart: not this run's pace
        return {"stage": f"rung {rung}", "seconds": left(begun.at, done, len(begun.data["chosen"]) - before)}
    if spec.supernet is not None and EventKind.SUPERNET_TRAINED not in last:
        progress = last.get(EventKind.SUPERNET_PROGRESS)
        started = last.get(EventKind.SUPERNET_STARTED)
        if progress is None or started is None or not progress.data.get("total_steps"):
            return {"stage": "supernet", "seconds": None}
        return {"stage": "supernet", "seconds": left(started.at, progress.data["step"], progress.data["total_steps"], progress.at)}
    search_start = last[EventKind.SUPERNET_TRAINED].at if EventKind.SUPERNET_TRAINED in last else job.started_at
    finished = candidates_finished(counts)
    return {"stage": "search", "seconds": left(search_start, finished, spec.budget.candidates)}


_VERIFY_EVENTS = (EventKind.VERIFY_STARTED, EventKind.VERIFIED, EventKind.REFERENCE_TRAINED, EventKind.VERIFY_FAILED, EventKind.VERIFY_DONE)


def verify_state(job: JobRecord, spec: JobSpec, events: Sequence[EventRecord], verified: int) -> dict[str, Any] | None:
    """Where the verified stage stands (pending / verifying / done / not run), from the job's
    `events` and its count of `verified` candidates; how many are verified of the top_k asked, and
    the stage's latest message. None when the job has no such stage."""
    if spec.verify is None or not spec.verify.top_k:
        return None
    events = [e for e in events if e.kind in _VERIFY_EVENTS]
    if not events:
        state = "done" if verified else ("not run" if job.finished else "pending")  # a job that failed or was cancelled first
    else:
        state = "done" if events[-1].kind == EventKind.VERIFY_DONE else "verifying"
    return {"state": state, "verified": verified, "top_k": spec.verify.top_k, "message": events[-1].message if events else None}


# ---- candidates and the Pareto front ----


def reference_rows(store: Store, job_id: int) -> list[dict[str, Any]]:
    """The job's plain-family references, smallest first: each one's name, architecture id,
    metrics as the evaluators scored it (accuracy with inherited weights, costs, latency) and,
    once trained, its test and validation accuracy over its seeds (means, as a verified
    candidate's), with the test accuracy's 95% half-width."""
    store.get_job(job_id)  # JobNotFound before anything else
    trained = {m.label: m for m in trained_models(store, job_id) if m.is_reference}
    rows = []
    for reference in store.references(job_id):
        model = trained.get(reference.name)
        figures = None
        if model is not None:
            figures = {
                "test_accuracy": model.accuracy, "half_width": model.half_width, "val_accuracy": model.val_accuracy, "seeds": len(model.test_accuracies),
                "test_accuracies": list(model.test_accuracies),
            }  # fmt: skip
        rows.append({"name": reference.name, "arch_id": reference.arch_id, "arch": reference.arch, "metrics": reference.metrics, "trained": figures})
    return rows


def candidate_rows(store: Store, job_id: int, status: str | None = None) -> list[dict[str, Any]]:
    """The job's candidates in proposal order, optionally only those in `status`."""
    job = get_job(store, job_id)
    try:
        candidates = store.candidates(job_id, status)
    except ValueError as exc:
        raise BadRequest("status", str(exc).removeprefix("status: ")) from None
    verifications = verified_candidates(store, job_id)
    space = job_spec(job).search_space()
    return [_candidate_row(c, verifications, space) for c in candidates]


def _candidate_row(c: CandidateRecord, verifications: Mapping[int, Verified], space: SearchSpace) -> dict[str, Any]:
    return {
        **candidate_row(c, verifications),
        "features": _features(space, c),
        "status": c.status,
        "attempt": c.attempt,
        "error": c.error,
        "eval_seconds": c.eval_seconds,
        "proposed_at": _iso(c.proposed_at),
        "finished_at": _iso(c.finished_at),
    }


def _features(space: SearchSpace, candidate: CandidateRecord) -> dict[str, float] | None:
    """The candidate's summary numbers (`SearchSpace.features`); None for an arch its job's space
    no longer accepts (a row written by hand, or by another version of the space)."""
    try:
        return space.features(space.validate(candidate.arch))
    except ArchValidationError:
        logger.debug("candidate %d: arch not in its job's space; no features", candidate.id)
        return None


def job_candidate(store: Store, job_id: int, number: int) -> CandidateRecord:
    """The job's candidate `number` (1, 2, 3 … within the job); NotFound naming the job's range."""
    get_job(store, job_id)
    try:
        return store.candidate_number(job_id, number)
    except CandidateNotFound as exc:
        raise NotFound("candidate", str(exc)) from None


def candidate_detail(store: Store, job_id: int, number: int) -> dict[str, Any]:
    """The job's candidate `number`: its row (as in `candidate_rows`) and its computation graph
    laid out in layers for drawing (each node one layer below the deepest node feeding it)."""
    space = job_spec(get_job(store, job_id)).search_space()
    candidate = job_candidate(store, job_id, number)
    verifications = verified_candidates(store, job_id, candidate.id)
    row = _candidate_row(candidate, verifications, space)
    try:
        graph = space.to_graph(space.validate(candidate.arch))
    except ArchValidationError as exc:
        raise Conflict("candidate", f"candidate {number}'s arch is not in the job's space: {exc}") from None
    layer: dict[str, int] = {}
    for node in nx.topological_sort(graph):
        layer[node] = max((layer[p] + 1 for p in graph.predecessors(node)), default=0)
    nodes = [{"id": node, "op": attrs.get("op", ""), "kind": attrs.get("kind", ""), "layer": layer[node]} for node, attrs in graph.nodes(data=True)]
    return {**row, "graph": {"nodes": nodes, "edges": [[u, v] for u, v in graph.edges()]}}


def event_rows(store: Store, job_id: int, after: int | None = None) -> list[dict[str, Any]]:
    """The job's events in order, as a client sees them; with `after`, those after the event of
    that id (a client that follows a job passes the last id it has)."""
    get_job(store, job_id)
    return [
        # Clients see no server paths, and no traceback (the server's log and store keep it).
        {"id": e.id, "at": _iso(e.at), "kind": e.kind, "message": _without_server_paths(e.message), "data": {k: v for k, v in e.data.items() if k != "traceback"}}
        for e in store.events(job_id, since_id=after)
    ]


def candidates_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """`candidate_rows` as CSV: one line per candidate, one column per metric any of them has
    (in the metric catalogue's order), the verified stage's accuracies, the arch as JSON."""
    present = {name for row in rows for name in row["metrics"]}
    metrics = [m for m in METRICS if m in present] + sorted(present - set(METRICS))
    head = ["candidate", "status", "attempt", "arch_id", *metrics, "verified_val_accuracy", "verified_test_accuracy", "eval_seconds", "proposed_at", "finished_at", "error", "arch"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    for row in rows:
        verified = row["verified"] or {}
        writer.writerow([
            row["candidate"], row["status"], row["attempt"], row["arch_id"], *(row["metrics"].get(m, "") for m in metrics),
            verified.get("val_accuracy", ""), verified.get("test_accuracy", ""), row["eval_seconds"] if row["eval_seconds"] is not None else "",
            row["proposed_at"] or "", row["finished_at"] or "", row["error"] or "", json.dumps(row["arch"], separators=(",", ":"), sort_keys=True),
        ])  # fmt: skip
    return out.getvalue()


def pareto_rows(store: Store, job_id: int, objectives: Sequence[str] | None = None, verified: bool = False) -> list[dict[str, Any]]:
    """The done candidates that satisfy the job's constraints and that no other such candidate
    dominates on `objectives` (metric names; default the spec's objectives), best first on the
    first objective, then the others. A metric's goal is the spec's where the spec lists it, else
    the default one (accuracy maximised, costs minimised).

    `verified`: the front of the verified candidates only, on their standalone training's
    validation accuracy in place of the search's (the row's `metrics.accuracy`; the search's stays
    as `verified.search_accuracy`)."""
    job = get_job(store, job_id)
    verifications = verified_candidates(store, job_id)
    spec = job_spec(job)
    return front_rows(store, job_id, spec, resolve_objectives(spec, objectives), verifications, verified)


def job_analysis(store: Store, job_id: int) -> dict[str, Any]:
    """What the dashboard's analysis panels draw (`nas.results.analysis`): the hypervolume of the
    front after each candidate (on the job's objectives, feasible candidates, candidate order),
    each architecture feature's importance for the primary objective, and the supernet's loss
    and health per epoch."""
    from nas.results.analysis import as_dicts, choice_importance, hypervolume_history, supernet_curve

    job = get_job(store, job_id)
    spec = job_spec(job)
    pairs = resolve_objectives(spec)
    feasible = sorted(feasible_rows(store, job_id, pairs, _constraints(spec), {}, False), key=lambda item: item[1])
    values = np.array([[row["metrics"][m] for m, _ in pairs] for row, _ in feasible], dtype=np.float64).reshape(len(feasible), len(pairs))
    history = hypervolume_history(values, [up for _, up in pairs], [seq for _, seq in feasible])
    space = spec.search_space()
    primary = pairs[0][0]
    done = [c for c in store.candidates(job_id, CandidateStatus.DONE) if c.metrics.get(primary) is not None]
    described = [(features, c.metrics[primary]) for c in done if (features := _features(space, c)) is not None]
    importance = choice_importance([f for f, _ in described], [v for _, v in described])
    events = store.events(job_id)
    progress = [e.data for e in events if e.kind in (EventKind.SUPERNET_PROGRESS, EventKind.SUPERNET_TRAINED) and "step" in e.data]
    final_health = next((e.data for e in reversed(events) if e.kind == EventKind.SUPERNET_HEALTH), None)
    if progress and final_health:  # the check after training, at the last step
        progress[-1] = {**progress[-1], "health": final_health}
    return {
        "objectives": [m for m, _ in pairs],
        "hypervolume": as_dicts(history),
        "importance": {"target": primary, "features": as_dicts(importance)},
        "supernet": as_dicts(supernet_curve(progress)),
    }


def resolve_objectives(spec: JobSpec, objectives: Sequence[str] | None = None) -> list[tuple[str, bool]]:
    """(metric, maximize) pairs for `objectives` (default: the job spec's), goals from the spec."""
    declared = {o.metric: o.maximize for o in spec.objectives}
    metrics = list(declared) if objectives is None else [m.strip() for m in objectives]
    if not metrics or not all(metrics):
        raise BadRequest("objectives", f"give one or more metrics of {_choices(METRICS)}, separated by commas")
    benchmark = spec.is_benchmark
    for metric in metrics:
        if metric not in METRICS:
            raise BadRequest("objectives", f"{metric!r} not in {_choices(METRICS)}")
        if benchmark and metric not in BENCHMARK_METRICS:
            raise BadRequest(
                "objectives", f"{metric!r} is not recorded in benchmark mode (task {BENCHMARK_TASK}); choose from {_choices(BENCHMARK_METRICS)}"
            )
    repeated = sorted({m for m in metrics if metrics.count(m) > 1})
    if repeated:
        raise BadRequest("objectives", f"{', '.join(repeated)} given more than once; each metric once")
    return [(m, declared[m] if m in declared else ObjectiveSpec(metric=m).maximize) for m in metrics]


def pareto_plot(store: Store, job_id: int, objectives: Sequence[str] | None, path: Path) -> Path:
    """A PNG of the job's done candidates with its front on `objectives` (default: the spec's),
    drawn as the dashboard draws it."""
    from nas.results.plots import plot_front  # imports matplotlib: only plots pay for it

    job = get_job(store, job_id)
    spec = job_spec(job)
    metrics = [m for m, _ in resolve_objectives(spec, objectives)]
    done = candidate_rows(store, job_id, CandidateStatus.DONE)
    return plot_front(
        pareto_rows(store, job_id, metrics), done, metrics, path, title=f"job {job_id} {job.name}: Pareto front", benchmark=spec.is_benchmark, references=reference_rows(store, job_id),
    )  # fmt: skip


# ---- export ----


EXPORT_WEIGHTS = ("verified", "inherited")


def export_candidate(
    store: Store,
    job_id: int,
    number: int,
    fmt: str,
    out_dir: Path,
    finetune_epochs: int = 0,
    *,
    weights: str | None = None,
    finetune_lr: float = DEFAULT_FINETUNE_LR,
    keep_worse: bool = False,
    publish_to: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write a done candidate to `out_dir` (which must not exist or be empty) in format `fmt`,
    recorded as an "export" artifact of the job; with `publish_to` (a location in the artifact
    root, a path or a URI) `out_dir` is scratch space and the export is copied there and
    recorded there. `weights`: "verified" (the verified stage's
    trained model), "inherited" (extracted from the supernet), or None: verified when the
    candidate was verified. Optionally fine-tuned first (see `export_from_checkpoint`); the
    metrics report validation and test accuracy before and after."""
    if fmt not in EXPORT_FORMATS:
        raise BadRequest("format", f"{fmt!r} not in {_choices(EXPORT_FORMATS)}")
    if finetune_epochs < 0:
        raise BadRequest("finetune_epochs", f"{finetune_epochs} must be >= 0")
    if not (isinstance(finetune_lr, (int, float)) and finetune_lr > 0 and np.isfinite(finetune_lr)):
        raise BadRequest("finetune_lr", f"{finetune_lr} must be a number > 0")
    if weights is not None and weights not in EXPORT_WEIGHTS:
        raise BadRequest("weights", f"{weights!r} not in {_choices(EXPORT_WEIGHTS)}")
    job = get_job(store, job_id)
    spec = job_spec(job)
    candidate = job_candidate(store, job_id, number)
    candidate_id = candidate.id
    if spec.is_benchmark:
        raise Conflict(
            "job_id", f"job {job_id} runs in benchmark mode (task {BENCHMARK_TASK}): its results come from a table and it has no trained weights to export"
        )
    if candidate.status != CandidateStatus.DONE:
        raise Conflict("candidate", f"candidate {number} is {candidate.status}; only done candidates can be exported")
    checkpoints = store.artifacts(job_id, ArtifactKind.SUPERNET_CHECKPOINT)
    if not checkpoints:
        raise Conflict("job_id", f"job {job_id} ({job.status}) has no supernet checkpoint to export from")
    verified = verified_candidates(store, job_id, candidate_id)
    verification = verified[candidate_id].record if verified else None
    if weights == "verified" and verification is None:
        raise Conflict("weights", f"candidate {number} was not verified; export its inherited weights, or verify it first")
    use_verified = verification is not None and weights != "inherited"
    if use_verified and (verification.weights is None or not DirectFiles().exists(verification.weights)):
        raise Conflict("weights", f"the verified weights of candidate {number} are no longer in the artifact root; export its inherited weights instead")
    search = {
        "weights": "verified" if use_verified else "inherited", "search_accuracy": candidate.accuracy,
        **({"latency_ms": candidate.latency_ms} if candidate.latency_ms is not None else {}),
        **({"verified": candidate_row(candidate, verified)["verified"]} if verification else {}),
    }  # fmt: skip

    counts = store.counts(job_id)
    provenance = {
        "job_id": job_id, "job_name": job.name, "owner": job.owner, "candidate": number, "strategy": spec.strategy, "seed": spec.seed,
        "objectives": [o.model_dump() for o in spec.objectives], "constraints": _constraints(spec), "budget_candidates": spec.budget.candidates,
        "candidates_evaluated": candidates_finished(counts),
        "chance_accuracy": (checkpoints[-1].meta.get("health") or {}).get("majority_rate"),
    }  # fmt: skip

    if progress is not None:  # the request is valid: what follows takes a while (a fine-tune, the checks of the model)
        progress(f"exporting job {job_id}'s candidate {number} as {fmt} from its {search['weights']} weights" + (f", fine-tuning it {finetune_epochs} epoch{'s' * (finetune_epochs != 1)} first" if finetune_epochs else "") + " …")
    from nas.export.exporter import FinetuneWorse, export_from_checkpoint  # imports torch: only exports pay for it
    from nas.export.latency import LatencySettings

    try:
        result = export_from_checkpoint(
            checkpoints[-1].path, candidate.arch, fmt, Path(out_dir),
            weights=verification.weights if use_verified else None,
            finetune_epochs=finetune_epochs, finetune_lr=finetune_lr, keep_worse=keep_worse, seed=spec.seed, metrics=search, provenance=provenance,
            progress=progress, latency=LatencySettings.of(spec.latency),
        )  # fmt: skip
    except FileExistsError as exc:
        raise Conflict("out", str(exc).removeprefix("out: ")) from None
    except FinetuneWorse as exc:
        raise Conflict("finetune_epochs", str(exc).removeprefix("finetune_epochs: ")) from None
    meta = {"candidate": number, "format": fmt, "files": result.files, "arch_id": result.arch_id, "metrics": result.metrics, "latency": result.latency}
    location = str(result.directory)
    if publish_to is not None:
        upload_dir(result.directory, publish_to)
        location = publish_to
    artifact = store.add_artifact(job_id, ArtifactKind.EXPORT, location, meta)
    return {"out_dir": location, "artifact_id": artifact.id, **meta}


def export_to_root(
    store: Store,
    job_id: int,
    number: int,
    fmt: str,
    export_root: Path | str,
    out: str | None = None,
    *,
    finetune_epochs: int = 0,
    weights: str | None = None,
    finetune_lr: float = DEFAULT_FINETUNE_LR,
    keep_worse: bool = False,
) -> dict[str, Any]:
    """`export_candidate` for a client that cannot see the server's disk: the export goes to
    `out`, a directory inside `export_root` (a path, or a URI of the cluster's artifact root),
    default a new one; the answer names it relative to the root, never by a server path."""
    from nas.export.exporter import resolve_export_dir  # imports torch: only exports pay for it

    out = out or f"job-{job_id}/candidate-{number}-{fmt}-{uuid.uuid4().hex[:8]}"
    remote = is_uri(str(export_root))
    base = Path("/export-root") if remote else Path(export_root)  # `out` is checked as a path inside the root either way
    try:
        out_dir = resolve_export_dir(base, out)
    except ValueError as exc:
        raise BadRequest("out", str(exc).removeprefix("out: ")) from None
    relative = out_dir.relative_to(base.resolve()).as_posix()
    taken = Conflict("out", f"{out!r} exists and is not empty; choose another directory")  # not the server's path
    publish_to = join(str(export_root), relative) if remote else None
    if publish_to is not None and DirectFiles().names(publish_to):
        raise taken
    scratch = Path(tempfile.mkdtemp(prefix="nas-export-")) if remote else None
    try:
        result = export_candidate(
            store, job_id, number, fmt, scratch / "model" if scratch else out_dir, finetune_epochs,
            weights=weights, finetune_lr=finetune_lr, keep_worse=keep_worse, publish_to=publish_to,
        )  # fmt: skip
    except Conflict as exc:
        if exc.field != "out":
            raise
        raise taken from None
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return {**result, "out_dir": relative}


def export_archive(store: Store, artifact_id: int, into: Path) -> tuple[Path, str]:
    """An export (`artifact_id`, as `export_candidate` returned it) packed as one .tar.gz under
    `into`, for a client that cannot read the server's disk: (the archive, its download name).
    The archive holds one top-level directory named like the download."""
    try:
        artifact = store.get_artifact(artifact_id)
    except ArtifactNotFound as exc:
        raise NotFound("artifact_id", str(exc)) from None
    if artifact.kind != ArtifactKind.EXPORT:  # checkpoints are the server's working files
        raise NotFound("artifact_id", f"artifact {artifact_id} not found")
    name = f"job-{artifact.job_id}-candidate-{artifact.meta.get('candidate')}-{artifact.meta.get('format')}-{artifact_id}"
    directory = Path(artifact.path)
    if is_uri(artifact.path):  # an artifact root other nodes share (s3://, gs://, ...)
        if not DirectFiles().names(artifact.path):
            raise Conflict("artifact_id", f"the files of export {artifact_id} are no longer in the artifact root; export the candidate again")
        directory = Path(into) / "files"
        download_dir(artifact.path, directory)
    elif not directory.is_dir():
        raise Conflict("artifact_id", f"the files of export {artifact_id} are no longer on this server; export the candidate again")
    archive = Path(into) / f"{name}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(directory, arcname=name)
    return archive, archive.name


# ---- helpers ----


def _constraints(spec: JobSpec) -> dict[str, float]:
    """{metric: upper limit} for the limits the spec sets (params_max -> params, ...)."""
    return spec.constraints.limits()


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def public_task(task: str | Mapping[str, Any], data_root: Path) -> str | dict[str, Any]:
    """A job's task as a remote client sees it: a file inside the server's data directory by its
    path relative to it (as the client's spec named it); one elsewhere (a spec submitted on the
    server itself) by its file name only."""
    if isinstance(task, str):
        return task
    shown = dict(task)
    root = Path(data_root).resolve()
    for key in (k for k in FILE_FORMATS if isinstance(shown.get(k), str)):
        path = Path(shown[key])
        shown[key] = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    return shown


def public_summary(row: Mapping[str, Any], data_root: Path | None = None) -> dict[str, Any]:
    """A job summary as a client sees it: no server paths (a task file is named relative to
    `data_root`, default the data directory, where the client's spec named it) and the error's
    first line."""
    data_root = data_root if data_root is not None else data_home() / "data"
    return {**row, "task": public_task(row["task"], data_root), "error": public_error(row["error"])}


def public_error(message: str | None) -> str | None:
    """A job's error as a remote client sees it: the first line, no terminal colour codes, no
    traceback (Ray's errors carry the worker's), no path of the server's data directory."""
    if message is None:
        return None
    line = _ANSI.sub("", message).strip().splitlines()[0] if message.strip() else ""
    return _without_server_paths(line)


def _without_server_paths(text: str) -> str:
    return text.replace(str(data_home()), "<server data>")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _choices(values: Sequence[str]) -> str:
    return "{" + ", ".join(values) + "}"
