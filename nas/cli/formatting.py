"""What the CLI prints for people (`--json` prints the raw values instead). Local commands and
`nas remote` print the same answers the same way: a job summary, the jobs list, candidates, a
front, an export. Every metric is written by its `nas.job.metrics.Metric`."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from nas.export.card import latency_text
from nas.job.metrics import ACCURACY, format_metrics, metric, shown_metrics
from nas.statuses import CandidateStatus
from nas.tasks.catalog import BENCHMARK_TASK


def test_accuracy_text(figures: Mapping[str, Any]) -> str:
    """A trained model's test accuracy: the mean over its seeds with its 95% half-width
    ('97.0 ± 0.4%'), or the bare figure where the half-width is unknown."""
    if figures.get("half_width") is None:
        return ACCURACY.format(figures.get("test_accuracy"))
    return f"{100 * figures['test_accuracy']:.1f} ± {100 * figures['half_width']:.1f}%"


def format_counts(counts: Mapping[str, int]) -> str:
    """{'proposed': 0, 'running': 2, 'done': 22, 'failed': 0} -> '22 done, 2 running, 0 failed'."""
    order = (CandidateStatus.DONE, CandidateStatus.RUNNING, CandidateStatus.PROPOSED, CandidateStatus.FAILED)
    always = (CandidateStatus.DONE, CandidateStatus.FAILED)  # shown even at 0: "24 done, 0 failed"
    shown = [n for n in order if n in counts and (counts[n] or n in always)]
    shown += sorted(n for n in counts if n not in order and counts[n])
    return ", ".join(f"{counts[n]:,} {n}" for n in shown)


def _console() -> Console:
    """A terminal's width on a terminal; elsewhere (a log, a pipe) lines and tables are not wrapped."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 10_000)


def is_benchmark(summary: Mapping[str, Any]) -> bool:
    """Whether a job (its summary) replays NAS-Bench-BERT, whose accuracy is a GLUE score."""
    return summary["task"] == BENCHMARK_TASK


def _task_label(task: Any) -> str:
    if isinstance(task, dict):
        return ", ".join(f"{k} {v}" for k, v in task.items())
    return str(task)


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def print_summary(summary: Mapping[str, Any]) -> None:
    """A job as `nas status` shows it: state, counts, stage, supernet, best, verified stage."""
    console = _console()
    benchmark = is_benchmark(summary)
    console.print(f"job {summary['id']} [bold]{summary['name']}[/]: {summary['status']}" + (f" ({summary['error']})" if summary.get("error") else ""), soft_wrap=True)
    console.print(f"  {summary['space']}:{summary['preset']} on {_task_label(summary['task'])}, strategy {summary['strategy']}")
    console.print(f"  candidates: {format_counts(summary['counts'])}")
    if summary.get("waiting"):
        console.print(f"  [yellow]waiting[/]: {summary['waiting']}", soft_wrap=True)
    eta = summary.get("eta")
    if eta:
        console.print(f"  {eta['stage']} stage: " + ("estimating its end" if eta["seconds"] is None else f"ends in about {_minutes(eta['seconds'])}"))
    if summary.get("supernet"):
        health = summary["supernet"].get("health")
        message = summary["supernet"]["message"].split(";")[0] if health else summary["supernet"]["message"]  # the check has its own line
        state = summary["supernet"]["state"]
        console.print(f"  supernet: {message}" if message.startswith(state) else f"  supernet: {state} ({message})", soft_wrap=True)
        if health:
            verdict = "learned" if health["learned"] else "did not learn"
            console.print(
                f"  supernet check: {verdict}; largest subnet {ACCURACY.format(health['largest'])}, smallest {ACCURACY.format(health['smallest'])} "
                f"on validation; majority class (chance) {ACCURACY.format(health['majority_rate'])}",
                soft_wrap=True,
            )
    if summary["best"]:
        console.print(f"  best: candidate {summary['best']['candidate']}, {format_metrics(summary['best']['metrics'], benchmark)}", soft_wrap=True)
    for rung in summary.get("rungs") or []:
        best = f", best {ACCURACY.format(rung['best_accuracy'])}" if rung["best_accuracy"] is not None else ""
        failed = f", {rung['failed']} failed" if rung["failed"] else ""
        console.print(f"  rung {rung['rung']} ({rung['fidelity']}): {rung['scored']} scored{failed}{best}", soft_wrap=True)
    compute = summary.get("compute")
    if compute and compute["stages"]:
        stages = ", ".join(f"{s['stage']} {s['cpu_minutes']:.1f}{' so far' if s['running'] else ''}" for s in compute["stages"])
        budget = f" of budget.cpu_minutes {compute['budget']:g} (the verified stage apart)" if compute.get("budget") else ""
        console.print(f"  compute: {stages} CPU-minutes; {compute['cpu_minutes']:.1f} in all{budget}", soft_wrap=True)
    if summary.get("verify"):
        stage = summary["verify"]
        said = f" ({stage['message']})" if stage["message"] and stage["state"] != "done" else ""  # when done, the counts say it
        console.print(f"  verified stage: {stage['state']}, {stage['verified']} of {stage['top_k']} verified{said}", soft_wrap=True)
    if summary.get("best_verified"):
        best = summary["best_verified"]
        figures = best["verified"]
        console.print(
            f"  best verified: candidate {best['candidate']}, validation {ACCURACY.format(figures['val_accuracy'])} "
            f"(search {ACCURACY.format(figures['search_accuracy'])}), test {test_accuracy_text(figures)}, "
            f"{format_metrics({k: v for k, v in best['metrics'].items() if k != 'accuracy'})}",
            soft_wrap=True,
        )
    verdict = summary.get("verdict")
    if verdict:
        colour = "green" if verdict["beat"] else "yellow"
        console.print(f"  [{colour}]verdict[/]: {verdict['text']}", soft_wrap=True)


