"""`nas run | submit | jobs | status | cancel | delete | coordinator | serve | pareto | export`: the search
service on the command line. Every command takes `--db URL` (or $NAS_DB_URL; default a SQLite
file in the data directory)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from nas.cli.common import emit, fail
from nas.cli.follow import ProgressLines
from nas.cli.formatting import (
    is_benchmark,
    print_cancelled,
    print_candidates,
    print_deleted,
    print_export,
    print_front,
    print_jobs,
    print_references,
    print_summary,
)
from nas.job.formats import DEFAULT_FINETUNE_LR
from nas.statuses import JobStatus

logger = logging.getLogger(__name__)

T = TypeVar("T")
DbOption = Annotated[str | None, typer.Option("--db", envvar="NAS_DB_URL", help="Database URL (default: SQLite in the data directory).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
RayOption = Annotated[str | None, typer.Option("--ray-address", envvar="RAY_ADDRESS", help="An existing Ray cluster (default: start a local one).")]
RayCpusOption = Annotated[
    int | None,
    typer.Option("--ray-cpus", envvar="NAS_RAY_CPUS", min=1, help="CPUs the local Ray cluster may use, to share a machine (default: all of them); not with --ray-address."),
]
ArtifactOption = Annotated[
    str | None,
    typer.Option("--artifact-root", envvar="NAS_ARTIFACT_ROOT", help="Where checkpoints and weights go: a directory, or an fsspec URI every node reaches (s3://…, file:///mnt/nfs/…) (default: <data directory>/artifacts)."),
]
MaxJobsOption = Annotated[int, typer.Option("--max-jobs", min=1, max=64, help="Jobs one coordinator runs at once, each with its own actors.")]
StaleOption = Annotated[float, typer.Option("--stale-after", min=1.0, help="Seconds without a heartbeat after which a running job is taken over.")]


def open_store(db: str | None):
    from nas.store import Store, StoreError

    try:
        return Store(db)
    except (StoreError, ValueError) as exc:
        fail(f"--db: {exc}")


def open_artifact_root(root: str | None):
    from nas.artifact_root import ArtifactRoot

    try:
        return ArtifactRoot(root).check()
    except ValueError as exc:
        fail(f"--artifact-root: {exc}")


def join_ray(address: str) -> None:
    from nas.search.cluster import RayUnavailable, init_ray

    try:
        init_ray(address)
    except RayUnavailable as exc:
        fail(f"--ray-address: {exc}")


def check_ray_cpus(cpus: int | None, address: str | None) -> None:
    """There must be a local cluster for --ray-cpus to bound."""
    if cpus is not None and address:
        fail(f"--ray-cpus: bounds the local Ray cluster started here; the cluster at --ray-address {address} has the CPUs its nodes were started with")


def _service_call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Runs a service operation, turning the user's mistakes it reports (an invalid spec, an
    unknown job, a state that forbids the operation) into exit code 2 with the message. Anything
    else is a bug and keeps its traceback."""
    from nas.job.errors import SpecError
    from nas.service import ServiceError
    from nas.store import StoreError

    try:
        return function(*args, **kwargs)
    except SpecError as exc:
        fail(exc.problems)
    except (ServiceError, StoreError) as exc:
        fail(str(exc))


def register(app: typer.Typer) -> None:
    for command in (run, submit, jobs, status, cancel, delete, candidates, coordinator, serve, pareto, export, report):
        app.command(command.__name__)(command)


def run(
    spec: Annotated[Path, typer.Argument(help="Job spec (YAML or JSON).")],
    db: DbOption = None,
    ray_address: RayOption = None,
    ray_cpus: RayCpusOption = None,
    artifact_root: ArtifactOption = None,
    as_json: JsonOption = False,
    progress: Annotated[bool, typer.Option(help="Progress on stderr: bars on a terminal, else a line per event.")] = True,
) -> None:
    """Submit a job and run it here to completion; prints the Pareto front (with --json, the last
    line is {job_id, status, candidates_done, best, pareto})."""
    from nas.search.coordinator import Coordinator
    from nas.service import job_summary, pareto_rows, submit_job

    root = open_artifact_root(artifact_root)
    check_ray_cpus(ray_cpus, ray_address)
    if ray_address:  # before the job is submitted: nothing is left queued by a run that cannot start
        join_ray(ray_address)
    store = open_store(db)
    job = _service_call(submit_job, store, spec)
    bars = progress and sys.stderr.isatty()  # else (a log file, CI, a pipe) progress comes as lines
    coordinator = Coordinator(store, ray_address=ray_address, ray_cpus=ray_cpus, artifact_root=root, show_progress=bars)
    try:
        with ProgressLines(store, job.id) if progress and not bars else contextlib.nullcontext():
            finished = coordinator.run_next(job.id)
    except KeyboardInterrupt:
        _interrupted(store, job.id, coordinator.worker)
    summary = job_summary(store, finished or store.get_job(job.id))
    front = pareto_rows(store, job.id) if summary["candidates_done"] else []
    if as_json:
        emit({**summary, "job_id": job.id, "pareto": front})
    else:
        print_summary(summary)
        print_front(front, is_benchmark(summary))
    if summary["status"] != JobStatus.SUCCEEDED:
        raise typer.Exit(1)


def _interrupted(store, job_id: int, worker: str) -> NoReturn:
    """Ctrl-C during `nas run`: the job ends cancelled at once (not `running` until another
    coordinator's stale timeout), its results kept; exit 130 as for any interrupted command."""
    from nas.store import ClaimLost, InvalidTransition

    try:
        store.finish_job(job_id, JobStatus.CANCELLED, error="interrupted (Ctrl-C in nas run)", worker=worker)
        sys.stderr.write(f"\njob {job_id} cancelled (interrupted); its results so far are kept: nas status {job_id}\n")
    except (ClaimLost, InvalidTransition):  # finished meanwhile, or never claimed here
        sys.stderr.write(f"\ninterrupted; job {job_id} is {store.get_job(job_id).status}\n")
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is committed: skip the interpreter's exit hooks, where Ray's shutdown can wait on
    # daemons the same Ctrl-C already stopped.
    os._exit(130)


def submit(spec: Annotated[Path, typer.Argument(help="Job spec (YAML or JSON).")], db: DbOption = None, as_json: JsonOption = False) -> None:
    """Queue a job for a coordinator (`nas coordinator`); prints its id."""
    from nas.service import submit_job

    job = _service_call(submit_job, open_store(db), spec)
    if as_json:
        emit({"job_id": job.id, "name": job.name, "status": job.status})
    else:
        typer.echo(f"job {job.id} ({job.name}) {job.status}: `nas coordinator` (or `nas serve`) on this store runs it; `nas status {job.id}` follows it")


def jobs(
    db: DbOption = None,
    status_filter: Annotated[str | None, typer.Option("--status", help="Only jobs in this status.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many jobs (default: all).")] = None,
    after: Annotated[int | None, typer.Option(min=0, help="Only jobs with a larger id (the last id of the previous page).")] = None,
    as_json: JsonOption = False,
) -> None:
    """List jobs in id order."""
    from nas.service import job_summaries, list_jobs

    store = open_store(db)
    rows = job_summaries(store, _service_call(list_jobs, store, status_filter, limit=limit, after=after))
    if as_json:
        emit(rows)
        return
    print_jobs(rows)


def status(job_id: int, db: DbOption = None, as_json: JsonOption = False) -> None:
    """A job's state, counts and best candidate."""
    from nas.service import get_job, job_summary

    store = open_store(db)
    summary = job_summary(store, _service_call(get_job, store, job_id))
    if as_json:
        emit(summary)
    else:
        print_summary(summary)


