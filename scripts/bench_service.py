"""Service overhead and store speed.

1. Evaluations per second through the service (store + coordinator + Ray actors) vs a bare
   in-process loop over the same candidates, the same supernet and the same data, in one run.
   The candidates are stored as `proposed` before the job starts, so the coordinator evaluates
   exactly the bare loop's list. The service's rate is its steady state, from the first commit to
   the last (Ray and actor start-up are reported apart, as seconds with start-up).
2. Bulk-insert throughput and Pareto-query latency over 100,000 stored candidates, SQLite and
   PostgreSQL (see scripts/bench_store.py).

    python scripts/bench_service.py                 # 60 candidates, workers 1 and 2, both databases
    python scripts/bench_service.py --quick --json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from bench_store import store_figures  # noqa: E402

from nas.job.parse import parse_spec  # noqa: E402
from nas.search.coordinator import Coordinator  # noqa: E402
from nas.search.evaluation import Scoring, SupernetEvaluator  # noqa: E402
from nas.service import submit_job  # noqa: E402
from nas.store import ArtifactKind, Store  # noqa: E402
from nas.tasks.data import load_task  # noqa: E402
from nas.training.config import TrainConfig  # noqa: E402
from nas.training.trainer import SupernetTrainer  # noqa: E402
from search_spaces import get_space  # noqa: E402

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def train_checkpoint(directory: Path) -> Path:
    """A briefly trained digits supernet: evaluation cost does not depend on how well it learned."""
    space = get_space("vit-resnas", "small-images")
    trainer = SupernetTrainer(space, load_task("digits", max_train=300), TrainConfig(epochs=1, batch_size=64, archs_per_step=2, sandwich=False, warmup_epochs=0, mlm_epochs=0, lr=1e-3, seed=0, device="cpu"))
    trainer.train(show_progress=False, checkpoint_dir=directory)
    return directory


def bare_loop(checkpoint: Path, archs: list) -> float:
    """The evaluator a job runs, in this process: its scoring settings are the spec's defaults."""
    settings = parse_spec(service_spec(len(archs), workers=1)).supernet_settings
    evaluator = SupernetEvaluator(str(checkpoint), scoring=Scoring(finetune_steps=settings.score_finetune_steps or 0, examples=settings.score_examples))
    started = time.perf_counter()
    for arch in archs:
        evaluator.evaluate(arch.to_dict())
    return len(archs) / (time.perf_counter() - started)


def service_spec(candidates: int, workers: int) -> dict:
    return {
        "name": f"bench-{workers}", "space": "vit-resnas", "preset": "small-images", "task": "digits", "strategy": "random",
        "budget": {"candidates": candidates}, "supernet": {"epochs": 1, "max_train": 300, "check": False}, "verify": {"top_k": 0}, "workers": workers,
    }  # fmt: skip


def through_service(checkpoint: Path, archs: list, workers: int, root: Path) -> dict[str, float]:
    store = Store(f"sqlite:///{root / f'service-{workers}.db'}")
    job = submit_job(store, service_spec(len(archs), workers))
    store.add_artifact(job.id, ArtifactKind.SUPERNET_CHECKPOINT, str(checkpoint))
    store.add_candidates(job.id, [(a.arch_id, a.to_dict()) for a in archs])
    started = time.perf_counter()
    finished = Coordinator(store, jobs_dir=root / "jobs").run_next(job.id)
    total = time.perf_counter() - started
    assert finished.status == "succeeded", finished.error
    done = store.candidates(job.id, "done")
    assert len(done) == len(archs)
    finished_at = sorted(c.finished_at for c in done)
    # Steady state: from the first commit to the last (the actors' start-up is before the first).
    return {"evals_per_s": (len(done) - 1) / (finished_at[-1] - finished_at[0]).total_seconds(), "seconds_with_startup": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 candidates, 10,000 stored rows")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--postgres", default=POSTGRES, help="PostgreSQL URL for the store figures ('' to skip)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    count, rows = (20, 10_000) if args.quick else (60, 100_000)
    space = get_space("vit-resnas", "small-images")
    rng = random.Random(0)
    archs = list({a.arch_id: a for a in (space.sample(rng) for _ in range(count * 2))}.values())[:count]
    results: dict[str, object] = {"candidates": count}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        checkpoint = train_checkpoint(root / "supernet")
        bare = bare_loop(checkpoint, archs)
        service = {workers: through_service(checkpoint, archs, workers, root) for workers in (1, 2)}
    results["throughput"] = {
        "bare_evals_per_s": bare,
        **{f"service_{w}_workers_evals_per_s": s["evals_per_s"] for w, s in service.items()},
        **{f"service_{w}_workers_ratio_to_bare": s["evals_per_s"] / bare for w, s in service.items()},
        **{f"service_{w}_workers_seconds_with_startup": s["seconds_with_startup"] for w, s in service.items()},
    }
    print(f"evaluations/s: bare loop {bare:.2f}; service 1 worker {service[1]['evals_per_s']:.2f} ({service[1]['evals_per_s'] / bare:.2f}x), "
          f"2 workers {service[2]['evals_per_s']:.2f} ({service[2]['evals_per_s'] / bare:.2f}x)")  # fmt: skip
    results["store"] = {"sqlite": store_figures(None, rows)}
    if args.postgres:
        results["store"]["postgresql"] = store_figures(args.postgres, rows)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
