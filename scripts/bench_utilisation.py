"""Evaluator-actor utilisation of the service's own loop: jobs submitted to a store and run by the
Coordinator (`nas run`'s path, defaults but for the budget), with W evaluator actors sharing the
machine's CPUs as fractions (`resources.evaluator.cpus` = CPUs / W), with proposals asked ahead
(the default) and, as the baseline, asked only when an actor is idle; or (`--baseline stagger`)
with the actors' starts staggered (the default: no more starting at a time than the cluster has
CPUs) against all starting at once.

    python scripts/bench_utilisation.py                       # benchmark mode and digits, W = 1 2 4 8
    python scripts/bench_utilisation.py --modes benchmark --workers 1 8 --budget 200 --json
    python scripts/bench_utilisation.py --modes benchmark --workers 8 --baseline stagger --json

Utilisation = the actors' busy time (each evaluation's seconds inside its actor) / (W x the wall
time from the first dispatch to the last result); once all up: the same from the moment the last
actor finished starting, which leaves out the actors' ramp-up. Start-up = from the job's claim (benchmark
mode) or the supernet's end (digits) to its first dispatched candidate; to last result: the same
start to the job's last result (what a user waits). On a machine with fewer
cores than W, fractional actors share cores: the figure says whether the coordinator keeps W
actors fed, not how fast W cores would evaluate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas.search.coordinator import Coordinator  # noqa: E402
from nas.service import submit_job  # noqa: E402
from nas.store import Store  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = {"benchmark": "nas-bench-bert.yaml", "digits": "digits-vit.yaml"}


def run_one(mode: str, workers: int, budget: int, ask_ahead: bool, stagger: bool, checkpoint: str | None, root: Path) -> dict:
    spec = yaml.safe_load((REPO / "examples" / EXAMPLES[mode]).read_text())
    cpus = os.cpu_count() or 1
    spec.update({"budget": {"candidates": budget}, "workers": workers, "resources": {"evaluator": {"cpus": round(min(1.0, cpus / workers), 3)}}})
    if mode != "benchmark":  # benchmark mode trains nothing, so has no verified stage
        spec["verify"] = {"top_k": 0}
    store = Store(f"sqlite:///{root / f'{mode}-{workers}-{ask_ahead}-{stagger}.db'}")
    job = submit_job(store, spec)
    if checkpoint is not None:  # the same trained supernet for every digits run: only the search differs
        store.add_artifact(job.id, "supernet_checkpoint", checkpoint, {"space": spec["space"], "health": {}})
    coordinator = Coordinator(store, jobs_dir=root / "jobs", artifact_root=root / "artifacts")
    coordinator.ask_ahead, coordinator.stagger_starts = ask_ahead, stagger
    finished = coordinator.run_next(job.id)
    done = [c for c in store.candidates(job.id, "done")]
    started = min(c.started_at for c in done)
    wall = (max(c.finished_at for c in done) - started).total_seconds()
    busy = sum(c.eval_seconds or 0.0 for c in done)
    events = store.events(job.id)
    ready = next((e.at for e in events if e.kind == "supernet_health"), None) or finished.started_at
    all_up = max(e.at for e in events if e.kind == "evaluators_started")
    return {
        "mode": mode, "workers": workers, "ask_ahead": ask_ahead, "stagger_starts": stagger, "status": finished.status, "evaluated": len(done),
        "wall_s": round(wall, 2), "busy_s": round(busy, 2), "utilisation": round(busy / (workers * wall), 3) if wall > 0 else None,
        "utilisation_all_up": steady_utilisation(done, workers, all_up),
        "startup_s": round((started - ready).total_seconds(), 2), "to_last_result_s": round((max(c.finished_at for c in done) - ready).total_seconds(), 2), "evals_per_s": round(len(done) / wall, 2) if wall > 0 else None,
    }  # fmt: skip


def steady_utilisation(done: list, workers: int, since: datetime) -> float | None:
    """Utilisation once every actor is up: each evaluation's time inside its actor, taken as the
    span ending at its commit, counted where it falls after `since`, over W x (last commit - since)."""
    end = max(c.finished_at for c in done)
    window = (end - since).total_seconds()
    if window <= 0:
        return None
    busy = 0.0
    for c in done:
        began = c.finished_at - timedelta(seconds=c.eval_seconds or 0.0)
        busy += max(0.0, (c.finished_at - max(began, since)).total_seconds())
    return round(busy / (workers * window), 3)


def train_digits_supernet(root: Path) -> str:
    """One digits job's supernet (the example's settings), reused by every digits run."""
    spec = yaml.safe_load((REPO / "examples" / "digits-vit.yaml").read_text())
    spec.update({"budget": {"candidates": 1}, "verify": {"top_k": 0}})
    store = Store(f"sqlite:///{root / 'supernet.db'}")
    job = submit_job(store, spec)
    Coordinator(store, jobs_dir=root / "jobs", artifact_root=root / "artifacts").run_next(job.id)
    return store.artifacts(job.id, "supernet_checkpoint")[0].path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", nargs="+", default=["benchmark", "digits"], choices=sorted(EXAMPLES))
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2, 4, 8])
    parser.add_argument("--budget", type=int, default=120)
    parser.add_argument("--baseline", choices=["ask", "stagger"], default="ask", help="what the baseline turns off: asking ahead, or staggering the actors' starts")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-utilisation-") as scratch:
        root = Path(scratch)
        checkpoint = train_digits_supernet(root) if "digits" in args.modes else None
        for mode in args.modes:
            for workers in args.workers:
                for ask_ahead, stagger in ((True, True), (False, True) if args.baseline == "ask" else (True, False)):
                    row = run_one(mode, workers, args.budget, ask_ahead, stagger, checkpoint if mode == "digits" else None, root)
                    rows.append(row)
                    print(json.dumps(row) if args.json else "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)


if __name__ == "__main__":
    main()
