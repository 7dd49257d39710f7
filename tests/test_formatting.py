"""How people read numbers: each metric in its unit (percentages, GLUE points, SI prefixes,
milliseconds), counts in words."""

from __future__ import annotations

import math

import pytest

from nas.cli.formatting import format_counts
from nas.job.metrics import format_metrics, metric, si


@pytest.mark.parametrize(
    "value, unit, expected",
    [(1831306, "", "1.83 M"), (45.2e6, "FLOPs", "45.2 MFLOPs"), (1.43e9, "FLOPs", "1.43 GFLOPs"), (999, "", "999"), (12_500, "", "12.5 k"), (0.5, "", "0.500"), (-2e6, "", "-2.00 M"),
     (13e6, "", "13.0 M"), (1.5e6, "", "1.50 M"), (250e6, "FLOPs", "250 MFLOPs")],
)
def test_si_prefixes(value, unit, expected):
    assert si(value, unit) == expected


def test_metrics_read_as_a_person_reads_them():
    assert metric("accuracy").format(0.8659217877094972) == "86.59%"
    glue = metric("accuracy", benchmark=True)  # NAS-Bench-BERT's scores are GLUE points already
    assert (glue.label, glue.format(74.50625), glue.axis_title()) == ("GLUE score", "74.51", "GLUE score (points)")
    assert metric("params").format(1831306.0) == "1.83 M" and metric("params").axis_title() == "params (log scale)"
    assert metric("flops").format(45_200_000.0) == "45.2 MFLOPs"
    assert metric("latency_ms").format(3.8912) == "3.89 ms" and metric("latency_ms").axis_title() == "latency (ms)"
    assert metric("accuracy").format(None) == ""
    assert metric("params").format(math.inf) == "inf"
    assert metric("eval_seconds").format(1.23456) == "1.235"  # not in the catalogue: plain
    line = format_metrics({"latency_ms": 1.2, "params": 1831306.0, "accuracy": 0.5, "flops": 2e6})
    assert line == "accuracy 50.00%, params 1.83 M, FLOPs 2.00 MFLOPs, latency 1.20 ms"  # a column reads evenly
    assert format_metrics({"accuracy": 73.875, "params": 4.34e6}, benchmark=True) == "GLUE score 73.88, params 4.34 M"


def test_counts_in_words():
    assert format_counts({"proposed": 0, "running": 0, "done": 24, "failed": 0}) == "24 done, 0 failed"
    assert format_counts({"proposed": 1, "running": 2, "done": 1500, "failed": 3}) == "1,500 done, 2 running, 1 proposed, 3 failed"


@pytest.mark.parametrize("benchmark", [True, False], ids=["glue-score", "accuracy"])
def test_one_jobs_metrics_read_the_same_on_every_surface(tmp_path, benchmark):
    """A job's best candidate through the CLI (status, candidates, pareto), the `--plot` figure,
    the API's summary (what the dashboard formats with) and `nas report`: one label and one
    written value per metric."""
    import json
    import re

    from nas import service
    from nas.dashboard.report import job_report
    from nas.job.metrics import job_metrics
    from nas.results.plots import front_figure
    from nas.store import Store
    from tests.helpers import BENCH_SPEC, DIGITS_SPEC, cli

    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = service.submit_job(store, BENCH_SPEC if benchmark else DIGITS_SPEC)
    accuracy = 73.875 if benchmark else 0.98321
    values = [{"accuracy": accuracy, "params": 1_831_306.0, "flops": 1.37e9}, {"accuracy": accuracy * 0.9, "params": 912_000.0, "flops": 2.05e9}]
    for i, metrics in enumerate(values):
        (record,) = store.add_candidates(job.id, [(f"arch-{i}", {"i": i})])
        store.start_candidate(record.id, "test")
        store.record_result(record.id, metrics)
    catalogue = job_metrics(benchmark)
    shown = {name: (catalogue[name].label, catalogue[name].format(values[0][name])) for name in ("accuracy", "params", "flops")}
    assert shown["accuracy"] == (("GLUE score", "73.88") if benchmark else ("accuracy", "98.32%"))
    assert shown["params"] == ("params", "1.83 M") and shown["flops"] == ("FLOPs", "1.37 GFLOPs")

    db = ["--db", store.url]
    status = cli("status", str(job.id), *db).stdout
    assert ", ".join(f"{label} {text}" for label, text in shown.values()) in status, status
    for command in (["candidates", str(job.id)], ["pareto", str(job.id)]):
        table = cli(*command, *db).stdout
        assert all(label in table and text in table for label, text in shown.values()), table
    summary = service.job_summary(store, store.get_job(job.id))  # GET /jobs/{id}: the dashboard formats with it
    assert summary["metric_display"] == {name: m.display() for name, m in catalogue.items()}
    assert summary["metric_display"]["accuracy"]["style"] == ("points" if benchmark else "percent")

    rows = service.pareto_rows(store, job.id)
    figure = front_figure(rows, service.candidate_rows(store, job.id, "done"), ["accuracy", "params"], title="t", benchmark=benchmark)
    (ax,) = figure.axes
    assert (ax.get_ylabel(), ax.get_xlabel(), ax.get_xscale()) == (catalogue["accuracy"].axis_title(), "params (log scale)", "log")
    assert ax.yaxis.get_major_formatter()(accuracy, 0) == shown["accuracy"][1] and ax.xaxis.get_major_formatter()(1_831_306.0, 0) == "1.83 M"

    from fastapi.testclient import TestClient

    from nas.api import create_app

    schema = TestClient(create_app(store, "token", tmp_path / "exports", tmp_path / "data")).get("/openapi.json").json()
    for route in ("/jobs/{job_id}/candidates", "/jobs/{job_id}/pareto"):  # the API's schema says what each number is
        described = schema["paths"][route]["get"]["description"]
        assert all(m.description in described and f"({m.label}, {m.unit})" in described for m in catalogue.values()), described

    page = job_report(store, job.id)  # the report is the dashboard page with the job's data inside
    boot = json.loads(re.search(r'<script id="boot" type="application/json">(.*?)</script>', page, re.DOTALL).group(1))
    assert boot["embedded"]["job"]["metric_display"] == summary["metric_display"]