def print_references(rows: Sequence[Mapping[str, Any]]) -> None:
    """The job's plain-family references beside its verified front: trained the same way."""
    if not rows:
        return
    names = [m for m in _metric_columns(rows) if m != "accuracy"]
    table = Table("reference", *(metric(m).label for m in names), "test accuracy", "seeds", title="The plain family, trained as the verified candidates were")
    for column in table.columns[1:]:
        column.justify, column.no_wrap = "right", True
    for row in rows:
        trained = row["trained"]
        accuracy = test_accuracy_text(trained) if trained else "not trained"
        table.add_row(row["name"], *(metric(m).format_in(row["metrics"]) for m in names), accuracy, str(trained["seeds"]) if trained else "")
    _console().print(table)


def print_jobs(rows: Sequence[Mapping[str, Any]]) -> None:
    """The jobs list: one line per job, with its stage and best value on its primary objective."""
    table = Table("id", "name", "status", "space", "strategy", "done", "best (primary objective)")
    for row in rows:
        primary = metric(row["objectives"][0]["metric"], is_benchmark(row))
        best = row["best"]["metrics"].get(primary.name) if row["best"] else None
        shown = f"{primary.label} {primary.format(best)}" if best is not None else ""
        table.add_row(str(row["id"]), row["name"], row["status"], f"{row['space']}:{row['preset']}", row["strategy"], str(row["candidates_done"]), shown)
    _console().print(table)


def _metric_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return shown_metrics({k for row in rows for k in row["metrics"]})


def print_candidates(rows: Sequence[Mapping[str, Any]], benchmark: bool) -> None:
    """A job's candidates in proposal order, by their number in the job."""
    names = _metric_columns(rows)
    any_verified = any(row["verified"] for row in rows)
    table = Table("candidate", "status", *(metric(m, benchmark).label for m in names), *(["verified"] if any_verified else []), "arch id")
    for column in table.columns[2:-1]:
        column.justify, column.no_wrap = "right", True
    for row in rows:
        verified = row["verified"]
        shown_verified = [ACCURACY.format(verified["val_accuracy"]) if verified else ""] if any_verified else []
        table.add_row(str(row["candidate"]), row["status"], *(metric(m, benchmark).format_in(row["metrics"]) for m in names), *shown_verified, row["arch_id"])
    _console().print(table)


