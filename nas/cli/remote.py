"""`nas remote ...`: the service on another machine, through its REST API (`nas.client`): submit,
follow, read fronts and download exports with only a URL and a token.

Exit codes as elsewhere: 2 for a request the server refused (its message on stderr), 1 for a
server that cannot be reached or that failed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from nas.cli.common import emit, fail
from nas.cli.formatting import (
    is_benchmark,
    print_cancelled,
    print_candidates,
    print_datasets,
    print_deleted,
    print_front,
    print_jobs,
    print_summary,
)
from nas.cli.jobs import JsonOption
from nas.job.formats import EXPORT_FORMATS

remote_app = typer.Typer(help="Use a `nas serve` server from this machine (its URL and a token only).", no_args_is_help=True)

UrlOption = Annotated[str, typer.Option("--url", envvar="NAS_URL", help="The server, e.g. http://nas.example:8000.")]
TokenOption = Annotated[str, typer.Option("--token", envvar="NAS_API_TOKEN", help="The server's token (or your key).")]
T = TypeVar("T")


def _call(url: str, token: str | None, operation: Callable[[Any], T]) -> T:
    """`operation(client)`, with the server's refusals and unreachable servers as clear errors."""
    import httpx

    from nas.client import Client, ClientError

    try:
        with Client(url, token) as client:
            return operation(client)
    except ValueError as exc:  # a malformed URL or a missing token
        fail(str(exc))
    except ClientError as exc:
        fail(f"{url}: {exc}", code=2 if exc.status_code < 500 else 1)
    except httpx.TransportError as exc:
        fail(f"{url}: cannot reach the server ({exc.__class__.__name__}: {exc})", code=1)


@remote_app.command("health")
def health(url: UrlOption, as_json: JsonOption = False) -> None:
    """The server's coordinators alive and its queued and running jobs (needs no token)."""
    answer = _call(url, None, lambda c: c.health())
    if as_json:
        emit(answer)
    else:
        typer.echo(f"{url}: {answer['status']}, {answer['coordinators']} coordinators alive, {answer['jobs']['queued']} jobs queued, {answer['jobs']['running']} running")


