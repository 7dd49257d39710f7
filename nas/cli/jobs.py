"""`nas run | submit | jobs | status | cancel | delete | coordinator | serve | pareto | export`: the search
service on the command line. Every command takes `--db URL` (or $NAS_DB_URL; default a SQLite
file in the data directory)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from collections.abc import Callable
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from nas.cli.common import emit, fail
from nas.store.statuses import JobStatus
from nas.tasks.catalog import BENCHMARK_TASK
from nas.export.formats import DEFAULT_FINETUNE_LR
from nas.cli.formatting import format_counts, format_metric, format_metrics, metric_label

logger = logging.getLogger(__name__)

T = TypeVar("T")
DbOption = Annotated[str | None, typer.Option("--db", envvar="NAS_DB_URL", help="Database URL (default: SQLite in the data directory).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
RayOption = Annotated[str | None, typer.Option("--ray-address", envvar="RAY_ADDRESS", help="An existing Ray cluster (default: start a local one).")]
RayCpusOption = Annotated[
    int | None,
    typer.Option("--ray-cpus", envvar="NAS_RAY_CPUS", min=1, help="CPUs the local Ray cluster may use, to share a machine [default: all of them]; not with --ray-address."),
]
ArtifactOption = Annotated[
    str | None,
    typer.Option("--artifact-root", envvar="NAS_ARTIFACT_ROOT", help="Where checkpoints and weights go: a directory, or an fsspec URI every node reaches (s3://…, file:///mnt/nfs/…) [default: <data directory>/artifacts]."),
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
    from nas.artifacts import ArtifactRoot

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
    progress: Annotated[bool, typer.Option(help="Progress bars on stderr.")] = True,
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
    coordinator = Coordinator(store, ray_address=ray_address, ray_cpus=ray_cpus, artifact_root=root, show_progress=progress and sys.stderr.isatty())
    try:
        finished = coordinator.run_next(job.id)
    except KeyboardInterrupt:
        _interrupted(store, job.id, coordinator.worker)
    summary = job_summary(store, finished or store.get_job(job.id))
    front = pareto_rows(store, job.id) if summary["candidates_done"] else []
    if as_json:
        emit({**summary, "job_id": job.id, "pareto": front})
    else:
        _print_summary(summary)
        _print_front(front, summary["task"] == BENCHMARK_TASK)
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


def submit(spec: Annotated[Path, typer.Argument(help="Job spec (YAML or JSON).")], db: DbOption = None) -> None:
    """Queue a job for a coordinator (`nas coordinator`); prints its id."""
    from nas.service import submit_job

    job = _service_call(submit_job, open_store(db), spec)
    emit({"job_id": job.id, "name": job.name, "status": job.status})


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
    table = Table("id", "name", "status", "space", "strategy", "done", "best (primary objective)")
    for row in rows:
        best = row["best"]["metrics"].get(row["objectives"][0]["metric"]) if row["best"] else None
        primary = row["objectives"][0]["metric"]
        shown = format_metric(primary, best, accuracy_is_fraction=row["task"] != BENCHMARK_TASK)
        table.add_row(str(row["id"]), row["name"], row["status"], f"{row['space']}:{row['preset']}", row["strategy"], str(row["candidates_done"]), shown)
    Console().print(table)


def status(job_id: int, db: DbOption = None, as_json: JsonOption = False) -> None:
    """A job's state, counts and best candidate."""
    from nas.service import get_job, job_summary

    store = open_store(db)
    summary = job_summary(store, _service_call(get_job, store, job_id))
    if as_json:
        emit(summary)
    else:
        _print_summary(summary)


def cancel(job_id: int, db: DbOption = None) -> None:
    """Cancel a job: a queued one at once, a running one at its coordinator's next step. Finished
    results stay."""
    from nas.service import cancel_job

    job = _service_call(cancel_job, open_store(db), job_id)
    emit({"job_id": job.id, "status": job.status, "cancel_requested": job.cancel_requested})


