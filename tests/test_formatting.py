"""What the CLI prints for people: percentages, SI prefixes, milliseconds, counts in words."""

from __future__ import annotations

import math

import pytest

from nas.cli.formatting import format_counts, format_metric, format_metrics, si


@pytest.mark.parametrize(
    "value, unit, expected",
    [(1831306, "", "1.83 M"), (45.2e6, "FLOPs", "45.2 MFLOPs"), (1.43e9, "FLOPs", "1.43 GFLOPs"), (999, "", "999"), (12_500, "", "12.5 k"), (0.5, "", "0.5"), (-2e6, "", "-2 M")],
)
def test_si_prefixes(value, unit, expected):
    assert si(value, unit) == expected


def test_metrics_read_as_a_person_reads_them():
    assert format_metric("accuracy", 0.8659217877094972) == "86.59%"
    assert format_metric("accuracy", 74.50625, accuracy_is_fraction=False) == "74.51"  # GLUE points
    assert format_metric("params", 1831306.0) == "1.83 M"
    assert format_metric("flops", 45_200_000.0) == "45.2 MFLOPs"
    assert format_metric("latency_ms", 3.8912) == "3.89 ms"
    assert format_metric("accuracy", None) == ""
    assert format_metric("params", math.inf) == "inf"
    line = format_metrics({"latency_ms": 1.2, "params": 1831306.0, "accuracy": 0.5, "flops": 2e6})
    assert line == "accuracy 50.00%, params 1.83 M, FLOPs 2 MFLOPs, latency 1.20 ms"


def test_counts_in_words():
    assert format_counts({"proposed": 0, "running": 0, "done": 24, "failed": 0}) == "24 done, 0 failed"
    assert format_counts({"proposed": 1, "running": 2, "done": 1500, "failed": 3}) == "1,500 done, 2 running, 1 proposed, 3 failed"
