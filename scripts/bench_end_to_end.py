"""The end-to-end question, as a user meets it: does a job's search find models that are cheaper
to run at equal accuracy than the plain family a user would otherwise pick, on the test split?

For each task this runs a job through the service's own loop (`submit_job`, then a Coordinator on
Ray, exactly as `nas run` does), with the service's defaults except: accuracy against latency in
ONNX Runtime (1 thread, batch 1) as objectives, `verify.seeds` training seeds, and every member of
the plain family that meets the parameter limit trained beside the verified candidates. What the
job itself reports is then read back: its verdict (the iso-accuracy speedup of its cheapest
candidate that matches the most accurate plain member, with an interval), the hypervolume of
(test accuracy, latency) of its verified front against the plain family's (a bootstrap interval),
and its compute: the supernet and search against what training the family cost.

    python scripts/bench_end_to_end.py --tasks digits fashion-mnist --json docs/benchmarks/end_to_end.json
    python scripts/bench_end_to_end.py --tasks listops recall --seeds 3 --workdir e2e   # a rerun reuses finished jobs

Results are written after each task, so an interrupted run keeps the tasks it finished; a task
whose job was interrupted resumes it (what it trained is kept) once its heartbeat is stale.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas.search.coordinator import Coordinator  # noqa: E402
from nas.service import job_summary, submit_job  # noqa: E402
from nas.statuses import JobStatus  # noqa: E402
from nas.store import EventKind, Store  # noqa: E402

console = Console(stderr=True)

# The tasks, each as a job spec's task-specific part. Image tasks at a 3 M limit (three plain ViT
# members fit: 0.72 M, 1.5 M, 2.6 M); Fashion-MNIST and the text tasks on training subsets so that
# a 2-core machine runs each job in well under an hour.
TASKS: dict[str, dict[str, Any]] = {
    "digits": {"space": "vit-resnas", "task": "digits", "constraints": {"params_max": 3_000_000}},
    "fashion-mnist": {"space": "vit-resnas", "task": "fashion-mnist", "constraints": {"params_max": 3_000_000}, "supernet": {"max_train": 2000}},
    "rotten-tomatoes": {
        "space": "flexibert", "preset": "nas-bench-bert", "task": "rotten-tomatoes",
        "supernet": {"max_train": 4000, "archs_per_step": 1, "batch_size": 64, "lr": 1e-3, "warmup_epochs": 0},
    },
    # As examples/listops-flexibert.yaml: expressions of 16 to 48 tokens, 3 deep at most.
    "listops": {
        "space": "flexibert", "preset": "nas-bench-bert", "task": {"generate": "listops", "examples": 4000, "min_length": 16, "max_length": 48, "max_depth": 3},
        "supernet": {"epochs": 6, "archs_per_step": 1, "batch_size": 64, "lr": 1e-3, "warmup_epochs": 0},
    },
    "recall": {
        "space": "flexibert", "preset": "nas-bench-bert", "task": {"generate": "recall", "examples": 4000},
        "supernet": {"epochs": 6, "archs_per_step": 1, "batch_size": 64, "lr": 1e-3, "warmup_epochs": 0},
    },
}  # fmt: skip


def spec_for(task: str, candidates: int, seeds: int, seed: int) -> dict[str, Any]:
    return {
        "name": f"e2e-{task}", **TASKS[task], "seed": seed,
        "objectives": [{"metric": "accuracy"}, {"metric": "latency_ms"}],
        "budget": {"candidates": candidates},
        "latency": {"runtime": "onnxruntime", "batch_size": 1, "threads": 1},
        "verify": {"top_k": 3, "references": 5, "seeds": seeds},
    }  # fmt: skip


def run_task(task: str, workdir: Path, candidates: int, seeds: int, seed: int) -> dict[str, Any]:
    """The task's job, run (or read back when a finished one is in the work directory's store)."""
    store = Store(f"sqlite:///{workdir / f'{task}.db'}")
    finished = [job for job in store.list_jobs() if job.status == JobStatus.SUCCEEDED]
    started = time.perf_counter()
    if finished:
        job = finished[-1]
        console.log(f"{task}: job {job.id} finished before; reading it back")
    else:
        # A job a killed run left unfinished resumes where it was (its heartbeat has gone stale).
        unfinished = [job for job in store.list_jobs() if job.status in (JobStatus.QUEUED, JobStatus.RUNNING)]
        job = unfinished[-1] if unfinished else submit_job(store, spec_for(task, candidates, seeds, seed))
        if unfinished:
            console.log(f"{task}: resuming job {job.id}, left {job.status} by an earlier run")
        job = Coordinator(store, jobs_dir=workdir / "jobs").run_next(job.id)
        if job is None or job.status != JobStatus.SUCCEEDED:
            raise RuntimeError(f"{task}: the job did not succeed: {job.error if job else 'not run'}")
    summary = job_summary(store, job)
    events = {e.kind: e for e in store.events(job.id)}  # the latest of each kind
    first = {}
    for e in store.events(job.id):
        first.setdefault(e.kind, e)
    supernet_s = (events[EventKind.SUPERNET_TRAINED].at - first[EventKind.SUPERNET_STARTED].at).total_seconds()
    search_s = (first[EventKind.REFERENCES_SCORED].at - events[EventKind.SUPERNET_TRAINED].at).total_seconds()
    trainings = store.trainings(job.id)
    verdict = summary["verdict"] or {}
    top = (verdict.get("comparisons") or [{}])[0]
    return {
        "task": task, "job": job.id, "spec": job.spec, "verdict": verdict, "references": [r.name for r in store.references(job.id)],
        "iso_accuracy_speedup": top.get("ratio"), "speedup_low": top.get("ratio_low"), "speedup_high": top.get("ratio_high"),
        "matched_reference": top.get("reference"), "matching_candidate": top.get("candidate"),
        "hypervolume": verdict.get("hypervolume"),
        "supernet_minutes": supernet_s / 60, "search_minutes": search_s / 60,
        "family_training_minutes": sum(t.seconds for t in trainings if t.reference_id is not None) / 60,
        "candidate_training_minutes": sum(t.seconds for t in trainings if t.candidate_id is not None) / 60,
        "job_minutes": (job.finished_at - job.started_at).total_seconds() / 60 if job.finished_at and job.started_at else None,
        "wall_minutes_this_run": (time.perf_counter() - started) / 60,
    }  # fmt: skip


def table(rows: list[dict[str, Any]]) -> Table:
    out = Table("task", "iso-accuracy speedup", "at", "HV ratio (verified / plain)", "beat", "search min", "family training min", title="Verified front against the plain family (test split)")
    for row in rows:
        hv = row["hypervolume"] or {}
        speedup = f"{row['iso_accuracy_speedup']:.2f}× ({row['speedup_low']:.2f}–{row['speedup_high']:.2f})" if row["iso_accuracy_speedup"] else "no match"
        at = f"{row['matched_reference']} ← {row['matching_candidate']}" if row["matching_candidate"] else row["matched_reference"] or ""
        high = f"{hv['high']:.2f}" if hv and hv.get("high") is not None else "∞"  # no upper bound: a draw where the plain front dominated nothing
        ratio = f"{hv['ratio']:.2f} ({hv['low']:.2f}–{high})" if hv else ""
        out.add_row(
            row["task"], speedup, at, ratio, str(row["verdict"].get("beat")), f"{row['supernet_minutes'] + row['search_minutes']:.1f}", f"{row['family_training_minutes']:.1f}",
        )  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--candidates", type=int, default=24)
    parser.add_argument("--seeds", type=int, default=3, help="verify.seeds: trainings of every verified model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path("e2e-jobs"), help="Stores and job files; a finished job here is read back, not rerun.")
    parser.add_argument("--json", type=Path, help="Write the rows here (after each task).")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for task in args.tasks:
        console.log(f"{task}: running its job")
        rows.append(run_task(task, args.workdir, args.candidates, args.seeds, args.seed))
        console.log(f"{task}: {rows[-1]['verdict'].get('text')}")
        if args.json:
            args.json.write_text(json.dumps({"candidates": args.candidates, "seeds": args.seeds, "rows": rows}, indent=1, default=str))
    Console().print(table(rows))


if __name__ == "__main__":
    main()