def delete(
    job_id: int,
    db: DbOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
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
    emit(_service_call(delete_job, store, job_id))


def candidates(
    job_id: int,
    db: DbOption = None,
    status: Annotated[str | None, typer.Option(help="Only candidates in this status: proposed, running, done or failed.")] = None,
    output: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """A job's candidates in proposal order: metrics, verified accuracies, status, errors."""
    from nas.service import candidate_rows, candidates_csv

    formats = ("table", "json", "csv")
    if output not in formats:
        fail(f"--format: {output!r} not one of {', '.join(formats)}")
    rows = _service_call(candidate_rows, open_store(db), job_id, status)
    if output == "json":
        emit(rows)
    elif output == "csv":
        sys.stdout.write(candidates_csv(rows))
    else:
        table = Table("id", "status", "accuracy", "params", "verified", "arch id")
        for row in rows:
            verified = row["verified"]
            table.add_row(
                str(row["candidate_id"]), row["status"], format_metric("accuracy", row["metrics"].get("accuracy")), format_metric("params", row["metrics"].get("params")),
                format_metric("accuracy", verified["val_accuracy"]) if verified else "", row["arch_id"][:12],
            )  # fmt: skip
        Console().print(table)


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
        emit({"job_id": finished.id, "status": finished.status} if finished else {"job_id": None, "status": "nothing to run"})
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
    export_root: Annotated[str | None, typer.Option(help="Where exports are written: a directory or an fsspec URI [default: <artifact root>/exports].")] = None,
    data_root: Annotated[Path | None, typer.Option(help="The only directory job specs may read task files from [default: <data directory>/data].")] = None,
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
        from nas.artifacts import ArtifactRoot

        try:
            export_root = ArtifactRoot(export_root).check().location
        except ValueError as exc:
            fail(f"--export-root: {exc}")
    store = open_store(db)  # migrations and a clear error before the server starts
    if not token and not store.has_users():
        fail("--token: required (or set NAS_API_TOKEN), or add users first (nas users add NAME --admin); requests must send 'Authorization: Bearer <token or key>'")
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
    from nas.service import get_job, job_spec, job_summary, pareto_plot, pareto_rows

    store = open_store(db)
    metrics = [m.strip() for m in objectives.split(",")] if objectives else None
    rows = _service_call(pareto_rows, store, job_id, metrics, verified=verified)
    if plot is not None:
        _service_call(pareto_plot, store, job_id, metrics, plot)
    if as_json:
        emit(rows)
        return
    summary = job_summary(store, get_job(store, job_id))
    if verified and not rows:
        stage = summary["verify"]
        print(f"job {job_id}: no verified candidates" + (f" (verified stage: {stage['state']})" if stage else " (the job has no verified stage: verify.top_k is 0 or it runs in benchmark mode)"))
        return
    _print_front(rows, job_spec(get_job(store, job_id)).is_benchmark, verified, summary["chance_accuracy"])


def export(
    job_id: int,
    candidate_id: int,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write (must not exist or be empty).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="pytorch, torchscript or onnx")] = "pytorch",
    weights: Annotated[str | None, typer.Option(help="verified (the verified stage's trained model) or inherited (from the supernet) [default: verified when the candidate was verified].")] = None,
    finetune: Annotated[int, typer.Option(min=0, help="Fine-tune the model for this many epochs on the task first, keeping its best epoch on validation.")] = 0,
    finetune_lr: Annotated[float, typer.Option(help="Peak learning rate of the fine-tune.")] = DEFAULT_FINETUNE_LR,
    keep_worse: Annotated[bool, typer.Option("--keep-worse", help="Export a fine-tuned model even if it ends below its starting validation accuracy.")] = False,
    db: DbOption = None,
) -> None:
    """Export a candidate as a standalone model with its arch, preprocessing and a loader; prints
    its validation and test accuracy (before and after a fine-tune)."""
    from nas.service import export_candidate

    emit(_service_call(export_candidate, open_store(db), job_id, candidate_id, fmt, out, finetune_epochs=finetune, weights=weights, finetune_lr=finetune_lr, keep_worse=keep_worse))


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


