"""Data-parallel supernet training (`supernet.workers`) against one process, on the service's own
code path: the supernet task a job runs (`nas.search.supernet_task.train_supernet`, as a Ray task
of no CPUs driving Ray Train's workers), for an example spec with only `supernet.workers` changed.

    python scripts/bench_distributed.py                        # digits example, 1 vs 2 workers
    python scripts/bench_distributed.py --workers 1 2 4 --cpus-per-worker 0.5 --json
    python scripts/bench_distributed.py --reversed-sum-epochs 8   # and rounding's own effect

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

from nas.artifact_root import JobFiles  # noqa: E402
from nas.job.errors import SpecError  # noqa: E402
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


def reversed_sum_curve(example: str, epochs: int) -> list[float]:
    """One process training the example's supernet with each step's subnet gradients summed in
    reverse order (the same subnets on the same slices): how far rounding alone moves the curve."""
    import torch

    from nas.tasks.data import load_task
    from nas.training.config import TrainConfig
    from nas.training.trainer import SupernetTrainer

    class ReverseSum(SupernetTrainer):
        def train_step(self, inputs, labels, archs, phase, generator):  # type: ignore[no-untyped-def]
            xs, ys = torch.tensor_split(inputs, len(archs)), torch.tensor_split(labels, len(archs))
            return super().train_step(torch.cat(xs[::-1]), torch.cat(ys[::-1]), archs[::-1], phase, generator)

    torch.set_num_threads(1)
    spec = parse_spec(yaml.safe_load((REPO / "examples" / example).read_text()), base_dir=REPO / "examples")
    task = load_task(spec.task.to_load_spec(), seed=spec.seed, max_train=spec.supernet_settings.max_train)
    config = TrainConfig.from_spec(spec.supernet_settings, task.kind, seed=spec.seed, device="cpu", train_examples=len(task.train))
    trainer = ReverseSum(spec.search_space(), task, config)
    trainer.train(show_progress=False, stop_after=epochs * trainer.steps_per_epoch())
    return [e["loss"] for e in trainer.epoch_losses]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--example", default="digits-vit.yaml", help="a spec of examples/")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cpus-per-worker", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, help="override the spec's supernet epochs")
    parser.add_argument("--reversed-sum-epochs", type=int, default=0, help="also train this many epochs in one process with the gradients summed in reverse order")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object on the last line")
    args = parser.parse_args()
    if min(args.workers) < 1:
        parser.error(f"--workers: {args.workers} must all be >= 1")
    init_ray(None)
    runs = []
    with tempfile.TemporaryDirectory() as directory:
        for workers in args.workers:
            try:
                runs.append(run_one(args.example, workers, args.cpus_per_worker, args.epochs, Path(directory)))
            except SpecError as exc:
                parser.error(f"the spec with these options: {exc}")
            run = runs[-1]
            print(f"workers {workers}: {run['seconds']:.1f} s, final epoch loss {run['epoch_losses'][-1]:.4f}, largest / smallest {run['health']['largest']:.1%} / {run['health']['smallest']:.1%}", file=sys.stderr)
    base = runs[0]
    for run in runs[1:]:
        gap = max(abs(a - b) for a, b in zip(run["epoch_losses"], base["epoch_losses"]))
        print(f"workers {run['workers']} vs {base['workers']}: time ratio {run['seconds'] / base['seconds']:.2f}, largest epoch-loss gap {gap:.2e}", file=sys.stderr)
    reversed_sum = reversed_sum_curve(args.example, args.reversed_sum_epochs) if args.reversed_sum_epochs else None
    if reversed_sum:
        print(f"one process, gradients summed in reverse order: epoch losses {' '.join(f'{x:.3f}' for x in reversed_sum)}", file=sys.stderr)
    if args.json:
        print(json.dumps({"example": args.example, "runs": runs, "reversed_sum_epoch_losses": reversed_sum}))


if __name__ == "__main__":
    main()
