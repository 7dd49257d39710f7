"""Numbers as a person reads them in the CLI's tables and summaries (JSON output keeps raw values)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from nas.store.statuses import CandidateStatus

_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(value: float, unit: str = "") -> str:
    """1831306 -> '1.83 M', 45.2e6 with unit 'FLOPs' -> '45.2 MFLOPs' (three significant digits)."""
    if not math.isfinite(value):
        return f"{value} {unit}".strip()
    for scale, prefix in _SI:
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".strip()


def format_metric(name: str, value: float | None, *, accuracy_is_fraction: bool = True) -> str:
    """One metric: accuracy as a percentage (benchmark scores such as GLUE are already on a
    0-100 scale and are shown as points), params and FLOPs with SI prefixes, latency in ms."""
    if value is None:
        return ""
    if name.endswith("accuracy"):
        return f"{value * 100:.2f}%" if accuracy_is_fraction else f"{value:.2f}"
    if name == "params":
        return si(value)
    if name == "flops":
        return si(value, "FLOPs")
    if name.endswith("_ms"):
        return f"{value:.2f} ms"
    if name.endswith("_s"):
        return f"{value:.2f} s"
    return f"{value:.4g}"


_LABELS = {"flops": "FLOPs", "latency_ms": "latency"}


def metric_label(name: str) -> str:
    """The metric's name in a table header or summary line (its unit is in the value)."""
    return _LABELS.get(name, name)


def format_metrics(metrics: Mapping[str, float | None], *, accuracy_is_fraction: bool = True) -> str:
    """'accuracy 86.59%, params 1.83 M, FLOPs 45.2 MFLOPs, latency 1.20 ms' in a fixed order."""
    order = ("accuracy", "params", "flops", "latency_ms")
    names = [n for n in order if n in metrics] + sorted(n for n in metrics if n not in order)
    return ", ".join(f"{metric_label(n)} {format_metric(n, metrics[n], accuracy_is_fraction=accuracy_is_fraction)}" for n in names)


def format_counts(counts: Mapping[str, int]) -> str:
    """{'proposed': 0, 'running': 2, 'done': 22, 'failed': 0} -> '22 done, 2 running, 0 failed'."""
    order = (CandidateStatus.DONE, CandidateStatus.RUNNING, CandidateStatus.PROPOSED, CandidateStatus.FAILED)
    always = (CandidateStatus.DONE, CandidateStatus.FAILED)  # shown even at 0: "24 done, 0 failed"
    shown = [n for n in order if n in counts and (counts[n] or n in always)]
    shown += sorted(n for n in counts if n not in order and counts[n])
    return ", ".join(f"{counts[n]:,} {n}" for n in shown)
