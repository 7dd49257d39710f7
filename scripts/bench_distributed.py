"""Data-parallel supernet training (`supernet.workers`) against one process, on the service's own
code path: the supernet task a job runs (`nas.search.supernet_task.train_supernet`, as a Ray task
of no CPUs driving Ray Train's workers), for an example spec with only `supernet.workers` changed.

    python scripts/bench_distributed.py                        # digits example, 1 vs 2 workers
    python scripts/bench_distributed.py --workers 1 2 4 --cpus-per-worker 0.5 --json

Reports each run's wall time, its loss curve (the mean loss of each epoch, from the checkpoint)
and the health check. Times are for this machine's cores: with W workers of C CPUs each, a run
needs W x C free cores for its time to mean what it would on a cluster.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas.artifacts import JobFiles  # noqa: E402
from nas.job.parse import parse_spec  # noqa: E402
from nas.search.cluster import init_ray  # noqa: E402
from nas.search.supernet_task import train_supernet  # noqa: E402
from nas.training.checkpoint import META_FILE  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def run_one(example: str, workers: int, cpus: float, epochs: int | None, root: Path) -> dict:
    import ray

    data = yaml.safe_load((REPO / "examples" / example).read_text())
    data["supernet"] = {**data.get("supernet", {}), "workers": workers, **({"epochs": epochs} if epochs else {})}
    data["resources"] = {"supernet": {"cpus": cpus}}
    spec = parse_spec(data, base_dir=REPO / "examples")
    location = root / f"workers-{workers}"
    began = time.perf_counter()
    driver = {"num_cpus": 0} if workers > 1 else {"num_cpus": cpus}  # as the coordinator places it
    _, health, where = ray.get(ray.remote(max_retries=0, **driver)(train_supernet).remote(spec, str(location), JobFiles()))
    seconds = time.perf_counter() - began
    progress = json.loads((location / META_FILE).read_text())["progress"]
    return {"workers": workers, "cpus_per_worker": cpus, "seconds": seconds, "epoch_losses": [e["loss"] for e in progress["epoch_losses"]], "health": health, "nodes": [w["node_id"][:12] for w in where.get("workers", [where])]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--example", default="digits-vit.yaml", help="a spec of examples/")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cpus-per-worker", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, help="override the spec's supernet epochs")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object on the last line")
    args = parser.parse_args()
    if min(args.workers) < 1:
        parser.error(f"--workers: {args.workers} must all be >= 1")
    init_ray(None)
    runs = []
    with tempfile.TemporaryDirectory() as directory:
        for workers in args.workers:
            runs.append(run_one(args.example, workers, args.cpus_per_worker, args.epochs, Path(directory)))
            run = runs[-1]
            print(f"workers {workers}: {run['seconds']:.1f} s, final epoch loss {run['epoch_losses'][-1]:.4f}, largest / smallest {run['health']['largest']:.1%} / {run['health']['smallest']:.1%}", file=sys.stderr)
    base = runs[0]
    for run in runs[1:]:
        gap = max(abs(a - b) for a, b in zip(run["epoch_losses"], base["epoch_losses"]))
        print(f"workers {run['workers']} vs {base['workers']}: time ratio {run['seconds'] / base['seconds']:.2f}, largest epoch-loss gap {gap:.2e}", file=sys.stderr)
    if args.json:
        print(json.dumps({"example": args.example, "runs": runs}))


if __name__ == "__main__":
    main()