@remote_app.command("upload")
def upload(
    path: Annotated[Path, typer.Argument(help="A CSV, JSONL or NPZ task file.")],
    url: UrlOption,
    token: TokenOption,
    text_column: Annotated[str | None, typer.Option(help="csv / jsonl: the text column (default text).")] = None,
    label_column: Annotated[str | None, typer.Option(help="csv / jsonl: the label column (default label).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Upload a task file to the server; prints the dataset, whose id a spec names as task: {dataset: ID}."""
    if not path.is_file():
        fail(f"{path}: not a file; expected a CSV, JSONL or NPZ task file")
    dataset = _call(url, token, lambda c: c.upload(path, text_column, label_column))
    if as_json:
        emit(dataset)
    else:
        typer.echo(f"uploaded {path.name} as dataset {dataset['id']}; a spec names it as task: {{dataset: {dataset['id']}}}")


@remote_app.command("datasets")
def datasets(url: UrlOption, token: TokenOption, as_json: JsonOption = False) -> None:
    """The datasets uploaded to the server."""
    rows = _call(url, token, lambda c: c.datasets())
    if as_json:
        emit(rows)
    else:
        print_datasets(rows)


@remote_app.command("submit")
def submit(spec: Annotated[Path, typer.Argument(help="Job spec (YAML or JSON).")], url: UrlOption, token: TokenOption, as_json: JsonOption = False) -> None:
    """Queue a job on the server; prints its summary (and `waiting` if no coordinator runs there)."""
    if not spec.is_file():
        fail(f"{spec}: not a file; expected a YAML or JSON job spec")
    _summary(_call(url, token, lambda c: c.submit(spec)), as_json)


@remote_app.command("status")
def status(job_id: int, url: UrlOption, token: TokenOption, as_json: JsonOption = False) -> None:
    """A job's summary: status, progress, best, verified stage."""
    _summary(_call(url, token, lambda c: c.status(job_id)), as_json)


@remote_app.command("jobs")
def jobs(url: UrlOption, token: TokenOption, status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None, as_json: JsonOption = False) -> None:
    """Your jobs on the server (every job, for an admin)."""
    rows = _call(url, token, lambda c: c.jobs(status))
    if as_json:
        emit(rows)
    else:
        print_jobs(rows)


@remote_app.command("cancel")
def cancel(job_id: int, url: UrlOption, token: TokenOption, as_json: JsonOption = False) -> None:
    """Cancel a job: a queued one at once, a running one at its coordinator's next step."""
    answer = _call(url, token, lambda c: c.cancel(job_id))
    if as_json:
        emit(answer)
    else:
        print_cancelled(job_id, answer["status"], answer["cancel_requested"])


@remote_app.command("delete")
def delete(job_id: int, url: UrlOption, token: TokenOption, yes: Annotated[bool, typer.Option("--yes", help="Really delete it.")] = False, as_json: JsonOption = False) -> None:
    """Delete a job that is not running, with its candidates, events and files on the server."""
    if not yes:
        fail(f"deleting job {job_id} removes its results and files on the server; pass --yes to do it")
    deleted = _call(url, token, lambda c: c.delete(job_id))
    if as_json:
        emit(deleted)
    else:
        print_deleted(deleted)


@remote_app.command("candidates")
def candidates(job_id: int, url: UrlOption, token: TokenOption, status: Annotated[str | None, typer.Option(help="Only candidates in this status.")] = None, as_json: JsonOption = False) -> None:
    """The job's candidates in proposal order."""
    rows, summary = _call(url, token, lambda c: (c.candidates(job_id, status), c.status(job_id)))
    if as_json:
        emit(rows)
    else:
        print_candidates(rows, is_benchmark(summary))


@remote_app.command("wait")
def wait(
    job_id: int,
    url: UrlOption,
    token: TokenOption,
    timeout: Annotated[float | None, typer.Option(min=1, help="Give up after this many seconds (exit 1).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Wait until the job has finished; prints its summary; exit 1 unless it succeeded."""
    summary = _call(url, token, lambda c: _wait(c, job_id, timeout))
    _summary(summary, as_json)
    if summary["status"] != "succeeded":
        raise typer.Exit(1)


def _wait(client: Any, job_id: int, timeout: float | None) -> dict[str, Any]:
    try:
        return client.wait(job_id, timeout_s=timeout)
    except TimeoutError as exc:
        fail(str(exc), code=1)


@remote_app.command("pareto")
def pareto(
    job_id: int,
    url: UrlOption,
    token: TokenOption,
    objectives: Annotated[str | None, typer.Option(help="Comma-separated metrics (default: the job's objectives).")] = None,
    verified: Annotated[bool, typer.Option("--verified", help="The front of the verified candidates.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The job's non-dominated candidates."""
    metrics = [m.strip() for m in objectives.split(",")] if objectives else None
    rows, summary = _call(url, token, lambda c: (c.pareto(job_id, metrics, verified=verified), c.status(job_id)))
    if as_json:
        emit(rows)
    else:
        print_front(rows, is_benchmark(summary), verified, summary["chance_accuracy"])


@remote_app.command("export")
def export(
    job_id: int,
    candidate: Annotated[int, typer.Argument(help="The candidate's number in the job.")],
    url: UrlOption,
    token: TokenOption,
    out: Annotated[Path, typer.Option(help="Local directory to unpack into (must not exist or be empty).")],
    format: Annotated[str, typer.Option(help=f"One of {', '.join(EXPORT_FORMATS)}.")] = "pytorch",
    finetune: Annotated[int, typer.Option(min=0, help="Fine-tune epochs on the server first.")] = 0,
    weights: Annotated[str | None, typer.Option(help="verified or inherited (default: verified when the candidate was).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Export a candidate on the server and download it here, ready for its loader.py."""
    if format not in EXPORT_FORMATS:
        fail(f"--format: {format!r} not one of {', '.join(EXPORT_FORMATS)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        fail(f"--out: {out} exists and is not an empty directory")
    options: dict[str, Any] = {"finetune_epochs": finetune, **({"weights": weights} if weights else {})}
    if not as_json:
        typer.echo(f"exporting job {job_id}'s candidate {candidate} as {format} on the server, then downloading it …", err=True)
    directory = _call(url, token, lambda c: c.export(job_id, candidate, out, format, **options))
    files = sorted(p.name for p in directory.iterdir())
    if as_json:
        emit({"job_id": job_id, "candidate": candidate, "format": format, "out_dir": str(directory), "files": files})
    else:
        typer.echo(f"wrote {directory}: job {job_id}'s candidate {candidate} as {format} ({', '.join(files)})")
        typer.echo(f"  predict with: python {directory}/loader.py {directory} INPUT")


def _summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit(summary)
    else:
        print_summary(summary)
