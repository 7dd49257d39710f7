"""The operations the CLI (`nas submit | jobs | status | pareto | export`) and the REST API share.

Each takes a `Store` and returns JSON-ready dicts. Bad input raises a `ServiceError` naming the
field: `NotFound` (API 404), `Conflict` (the request is fine but the job or candidate is not in a
state that allows it, API 409) or `BadRequest` (API 422; also a ValueError). An invalid job spec
raises `nas.spec.SpecError`, which lists every problem.

Nothing heavy is imported here: torch comes with `nas.export` inside `export_candidate`,
matplotlib inside `pareto_plot`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

# The coordinator records the checkpoint directory under SUPERNET_ARTIFACT and training progress as events.
from nas.coordinator import SUPERNET_ARTIFACT, SUPERNET_PROGRESS, SUPERNET_STARTED, SUPERNET_TRAINED
from nas.pareto import non_dominated_mask
from nas.spec import BENCHMARK_METRICS, BENCHMARK_TASK, Constraints, ObjectiveSpec, submit
from nas.store import METRICS, CandidateNotFound, CandidateRecord, JobNotFound, JobRecord, Store

# nas.export.FORMATS, spelled out because importing nas.export imports torch (a test keeps them in step).
EXPORT_FORMATS: tuple[str, ...] = ("pytorch", "torchscript", "onnx")
EXPORT_ARTIFACT = "export"

# What the plot's axes show: label and the factor taking a stored value to the plotted unit.
_AXES: dict[str, tuple[str, float]] = {
    "accuracy": ("accuracy", 1.0),
    "params": ("parameters (millions)", 1e-6),
    "flops": ("FLOPs per example (millions)", 1e-6),
    "latency_ms": ("latency (ms per batch)", 1.0),
}


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


def submit_job(store: Store, data: Mapping[str, Any] | Path) -> JobRecord:
    """Validate a spec (decoded data, or a YAML/JSON file) and queue it. SpecError, listing every
    problem, before anything is written."""
    return submit(store, data)


def get_job(store: Store, job_id: int) -> JobRecord:
    try:
        return store.get_job(job_id)
    except JobNotFound as exc:
        raise NotFound("job_id", str(exc)) from None


def list_jobs(store: Store, status: str | None = None) -> list[JobRecord]:
    try:
        return store.list_jobs(status)
    except ValueError as exc:  # the store names the field and the allowed statuses
        raise BadRequest("status", str(exc).removeprefix("status: ")) from None


def cancel_job(store: Store, job_id: int) -> JobRecord:
    """Queued: cancelled now; running: its coordinator stops it; finished: unchanged."""
    try:
        return store.request_cancel(job_id)
    except JobNotFound as exc:
        raise NotFound("job_id", str(exc)) from None


def job_summary(store: Store, job: JobRecord) -> dict[str, Any]:
    """What `nas status` and GET /jobs/{id} show: the spec's essentials, candidate counts and the
    best done candidate on the primary objective (within the spec's constraints)."""
    spec = job.spec
    counts = store.counts(job.id)
    primary = _objectives(spec)[0].metric
    best = pareto_rows(store, job.id, [primary]) if counts["done"] else []
    return {
        "id": job.id,
        "name": job.name,
        "status": job.status,
        "space": spec.get("space"),
        "preset": spec.get("preset"),
        "task": spec.get("task"),
        "strategy": spec.get("strategy"),
        "objectives": [o.model_dump() for o in _objectives(spec)],
        "constraints": _constraints(spec),
        "budget": spec.get("budget", {}),
        "counts": counts,
        "candidates_done": counts["done"],
        "best": {k: best[0][k] for k in ("candidate_id", "arch_id", "metrics")} if best else None,
        "supernet": supernet_state(store, job),
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "error": job.error,
        "cancel_requested": job.cancel_requested,
    }


_SUPERNET_STATES = {SUPERNET_STARTED: "starting", SUPERNET_PROGRESS: "training", SUPERNET_TRAINED: "trained"}


def supernet_state(store: Store, job: JobRecord) -> dict[str, Any] | None:
    """Where the job's supernet training stands, from the coordinator's latest supernet event:
    state pending / starting / training / trained, a one-line message, and the progress figures
    (phase, epochs done of the phase's epochs, step of total steps, loss). None in benchmark mode,
    which trains nothing."""
    if job.spec.get("supernet") is None:
        return None
    latest = next((e for e in reversed(store.events(job.id)) if e.kind in _SUPERNET_STATES), None)
    if latest is None:
        return {"state": "pending", "message": "not started", "progress": None, "at": None}
    progress = latest.data if latest.kind != SUPERNET_STARTED else None
    return {"state": _SUPERNET_STATES[latest.kind], "message": latest.message, "progress": progress or None, "at": _iso(latest.at)}


# ---- candidates and the Pareto front ----


def candidate_rows(store: Store, job_id: int, status: str | None = None) -> list[dict[str, Any]]:
    """The job's candidates in proposal order, optionally only those in `status`."""
    get_job(store, job_id)
    try:
        candidates = store.candidates(job_id, status)
    except ValueError as exc:
        raise BadRequest("status", str(exc).removeprefix("status: ")) from None
    return [
        {
            **_row(c),
            "seq": c.seq,
            "status": c.status,
            "attempt": c.attempt,
            "error": c.error,
            "eval_seconds": c.eval_seconds,
            "proposed_at": _iso(c.proposed_at),
            "finished_at": _iso(c.finished_at),
        }
        for c in candidates
    ]


def pareto_rows(store: Store, job_id: int, objectives: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The done candidates that satisfy the job's constraints and that no other such candidate
    dominates on `objectives` (metric names; default the spec's objectives), best first on the
    first objective. A metric's goal is the spec's where the spec lists it, else the default one
    (accuracy maximised, costs minimised)."""
    job = get_job(store, job_id)
    pairs = resolve_objectives(job, objectives)
    limits = _constraints(job.spec)
    if not limits:
        return [_row(c) for c in store.pareto(job_id, pairs)]  # the store's query reads only the columns
    # With constraints the front is that of the feasible candidates: one dominated only by an
    # infeasible candidate belongs on it, so filtering the unconstrained front would be wrong.
    # A candidate lacking a constrained metric cannot be shown to meet it and is left out.
    feasible = [
        c
        for c in store.candidates(job_id, "done")
        if all(getattr(c, m) is not None for m, _ in pairs)
        and all(getattr(c, m) is not None and getattr(c, m) <= limit for m, limit in limits.items())
    ]
    if not feasible:
        return []
    values = np.array([[getattr(c, m) for m, _ in pairs] for c in feasible], dtype=np.float64)
    mask = non_dominated_mask(values, [up for _, up in pairs])
    front = [c for c, keep in zip(feasible, mask) if keep]
    front.sort(key=lambda c: (*(-getattr(c, m) if up else getattr(c, m) for m, up in pairs), c.seq))  # as Store.pareto orders
    return [_row(c) for c in front]


def resolve_objectives(job: JobRecord, objectives: Sequence[str] | None = None) -> list[tuple[str, bool]]:
    """(metric, maximize) pairs for `objectives` (default: the job spec's), goals from the spec."""
    declared = {o.metric: o.maximize for o in _objectives(job.spec)}
    metrics = list(declared) if objectives is None else [m.strip() for m in objectives]
    if not metrics or not all(metrics):
        raise BadRequest("objectives", f"give one or more metrics of {_choices(METRICS)}, separated by commas")
    benchmark = job.spec.get("task") == BENCHMARK_TASK
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


def pareto_plot(
    rows: Sequence[Mapping[str, Any]], all_done_candidates: Sequence[CandidateRecord], objectives: Sequence[str], path: Path
) -> Path:
    """A PNG of every done candidate (grey) and the front `rows` (highlighted, joined) on the first
    two objectives; with one objective, that metric against proposal order."""
    # A bare Figure renders with Agg and leaves pyplot's global state (and any display) alone,
    # which matters in a threaded server.
    from matplotlib.figure import Figure

    if not objectives:
        raise BadRequest("objectives", f"give one or more metrics of {_choices(METRICS)}")
    unknown = [m for m in objectives if m not in _AXES]
    if unknown:
        raise BadRequest("objectives", f"{unknown[0]!r} not in {_choices(METRICS)}")
    front_ids = {row["candidate_id"] for row in rows}
    fig = Figure(figsize=(6.4, 4.8), dpi=120)
    ax = fig.subplots()
    if len(objectives) == 1:
        (metric,) = objectives
        label, scale = _AXES[metric]
        done = [(c.seq, getattr(c, metric)) for c in all_done_candidates if getattr(c, metric) is not None]
        best = sorted((c.seq, getattr(c, metric)) for c in all_done_candidates if c.id in front_ids and getattr(c, metric) is not None)
        ax.set_xlabel("candidate (proposal order)")
    else:
        x_metric, y_metric = objectives[:2]
        label, scale = _AXES[y_metric]
        x_label, x_scale = _AXES[x_metric]
        done = [
            (x * x_scale, y)
            for c in all_done_candidates
            if (x := getattr(c, x_metric)) is not None and (y := getattr(c, y_metric)) is not None
        ]
        best = sorted((row["metrics"][x_metric] * x_scale, row["metrics"][y_metric]) for row in rows)
        ax.set_xlabel(x_label)
    ax.scatter([p[0] for p in done], [p[1] * scale for p in done], s=12, c="0.7", label=f"done candidates ({len(done)})")
    ax.plot([p[0] for p in best], [p[1] * scale for p in best], "o-", c="tab:red", ms=5, lw=1.5, label=f"Pareto front ({len(rows)})")
    ax.set_ylabel(label)
    if len(objectives) > 2:
        ax.set_title(f"front on {', '.join(objectives)}; shown on the first two", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


# ---- export ----


def export_candidate(store: Store, job_id: int, candidate_id: int, fmt: str, out_dir: Path, finetune_epochs: int = 0) -> dict[str, Any]:
    """Extract a done candidate from its job's supernet checkpoint, optionally fine-tune it, and
    write it to `out_dir` (which must not exist or be empty) in format `fmt`; recorded as an
    "export" artifact of the job."""
    if fmt not in EXPORT_FORMATS:
        raise BadRequest("format", f"{fmt!r} not in {_choices(EXPORT_FORMATS)}")
    if finetune_epochs < 0:
        raise BadRequest("finetune_epochs", f"{finetune_epochs} must be >= 0")
    job = get_job(store, job_id)
    try:
        candidate = store.get_candidate(candidate_id)
    except CandidateNotFound as exc:
        raise NotFound("candidate_id", str(exc)) from None
    if candidate.job_id != job_id:
        raise NotFound("candidate_id", f"candidate {candidate_id} is not in job {job_id} (it belongs to job {candidate.job_id})")
    if job.spec.get("task") == BENCHMARK_TASK:
        raise Conflict(
            "job_id", f"job {job_id} runs in benchmark mode (task {BENCHMARK_TASK}): its results come from a table and it has no trained weights to export"
        )
    if candidate.status != "done":
        raise Conflict("candidate_id", f"candidate {candidate_id} is {candidate.status}; only done candidates can be exported")
    checkpoints = store.artifacts(job_id, SUPERNET_ARTIFACT)
    if not checkpoints:
        raise Conflict("job_id", f"job {job_id} ({job.status}) has no supernet checkpoint to export from")

    from nas.export import export_from_checkpoint  # imports torch: only exports pay for it

    try:
        result = export_from_checkpoint(
            Path(checkpoints[-1].path), candidate.arch, fmt, Path(out_dir),
            finetune_epochs=finetune_epochs, seed=int(job.spec.get("seed", 0)),
        )  # fmt: skip
    except FileExistsError as exc:
        raise Conflict("out", str(exc).removeprefix("out: ")) from None
    meta = {"candidate_id": candidate_id, "format": fmt, "files": result.files, "arch_id": result.arch_id, "metrics": result.metrics}
    store.add_artifact(job_id, EXPORT_ARTIFACT, str(result.directory), meta)
    return {"out_dir": str(result.directory), **meta}


# ---- helpers ----


def _objectives(spec: Mapping[str, Any]) -> list[ObjectiveSpec]:
    # The stored spec was validated on submission; re-reading its parts through the spec's own
    # models fills the default goals without re-running the whole (file-checking) validation.
    return [ObjectiveSpec.model_validate(o) for o in spec.get("objectives") or [{"metric": "accuracy"}]]


def _constraints(spec: Mapping[str, Any]) -> dict[str, float]:
    """{metric: upper limit} for the limits the spec sets (params_max -> params, ...)."""
    constraints = Constraints.model_validate(spec.get("constraints") or {})
    return {name.removesuffix("_max"): limit for name, limit in constraints.model_dump().items() if limit is not None}


def _row(c: CandidateRecord) -> dict[str, Any]:
    return {"candidate_id": c.id, "arch_id": c.arch_id, "arch": c.arch, "metrics": c.metrics}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _choices(values: Sequence[str]) -> str:
    return "{" + ", ".join(values) + "}"
