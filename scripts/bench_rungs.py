"""Do a job's rungs choose better candidates for its verified stage? (issue 36)

For each seed, the digits example (examples/digits-vit.yaml) runs twice through the service's own
loop (`submit_job`, then a Coordinator on Ray, as `nas run` does): as shipped, and with a `rungs`
section (its defaults unless --rungs says otherwise). Its objectives are accuracy and params, so
that the search repeats exactly: both jobs of a seed train the same supernet and evaluate the same
candidates, and differ only in which three the verified stage trains (each to the end: no early
stops). No plain references (the family would be the same in both). Paired by seed: the verified candidates' test accuracy (best
and mean), the hypervolume of each verified front's (test accuracy, params) in one box, and each
job's minutes.

    python scripts/bench_rungs.py --seeds 0 1 2 --workdir rungs-jobs --json docs/benchmarks/rungs.json

A finished job in the work directory is read back, not rerun.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas.results.analysis import hypervolume_in_box  # noqa: E402
from nas.search.coordinator import Coordinator  # noqa: E402
from nas.service import submit_job  # noqa: E402
from nas.statuses import JobStatus  # noqa: E402
from nas.store import Store  # noqa: E402

console = Console(stderr=True)
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits-vit.yaml"


def spec_for(seed: int, rungs: dict[str, Any] | None) -> dict[str, Any]:
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec.update({
        "name": f"rungs-{'on' if rungs is not None else 'off'}-{seed}", "seed": seed,
        "objectives": [{"metric": "accuracy"}, {"metric": "params", "goal": "minimize"}],
        "budget": {"candidates": spec["budget"]["candidates"]}, "verify": {**spec["verify"], "references": 0, "early_stop": False},
    })  # fmt: skip
    if rungs is not None:
        spec["rungs"] = rungs
    return spec


def run_job(workdir: Path, seed: int, rungs: dict[str, Any] | None) -> dict[str, Any]:
    """The variant's job for `seed`, run (or read back), and what its verified stage found."""
    name = f"{'rungs' if rungs is not None else 'plain'}-{seed}"
    store = Store(f"sqlite:///{workdir / f'{name}.db'}")
    finished = [job for job in store.list_jobs() if job.status == JobStatus.SUCCEEDED]
    if finished:
        job = finished[-1]
    else:
        job = submit_job(store, spec_for(seed, rungs))
        console.log(f"{name}: running job {job.id}")
        job = Coordinator(store, jobs_dir=workdir / f"jobs-{name}", artifact_root=workdir / f"artifacts-{name}").run_next(job.id)
        if job is None or job.status != JobStatus.SUCCEEDED:
            raise RuntimeError(f"{name}: the job did not succeed: {job.error if job else 'not run'}")
    verified = []
    for v in store.verifications(job.id):
        candidate = store.get_candidate(v.candidate_id)
        verified.append({"candidate": candidate.seq, "arch_id": candidate.arch_id, "params": candidate.metrics["params"], "search_accuracy": candidate.metrics["accuracy"], "val_accuracy": v.val_accuracy, "test_accuracy": v.test_accuracy})
    scores = store.rung_scores(job.id)
    return {
        "job": name, "seed": seed, "rungs": rungs, "verified": verified,
        "rung_scores": [{"candidate": store.get_candidate(s.candidate_id).seq, "rung": s.rung, "accuracy": s.accuracy, "seconds": s.seconds} for s in scores],
        "rung_seconds": sum(s.seconds for s in scores),
        "candidates": len(store.candidates(job.id, "done")),
        "job_minutes": (job.finished_at - job.started_at).total_seconds() / 60 if job.finished_at and job.started_at else None,
    }  # fmt: skip


def paired(plain: dict[str, Any], halved: dict[str, Any], params_max: float) -> dict[str, Any]:
    """One seed's comparison: the verified fronts' hypervolume of (test accuracy, params) in one box
    (accuracy from the lower of both fronts' worst less a point to 1, params from 0 to the limit)."""
    fronts = [np.array([[v["test_accuracy"], v["params"]] for v in run["verified"]]) for run in (plain, halved)]
    low = np.array([min(f[:, 0].min() for f in fronts) - 0.01, 0.0])
    high = np.array([1.0, params_max])
    hv = [hypervolume_in_box(f, [True, False], low, high) for f in fronts]
    best = [max(v["test_accuracy"] for v in run["verified"]) for run in (plain, halved)]
    mean = [statistics.fmean(v["test_accuracy"] for v in run["verified"]) for run in (plain, halved)]
    same = {v["arch_id"] for v in plain["verified"]} & {v["arch_id"] for v in halved["verified"]}
    return {"seed": plain["seed"], "hypervolume": hv, "best_test": best, "mean_test": mean, "same_verified": len(same), "job_minutes": [plain["job_minutes"], halved["job_minutes"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rungs", type=json.loads, default={}, help='the rungs section as JSON (default {}: its defaults), e.g. \'{"eta": 2}\'')
    parser.add_argument("--workdir", type=Path, default=Path("rungs-jobs"))
    parser.add_argument("--json", type=Path, help="write the runs and the comparison here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.workdir.mkdir(parents=True, exist_ok=True)
    params_max = yaml.safe_load(EXAMPLE.read_text())["constraints"]["params_max"]
    runs, rows = [], []
    for seed in args.seeds:
        plain, halved = run_job(args.workdir, seed, None), run_job(args.workdir, seed, args.rungs)
        runs += [plain, halved]
        rows.append(paired(plain, halved, params_max))
        if args.json:
            args.json.write_text(json.dumps({"rungs": args.rungs, "runs": runs, "paired": rows}, indent=1))
    table = Table("seed", "HV without / with rungs", "best test", "mean test", "same verified", "minutes", title="Verified front without and with rungs (test split)")
    for row in rows:
        table.add_row(
            str(row["seed"]), "{:.3f} / {:.3f}".format(*row["hypervolume"]), "{:.3f} / {:.3f}".format(*row["best_test"]),
            "{:.3f} / {:.3f}".format(*row["mean_test"]), f"{row['same_verified']} of 3", "{:.1f} / {:.1f}".format(*row["job_minutes"]),
        )  # fmt: skip
    Console().print(table)


if __name__ == "__main__":
    main()
