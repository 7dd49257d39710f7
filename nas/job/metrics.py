"""The metrics a job can optimise or constrain: the direction each improves in by default, its
unit, and how a person reads it. The one definition: the spec validates against it, the store has
a column per metric, and every surface (CLI tables, `--plot`, the dashboard, `nas report`, the
model card, the API's descriptions) shows a value through `Metric.format` — the dashboard through
`Metric.display()`, which it receives with the job.

A job's `accuracy` is what its task scores: a fraction of validation examples right for a trained
task (shown as a percentage), NAS-Bench-BERT's mean GLUE score in benchmark mode (already in
points on a 0–100 scale). `job_metrics` gives a job's catalogue."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

METRICS: tuple[str, ...] = ("accuracy", "params", "flops", "latency_ms")
GOALS: tuple[str, ...] = ("maximize", "minimize")

Style = Literal["percent", "points", "count", "ms", "plain"]

_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def _three_digits(value: float) -> str:
    """Three significant digits, trailing zeros kept so that a column reads evenly: 13.0, 1.50, 250."""
    return f"{value:#.3g}".rstrip(".")


def si(value: float, unit: str = "") -> str:
    """1831306 -> '1.83 M', 45.2e6 with unit 'FLOPs' -> '45.2 MFLOPs', 13e6 -> '13.0 M'."""
    if not math.isfinite(value):
        return f"{value} {unit}".strip()
    for scale, prefix in _SI:
        if abs(value) >= scale:
            return f"{_three_digits(value / scale)} {prefix}{unit}"
    return f"{_three_digits(value)} {unit}".strip()


@dataclass(frozen=True)
class Metric:
    """One metric as a job records it (`name`, the store's column) and as people read it."""

    name: str
    label: str  # in table headers and summaries: "accuracy", "GLUE score", "FLOPs"
    unit: str  # of the shown value: "%", "points", "parameters", "FLOPs", "ms"
    style: Style  # how a value is written (`format`; the dashboard's fmt() follows the same rules)
    goal: str  # the default direction
    description: str  # what the number is, for the API's schema and the dashboard's tooltips
    log_axis: bool = False  # costs span orders of magnitude: plotted on log axes
    # Values recorded beside this one that say how well it is known (its 95% interval, low and
    # high first): shown with it ("1.23 ms ±2%"), not as metrics of their own.
    details: tuple[str, ...] = ()

    def format(self, value: float | None) -> str:
        """The value as every surface shows it: '98.32%', '73.88', '1.83 M', '45.2 MFLOPs', '1.20 ms'."""
        if value is None:
            return ""
        if self.style == "percent":
            return f"{value * 100:.2f}%"
        if self.style == "points":
            return f"{value:.2f}"
        if self.style == "count":
            return si(value, "" if self.unit == "parameters" else self.unit)
        if self.style == "ms":
            return f"{value:.2f} ms"
        return f"{value:.4g}"

    def format_in(self, values: Mapping[str, Any]) -> str:
        """This metric's value among a candidate's `values`, with how well it is known when they
        hold its interval: '1.23 ms ±2%'."""
        text = self.format(values.get(self.name))
        value = values.get(self.name)
        if len(self.details) >= 2 and value and all(isinstance(values.get(k), (int, float)) for k in self.details[:2]):
            low, high = (values[k] for k in self.details[:2])
            text += f" ±{100 * max(value - low, high - value) / value:.0f}%"
        return text

    def axis_title(self) -> str:
        """A plot axis: 'accuracy (%)', 'GLUE score (points)', 'params (log scale)'."""
        return f"{self.label} (log scale)" if self.log_axis else f"{self.label} ({self.unit})" if self.unit else self.label

    def display(self) -> dict[str, Any]:
        """What the dashboard needs to show this metric as `format` does."""
        return {
            "name": self.name, "label": self.label, "unit": self.unit, "style": self.style, "axis_title": self.axis_title(), "log_axis": self.log_axis,
            "description": self.description, "details": list(self.details),
        }  # fmt: skip


ACCURACY = Metric(
    "accuracy", "accuracy", "%", "percent", "maximize",
    "validation accuracy, a fraction from 0 to 1 (shown as a percentage): with weights inherited from the supernet in the search, "
    "after standalone training where verified",
)  # fmt: skip
GLUE_SCORE = Metric(
    "accuracy", "GLUE score", "points", "points", "maximize",
    "NAS-Bench-BERT's mean GLUE score of the architecture, in points from 0 to 100, as its authors measured it after pretraining and fine-tuning",
)  # fmt: skip
PARAMS = Metric("params", "params", "parameters", "count", "minimize", "trainable parameters of the standalone model", log_axis=True)
FLOPS = Metric("flops", "FLOPs", "FLOPs", "count", "minimize", "floating-point operations of one forward pass on one example", log_axis=True)
LATENCY = Metric(
    "latency_ms", "latency", "ms", "ms", "minimize", "milliseconds per call of the exported model, as the job's latency section says (runtime, batch, threads), on the evaluator's node: the 10th percentile of the timed calls",
    details=("latency_low_ms", "latency_high_ms", "latency_median_ms", "latency_calls", "latency_machine", "latency_predicted"),
)

_TRAINED = {m.name: m for m in (ACCURACY, PARAMS, FLOPS, LATENCY)}
_BENCHMARK = {**_TRAINED, "accuracy": GLUE_SCORE}


def job_metrics(benchmark: bool) -> dict[str, Metric]:
    """The metrics of a job: a benchmark-mode job's accuracy is a GLUE score."""
    return _BENCHMARK if benchmark else _TRAINED


def metric(name: str, benchmark: bool = False) -> Metric:
    """The metric of that name (one the catalogue lacks is shown plainly, under its own name)."""
    return job_metrics(benchmark).get(name) or Metric(name, name, "", "plain", default_goal(name), name)


DETAILS = frozenset(d for m in (ACCURACY, PARAMS, FLOPS, LATENCY) for d in m.details)


def shown_metrics(names: Iterable[str]) -> list[str]:
    """The metrics among `names` in the catalogue's order, then others by name; the details of
    a metric (its interval) are shown with it, not on their own."""
    present = set(names) - DETAILS
    return [m for m in METRICS if m in present] + sorted(present - set(METRICS))


def format_metrics(values: Mapping[str, float | None], benchmark: bool = False) -> str:
    """'accuracy 86.59%, params 1.83 M, FLOPs 45.2 MFLOPs, latency 1.20 ms ±2%' in the catalogue's order."""
    return ", ".join(f"{metric(n, benchmark).label} {metric(n, benchmark).format_in(values)}" for n in shown_metrics(values))


def metrics_reference() -> str:
    """The metrics as the API's schema describes them (Markdown): what each number is, its unit."""
    lines = [f"- `{m.name}` ({m.label}, {m.unit}): {m.description}" for m in _TRAINED.values()]
    lines.insert(1, f"- `accuracy` in benchmark mode ({GLUE_SCORE.label}, {GLUE_SCORE.unit}): {GLUE_SCORE.description}")
    return "Each row's `metrics`, as the job summary's `metric_display` tells a client to show them:\n\n" + "\n".join(lines)


def default_goal(metric: str) -> str:
    """Accuracy is maximised, costs are minimised."""
    return "maximize" if metric == "accuracy" else "minimize"