def cancel(job_id: int, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Cancel a job: a queued one at once, a running one at its coordinator's next step. Finished
    results stay."""
    from nas.service import cancel_job

    job = _service_call(cancel_job, open_store(db), job_id)
    if as_json:
        emit({"job_id": job.id, "status": job.status, "cancel_requested": job.cancel_requested})
    else:
        print_cancelled(job.id, job.status, job.cancel_requested)


def delete(
    job_id: int,
    db: DbOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete a job that is not running (cancel a running one first) with its candidates, events
    and the files it made: supernet checkpoint, verified weights, exports."""
    from nas.service import delete_job, get_job

    store = open_store(db)
    job = _service_call(get_job, store, job_id)
    if not yes:
        if not sys.stdin.isatty():
            fail(f"nas delete {job_id}: pass --yes to delete without a prompt (stdin is not a terminal)")
        typer.confirm(f"Delete job {job.id} ({job.name!r}, {job.status}) and its files?", abort=True)
    deleted = _service_call(delete_job, store, job_id)
    if as_json:
        emit(deleted)
    else:
        print_deleted(deleted)


def candidates(
    job_id: int,
    db: DbOption = None,
    status: Annotated[str | None, typer.Option(help="Only candidates in this status: proposed, running, done or failed.")] = None,
    output: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (as --format json).")] = False,
) -> None:
    """A job's candidates in proposal order: metrics, verified accuracies, status, errors."""
    from nas.service import candidate_rows, candidates_csv, get_job, job_spec

    formats = ("table", "json", "csv")
    if output not in formats:
        fail(f"--format: {output!r} not one of {', '.join(formats)}")
    if as_json and output not in ("table", "json"):
        fail(f"--json: asks for JSON, --format for {output}; give one of them")
    output = "json" if as_json else output
    store = open_store(db)
    rows = _service_call(candidate_rows, store, job_id, status)
    if output == "json":
        emit(rows)
    elif output == "csv":
        sys.stdout.write(candidates_csv(rows))
    else:
        print_candidates(rows, job_spec(get_job(store, job_id)).is_benchmark)


def coordinator(
    db: DbOption = None,
    ray_address: RayOption = None,
    ray_cpus: RayCpusOption = None,
    artifact_root: ArtifactOption = None,
    job: Annotated[int | None, typer.Option("--job", help="Run only this job.")] = None,
    once: Annotated[bool, typer.Option(help="Run at most one job, then exit.")] = False,
    poll: Annotated[float, typer.Option(min=0.1, help="Seconds between looks for queued jobs.")] = 2.0,
    stale_after: StaleOption = 120.0,
    max_jobs: MaxJobsOption = 1,
    progress: Annotated[bool, typer.Option(help="Progress bars on stderr.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Run queued jobs (and take over running ones whose coordinator died) until interrupted."""
    from nas.search.coordinator import Coordinator

    root = open_artifact_root(artifact_root)
    check_ray_cpus(ray_cpus, ray_address)
    if ray_address:  # a cluster it cannot join (no token, wrong address) is said at once, not at the first job
        join_ray(ray_address)
    worker = Coordinator(
        open_store(db), ray_address=ray_address, ray_cpus=ray_cpus, artifact_root=root, stale_after_s=stale_after, show_progress=progress and sys.stderr.isatty()
    )
    if once or job is not None:
        finished = worker.run_next(job)
        if as_json:
            emit({"job_id": finished.id, "status": finished.status} if finished else {"job_id": None, "status": "nothing to run"})
        else:
            typer.echo(f"job {finished.id} ({finished.name}): {finished.status}" + (f" ({finished.error})" if finished.error else "") if finished else "nothing to run")
        return
    # Ctrl-C and `kill` stop it through KeyboardInterrupt, also where it started with SIGINT
    # ignored (a background job of a non-interactive shell passes that on; so would `nas serve`).
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.default_int_handler)
    try:
        worker.serve_forever(poll, max_jobs=max_jobs)
    except KeyboardInterrupt:
        logger.info("coordinator %s: stopped", worker.worker)


def serve(
    db: DbOption = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: Annotated[str | None, typer.Option(envvar="NAS_API_TOKEN", help="Bearer token clients must send.")] = None,
    export_root: Annotated[str | None, typer.Option(help="Where exports are written: a directory or an fsspec URI (default: <artifact root>/exports).")] = None,
    data_root: Annotated[Path | None, typer.Option(help="The only directory job specs may read task files from (default: <data directory>/data).")] = None,
    coordinators: Annotated[int, typer.Option(min=0, help="Coordinator processes to run beside the API; 0 when a separate `nas coordinator` fleet runs the jobs.")] = 1,
    no_coordinator: Annotated[bool, typer.Option("--no-coordinator", help="Same as --coordinators 0.")] = False,
    ray_address: RayOption = None,
    ray_cpus: RayCpusOption = None,
    artifact_root: ArtifactOption = None,
    max_jobs: MaxJobsOption = 1,
) -> None:
    """The REST API (OpenAPI schema at /docs and /openapi.json), with a coordinator beside it that
    runs the jobs it accepts (GET /health counts the coordinators alive)."""
    from nas.api import serve as serve_api

    root = open_artifact_root(artifact_root)
    check_ray_cpus(ray_cpus, ray_address)
    if export_root is not None:
        from nas.artifact_root import ArtifactRoot

        try:
            export_root = ArtifactRoot(export_root).check().location
        except ValueError as exc:
            fail(f"--export-root: {exc}")
    store = open_store(db)  # migrations and a clear error before the server starts
    if not token and not store.has_users():
        fail("--token: required (or set NAS_API_TOKEN), or add users first (nas users add NAME --admin); requests must send 'Authorization: Bearer <token or key>'")
    shown_host = f"[{host}]" if ":" in host else host
    who = "the server's token (--token / NAS_API_TOKEN)" if token else "a user's key (nas users add NAME)"
    if store.has_users() and token:
        who += " or a user's key"
    typer.echo(f"nas serve: dashboard at http://{shown_host}:{port}/ (log in with {who}); API reference at http://{shown_host}:{port}/docs", err=True)
    serve_api(db, host, port, token, export_root, data_root, coordinators=0 if no_coordinator else coordinators, ray_address=ray_address, ray_cpus=ray_cpus, artifact_root=root.location, max_jobs=max_jobs)


def pareto(
    job_id: int,
    db: DbOption = None,
    objectives: Annotated[str | None, typer.Option(help="Comma-separated metrics (default: the job's objectives).")] = None,
    as_json: JsonOption = False,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of all candidates and the front.")] = None,
    verified: Annotated[bool, typer.Option("--verified", help="The front of the verified candidates, on their standalone training's validation accuracy.")] = False,
) -> None:
    """The non-dominated candidates of a job."""
    from nas.service import get_job, job_summary, pareto_plot, pareto_rows, reference_rows

    store = open_store(db)
    metrics = [m.strip() for m in objectives.split(",")] if objectives else None
    rows = _service_call(pareto_rows, store, job_id, metrics, verified=verified)
    if plot is not None:
        _service_call(pareto_plot, store, job_id, metrics, plot)
        typer.echo(f"wrote {plot}", err=as_json)  # stdout stays one JSON document with --json
    if as_json:
        emit(rows)
        return
    summary = job_summary(store, get_job(store, job_id))
    if verified and not rows:
        stage = summary["verify"]
        print(f"job {job_id}: no verified candidates" + (f" (verified stage: {stage['state']})" if stage else " (the job has no verified stage: verify.top_k is 0 or it runs in benchmark mode)"))
        return
    print_front(rows, is_benchmark(summary), verified, summary["chance_accuracy"])
    if verified:
        print_references(_service_call(reference_rows, store, job_id))
        if summary.get("verdict"):
            print(f"verdict: {summary['verdict']['text']}")


def export(
    job_id: int,
    candidate: Annotated[int, typer.Argument(help="The candidate's number in the job (as `nas candidates` and `nas pareto` show it).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write (must not exist or be empty).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="pytorch, torchscript or onnx")] = "pytorch",
    weights: Annotated[str | None, typer.Option(help="verified (the verified stage's trained model) or inherited (from the supernet) (default: verified when the candidate was verified).")] = None,
    finetune: Annotated[int, typer.Option(min=0, help="Fine-tune the model for this many epochs on the task first, keeping its best epoch on validation.")] = 0,
    finetune_lr: Annotated[float, typer.Option(help="Peak learning rate of the fine-tune.")] = DEFAULT_FINETUNE_LR,
    keep_worse: Annotated[bool, typer.Option("--keep-worse", help="Export a fine-tuned model even if it ends below its starting validation accuracy.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export a candidate as a standalone model with its arch, preprocessing and a loader; prints
    what it wrote and its validation and test accuracy (before and after a fine-tune)."""
    from nas.service import export_candidate

    store = open_store(db)
    started = time.perf_counter()
    result = _service_call(
        export_candidate, store, job_id, candidate, fmt, out, finetune_epochs=finetune, weights=weights, finetune_lr=finetune_lr, keep_worse=keep_worse,
        progress=None if as_json else lambda line: typer.echo(line, err=True),
    )  # fmt: skip
    if as_json:
        emit(result)
    else:
        print_export(result, job_id)
        typer.echo(f"  took {time.perf_counter() - started:.0f} s", err=True)


def report(
    job_id: int,
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write (replaced if it exists).")],
    db: DbOption = None,
) -> None:
    """Write a job's dashboard page (progress, Pareto front, best-so-far curve, architecture
    choices, candidates, events) as one self-contained HTML file, plots included."""
    from nas.dashboard.report import job_report

    if out.is_dir():
        fail(f"--out: {out} is a directory; name the HTML file to write")
    if not out.parent.is_dir():
        fail(f"--out: directory {out.parent} does not exist")
    page = _service_call(job_report, open_store(db), job_id)
    partial = out.with_name(f".{out.name}.partial")  # a reader never sees half a file
    partial.write_text(page, encoding="utf-8")
    partial.replace(out)
    typer.echo(f"wrote {out} ({len(page.encode()) / 1e6:.1f} MB): open it in a browser")