def _task_label(task: Any) -> str:
    if isinstance(task, dict):
        return ", ".join(f"{k} {v}" for k, v in task.items())
    return str(task)


def _print_summary(summary: dict[str, Any]) -> None:
    console = Console(highlight=False)
    fraction = summary["task"] != BENCHMARK_TASK
    console.print(f"job {summary['id']} [bold]{summary['name']}[/]: {summary['status']}" + (f" ({summary['error']})" if summary.get("error") else ""), soft_wrap=True)
    console.print(f"  {summary['space']}:{summary['preset']} on {_task_label(summary['task'])}, strategy {summary['strategy']}")
    console.print(f"  candidates: {format_counts(summary['counts'])}")
    if summary.get("waiting"):
        console.print(f"  [yellow]waiting[/]: {summary['waiting']}", soft_wrap=True)
    eta = summary.get("eta")
    if eta:
        console.print(f"  {eta['stage']} stage: " + ("estimating its end" if eta["seconds"] is None else f"ends in about {_minutes(eta['seconds'])}"))
    if summary.get("supernet"):
        console.print(f"  supernet: {summary['supernet']['state']} ({summary['supernet']['message']})")
        health = summary["supernet"].get("health")
        if health:
            verdict = "learned" if health["learned"] else "did not learn"
            console.print(
                f"  supernet check: {verdict}; largest subnet {health['largest']:.1%}, smallest {health['smallest']:.1%} on validation; "
                f"majority class (chance) {health['majority_rate']:.1%}",
                soft_wrap=True,
            )
    if summary["best"]:
        console.print(f"  best: candidate {summary['best']['candidate_id']}, {format_metrics(summary['best']['metrics'], accuracy_is_fraction=fraction)}", soft_wrap=True)
    if summary.get("verify"):
        stage = summary["verify"]
        console.print(f"  verified stage: {stage['state']}, {stage['verified']} of the top {stage['top_k']} verified" + (f" ({stage['message']})" if stage["message"] else ""), soft_wrap=True)
    if summary.get("best_verified"):
        best = summary["best_verified"]
        figures = best["verified"]
        console.print(
            f"  best verified: candidate {best['candidate_id']}, validation {figures['val_accuracy']:.1%} (search {figures['search_accuracy']:.1%}), "
            f"test {figures['test_accuracy']:.1%}, {format_metrics({k: v for k, v in best['metrics'].items() if k != 'accuracy'})}",
            soft_wrap=True,
        )


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _print_front(rows: list[dict[str, Any]], benchmark: bool, verified: bool = False, chance: float | None = None) -> None:
    """The front as a table. Benchmark mode scores GLUE points (0-100), trained tasks a fraction.
    Verified candidates show their test accuracy (and, on the verified front, the search's)."""
    if not rows:
        return
    fraction = not benchmark
    order = ("accuracy", "params", "flops", "latency_ms")
    present = {k for row in rows for k in row["metrics"]}
    metrics = [m for m in order if m in present] + sorted(present - set(order))
    extra = ["search accuracy", "test accuracy"] if verified else (["verified test"] if any(row.get("verified") for row in rows) else [])
    title = "Pareto front, verified (accuracy: standalone training, validation)" if verified else "Pareto front"
    table = Table("candidate", "arch id", *map(metric_label, metrics), *extra, title=title)
    for column in table.columns[2:]:
        column.justify = "right"
    for row in rows:
        figures = row.get("verified") or {}
        shown = [figures.get("search_accuracy"), figures.get("test_accuracy")] if verified else ([figures.get("test_accuracy")] if extra else [])
        table.add_row(
            str(row["candidate_id"]), row["arch_id"], *(format_metric(m, row["metrics"].get(m), accuracy_is_fraction=fraction) for m in metrics),
            *(format_metric("accuracy", value, accuracy_is_fraction=True) if value is not None else "-" for value in shown),
        )  # fmt: skip
    console = Console()
    console.print(table)
    if chance is not None:
        console.print(f"chance (always the most frequent class): {chance:.1%} on validation")