def print_front(rows: Sequence[Mapping[str, Any]], benchmark: bool, verified: bool = False, chance: float | None = None) -> None:
    """The front as a table. Verified candidates show their test accuracy (and, on the verified
    front, the search's)."""
    if not rows:
        return
    names = _metric_columns(rows)
    extra = ["search accuracy", "test accuracy", "seeds"] if verified else (["verified test"] if any(row.get("verified") for row in rows) else [])
    title = "Pareto front, verified (accuracy: standalone training, validation)" if verified else "Pareto front"
    table = Table("candidate", "arch id", *(metric(m, benchmark).label for m in names), *extra, title=title)
    for column in table.columns[2:]:
        column.justify, column.no_wrap = "right", True
    for row in rows:
        figures = row.get("verified") or {}
        test = test_accuracy_text(figures) if figures else "-"
        shown = [ACCURACY.format(figures.get("search_accuracy")), test, str(figures.get("seeds", 1))] if verified else ([test] if extra else [])
        table.add_row(str(row["candidate"]), row["arch_id"], *(metric(m, benchmark).format_in(row["metrics"]) for m in names), *shown)
    console = _console()
    console.print(table)
    if chance is not None:
        console.print(f"chance (always the most frequent class): {ACCURACY.format(chance)} on validation")


def print_export(result: Mapping[str, Any], job_id: int) -> None:
    """What an export wrote, how well the exported model scores, and how to use it."""
    figures = result.get("metrics") or {}
    console = _console()
    console.print(f"wrote {result['out_dir']}: job {job_id}'s candidate {result['candidate']} as {result['format']} ({', '.join(result['files'])})", soft_wrap=True)
    if figures.get("val_accuracy") is not None:
        console.print(f"  {figures.get('weights', 'its')} weights: validation {ACCURACY.format(figures['val_accuracy'])}, test {ACCURACY.format(figures.get('test_accuracy'))}")
    if figures.get("finetune_epochs"):
        console.print(
            f"  after {figures['finetune_epochs']} fine-tune epoch{'s' * (figures['finetune_epochs'] != 1)}; before: validation {ACCURACY.format(figures.get('val_accuracy_start'))}, "
            f"test {ACCURACY.format(figures.get('test_accuracy_start'))}"
        )
    if result.get("latency"):
        console.print(f"  latency: {latency_text(result['latency'])}", soft_wrap=True)
    console.print(f"  predict with: python {result['out_dir']}/loader.py {result['out_dir']} INPUT", soft_wrap=True)


def print_cancelled(job_id: int, status: str, cancel_requested: bool) -> None:
    if status == "cancelled":
        typer.echo(f"job {job_id} cancelled; its results so far are kept")
    elif cancel_requested and status in ("queued", "running"):
        typer.echo(f"job {job_id}: cancel requested; its coordinator stops it at its next step, keeping its results")
    else:
        typer.echo(f"job {job_id} is {status}; nothing to cancel")


def print_deleted(deleted: Mapping[str, Any]) -> None:
    left = f"; {deleted['files_left']} could not be removed (see the server's log)" if deleted.get("files_left") else ""
    typer.echo(f"deleted job {deleted['id']} ({deleted['name']}) and {deleted['files_removed']} of its files{left}")


def print_datasets(rows: Sequence[Mapping[str, Any]]) -> None:
    table = Table("id", "name", "format", "bytes", "train examples", "uploaded")
    for row in rows:
        table.add_row(str(row["id"]), row["name"], row["format"], f"{row['bytes']:,}", str(row.get("train_examples") or ""), str(row.get("uploaded_at") or "")[:16])
    _console().print(table)
