"""What a running job tells people: its events' wording and the terminal's progress bars (`nas
run`). The coordinator decides what happens; the sentences it records for it are made here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nas.job.metrics import ACCURACY, metric
from nas.job.schema import JobSpec
from nas.store import CandidateRecord


def progress_bars(show: bool) -> Progress:
    """The bars `nas run` draws (supernet steps, candidates); nothing when not `show`."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), disable=not show, transient=False)


def best_line(best: CandidateRecord | None, primary: str, benchmark: bool) -> str:
    """"best accuracy 97.2%": the candidates bar's description."""
    if best is None:
        return ""
    shown = metric(primary, benchmark)
    return f"best {shown.label} {shown.format(best.metrics[primary])}"


def health_line(health: Mapping[str, Any]) -> str:
    """The supernet health check's event (nas.training.health)."""
    verdict = "learned" if health["learned"] else "did not learn"
    return (
        f"supernet {verdict}: largest subnet {ACCURACY.format(health['largest'])}, smallest {ACCURACY.format(health['smallest'])}, "
        f"majority class {ACCURACY.format(health['majority_rate'])} (threshold {ACCURACY.format(health['threshold'])})"
    )


def placement_line(started: Sequence[tuple[int, Any]]) -> str:
    """"2 evaluators started: 2 on node …": where the evaluators that just started run."""
    counts = Counter(place(where) for _, where in started if isinstance(where, dict))
    shown = "; ".join(f"{n} on {node}" for node, n in counts.items()) or "no placement reported"
    return f"{len(started)} evaluator{'s' * (len(started) != 1)} started: {shown}"


def place(where: dict[str, str]) -> str:
    """"node 1a2b3c4d (host, cpu)": a Ray node, briefly, for people."""
    return f"node {where.get('node_id', '?')[:8]} ({where.get('host', '?')}, {where.get('device', '?')})"


def nothing_proposed(spec: JobSpec) -> str:
    limits = {k: v for k, v in spec.constraints.model_dump().items() if v is not None}
    if limits:
        shown = ", ".join(f"{k} {v:,.0f}" if v >= 1000 else f"{k} {v:g}" for k, v in limits.items())
        return f"the strategy found no architecture that meets the constraints ({shown}); raise them, or choose a preset with smaller models"
    return "the strategy proposed no architecture to evaluate"


def how_it_proposes(lag: int, evaluators: int, per_call: int, spec: JobSpec) -> str:
    """What the job's events say of how it proposes, and so what a rerun reproduces."""
    uses_latency = "latency_ms" in {o.metric for o in spec.objectives} or spec.constraints.latency_ms_max is not None
    measured = " (latency_ms is measured, so proposals that depend on it can differ)" if uses_latency else ""
    calls = f" in calls of {per_call}" if per_call > 1 else ""
    return (
        f"searching with {evaluators} evaluator{'s' * (evaluators != 1)}{calls}: each candidate is proposed knowing the results of all but the {lag - 1} "
        f"before it, so the same spec, seed and evaluator count propose the same candidates{measured}"
    )


def failure(exc: Exception) -> str:
    """'Type: message' of what failed the job; of a Ray task's error, its cause (Ray's own text
    carries the worker's traceback, which the job's error event keeps instead)."""
    cause = getattr(exc, "cause", None)
    cause = cause if isinstance(cause, BaseException) else exc
    text = str(cause).strip()
    return f"{type(cause).__name__}: {text.splitlines()[0] if text else ''}"
