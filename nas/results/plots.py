"""Plots of a job's candidates and front (PNG). matplotlib is imported when a plot is drawn."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nas.job.metrics import METRICS
from nas.store import CandidateRecord

# What the plot's axes show: label and the factor taking a stored value to the plotted unit.
_AXES: dict[str, tuple[str, float]] = {
    "accuracy": ("accuracy", 1.0),
    "params": ("parameters (millions)", 1e-6),
    "flops": ("FLOPs per example (millions)", 1e-6),
    "latency_ms": ("latency (ms per batch)", 1.0),
}


def plot_front(
    rows: Sequence[Mapping[str, Any]], all_done_candidates: Sequence[CandidateRecord], objectives: Sequence[str], path: Path
) -> Path:
    """A PNG of every done candidate (grey) and the front `rows` (highlighted, joined) on the first
    two objectives; with one objective, that metric against proposal order."""
    # A bare Figure renders with Agg and leaves pyplot's global state (and any display) alone,
    # which matters in a threaded server.
    from matplotlib.figure import Figure

    if not objectives:
        raise ValueError(f"objectives: give one or more metrics of {{{', '.join(METRICS)}}}")
    unknown = [m for m in objectives if m not in _AXES]
    if unknown:
        raise ValueError(f"objectives: {unknown[0]!r} not in {{{', '.join(METRICS)}}}")
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
