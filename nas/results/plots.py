"""Plots of a job's candidates and front (PNG), drawn as the dashboard draws them: the primary
objective up, the next objective across (log axes for costs), the front as a step line, the
verified stage's candidates as diamonds and the plain family as squares, every axis in its
metric's unit (`nas.job.metrics`). matplotlib is imported when a plot is drawn."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nas.job.metrics import METRICS, Metric, metric

# The dashboard's colours (nas/dashboard/static/dashboard.js), so both read alike.
_CANDIDATE, _FRONT, _VERIFIED, _REFERENCE = "#9aa5b1", "#d9480f", "#1c7ed6", "#212529"


def plot_front(
    rows: Sequence[Mapping[str, Any]], candidates: Sequence[Mapping[str, Any]], objectives: Sequence[str], path: Path, *, title: str, benchmark: bool = False,
    references: Sequence[Mapping[str, Any]] = (),
) -> Path:
    """A PNG of `front_figure`."""
    fig = front_figure(rows, candidates, objectives, title=title, benchmark=benchmark, references=references)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def front_figure(
    rows: Sequence[Mapping[str, Any]], candidates: Sequence[Mapping[str, Any]], objectives: Sequence[str], *, title: str, benchmark: bool = False,
    references: Sequence[Mapping[str, Any]] = (),
) -> Any:
    """A matplotlib Figure of every done candidate (`candidates`, rows as the service gives them)
    and the front `rows`; with two or more objectives, the first (y) against the second (x), else
    the one objective against candidate number. Trained plain-family `references` (the service's
    reference rows) are drawn beside the verified candidates, on the same scale (the training with
    the job's seed)."""
    # A bare Figure renders with Agg and leaves pyplot's global state (and any display) alone,
    # which matters in a threaded server.
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    if not objectives:
        raise ValueError(f"objectives: give one or more metrics of {{{', '.join(METRICS)}}}")
    unknown = [m for m in objectives if m not in METRICS]
    if unknown:
        raise ValueError(f"objectives: {unknown[0]!r} not in {{{', '.join(METRICS)}}}")
    fig = Figure(figsize=(6.4, 4.8), dpi=120)
    ax = fig.subplots()
    y = metric(objectives[0], benchmark)
    has = [c for c in candidates if c["metrics"].get(y.name) is not None]
    if len(objectives) == 1:
        x: Metric | None = None
        points = [(c["candidate"], c["metrics"][y.name]) for c in has]
        front = sorted((row["candidate"], row["metrics"][y.name]) for row in rows)
        verified, plain = [], []
        ax.set_xlabel("candidate (proposal order)")
    else:
        x = metric(objectives[1], benchmark)
        has = [c for c in has if c["metrics"].get(x.name) is not None]
        points = [(c["metrics"][x.name], c["metrics"][y.name]) for c in has]
        front = sorted((row["metrics"][x.name], row["metrics"][y.name]) for row in rows)
        # Verified candidates at their standalone training's validation accuracy.
        verified = [(c["metrics"][x.name], c["verified"]["val_accuracy"] if y.name == "accuracy" else c["metrics"][y.name]) for c in has if c.get("verified")]
        plain = [
            (r["name"], r["metrics"][x.name], r["trained"]["val_accuracy"] if y.name == "accuracy" else r["metrics"][y.name])
            for r in references if r.get("trained") and r["metrics"].get(x.name) is not None and (y.name == "accuracy" or r["metrics"].get(y.name) is not None)
        ]  # fmt: skip
        ax.set_xlabel(x.axis_title())
        if x.log_axis:
            ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: x.format(value)))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: x.format(value)))  # a log axis labels its minor ticks too
    ax.scatter([p[0] for p in points], [p[1] for p in points], s=14, c=_CANDIDATE, alpha=0.75, label=f"candidates ({len(points)})")
    ax.step([p[0] for p in front], [p[1] for p in front], where="post", c=_FRONT, lw=1.5)
    ax.scatter([p[0] for p in front], [p[1] for p in front], marker="*", s=90, c=_FRONT, zorder=3, label=f"Pareto front ({len(front)})")
    if verified:
        ax.scatter([p[0] for p in verified], [p[1] for p in verified], marker="D", s=40, c=_VERIFIED, zorder=4, label=f"verified, trained alone ({len(verified)})")
    if plain:
        ax.scatter([p[1] for p in plain], [p[2] for p in plain], marker="s", s=50, facecolors="none", edgecolors=_REFERENCE, linewidths=1.5, zorder=4, label=f"plain family, trained alone ({len(plain)})")
        for name, px, py in plain:
            ax.annotate(name, (px, py), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7, color=_REFERENCE)
    ax.set_ylabel(y.axis_title())
    if y.log_axis:
        ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: y.format(value)))
    if y.log_axis:
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: y.format(value)))
    shown_on = f" on {', '.join(metric(m, benchmark).label for m in objectives)}; the first two drawn" if len(objectives) > 2 else ""
    ax.set_title(f"{title}{shown_on}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig
