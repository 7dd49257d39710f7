"""The end-to-end question: under a parameter budget, does the model a search finds beat the
obvious choices, on the test split, after the same standalone training?

For each task: run the service's search as a user does (a job with the spec's defaults, verified
stage included, through the coordinator on Ray), take the found model (the best verified
candidate, else the best), then train from scratch, with the same budget and `--seeds` training
seeds, (a) the found model, (b) the largest architecture under the budget (of `--pool` random
ones), (c) 5 random architectures under the budget (their median), (d) the space's plain
homogeneous architecture under the budget (one operation everywhere, one width level). Reports
test accuracy mean ± std, the search's wall-clock minutes, and what training every evaluated
candidate standalone would have cost.

    python scripts/bench_end_to_end.py --tasks digits
    python scripts/bench_end_to_end.py --tasks fashion-mnist --max-train 2000 --params-max 1500000
    python scripts/bench_end_to_end.py --tasks rotten-tomatoes --max-train 4000 --params-max 4000000 \
        --jobs 2 --search-dir e2e-searches   # trainings 2 at a time; a rerun reuses the search
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas.job.schema import VerifySpec  # noqa: E402
from nas.search.coordinator import Coordinator  # noqa: E402
from nas.service import job_summary, submit_job  # noqa: E402
from nas.store import Store  # noqa: E402
from nas.tasks.data import TaskData, load_task  # noqa: E402
from nas.training.standalone import evaluate, train_standalone  # noqa: E402
from search_spaces import Architecture, SearchSpace, get_space  # noqa: E402

console = Console(stderr=True)
SPACES = {"digits": "vit-resnas", "fashion-mnist": "vit-resnas", "rotten-tomatoes": "flexibert"}
RANDOM_ARCHS = 5
LEVELS = 11  # the homogeneous baseline's width levels tried, from the smallest choices to the largest


def homogeneous_candidates(space: SearchSpace) -> list[Architecture]:
    """The space's plain architectures: every choice at the same relative level (0 = smallest,
    1 = largest) in every stage or layer, every stage equally deep; FlexiBERT layers use standard
    scaled-dot-product attention in every head and one feed-forward layer."""

    def at(values: tuple[int, ...], level: float) -> int:
        ordered = sorted(values)
        return ordered[round(level * (len(ordered) - 1))]

    out: list[Architecture] = []
    levels = [i / (LEVELS - 1) for i in range(LEVELS)]
    if space.name == "vit-resnas":
        for depth_level in levels:
            for level in levels:
                stages = [
                    {"width": at(s.widths, level), "head_dim": s.head_dim, "blocks": [{"heads": at(s.heads, level), "mlp": at(s.mlp, level)}] * at(s.depths, depth_level)}
                    for s in space.choices.stages
                ]
                out.append(space.validate({"stages": stages}))
    else:
        c = space.choices
        op = "sa-sdp" if "sa-sdp" in c.ops else c.ops[0]
        for depth in c.num_layers:
            for level in levels:
                hidden = at(c.hidden, level)
                layer = {"hidden": hidden, "heads": at(c.heads_for(hidden), level), "op": op, "ff": [at(c.ff_dims, level)]}
                out.append(space.validate({"layers": [layer] * depth}))
    return out


def under_budget(space: SearchSpace, archs: list[Architecture], task: TaskData, params_max: float) -> list[tuple[int, Architecture]]:
    costed = [(space.cost(a, task.shape).params, a) for a in archs]
    return [(p, a) for p, a in costed if p <= params_max]


# Each training process loads the task once (the tokenizer is cached on disk).
_worker_task: TaskData | None = None


def _load_worker_task(task_name: str, max_train: int | None) -> None:
    global _worker_task
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)
    _worker_task = load_task(task_name, seed=0, max_train=max_train)


def _train_and_test(space_name: str, arch: dict[str, Any], epochs: int, lr: float, seed: int) -> tuple[float, float]:
    """Test accuracy of `arch` trained from scratch with `seed`, and the training's seconds."""
    assert _worker_task is not None, "run in a process started with _load_worker_task"
    space = get_space(space_name)
    torch.manual_seed(seed)
    started = time.perf_counter()
    model = train_standalone(space.build(space.validate(arch), _worker_task.shape), _worker_task.train, epochs=epochs, lr=lr, seed=seed)
    seconds = time.perf_counter() - started
    return evaluate(model, _worker_task.test), seconds


def train_all(space: SearchSpace, models: dict[str, Architecture], task_name: str, max_train: int | None, epochs: int, lr: float, seeds: int, jobs: int) -> dict[str, dict[str, Any]]:
    """Every model trained from scratch with seeds 0..seeds-1, `jobs` trainings at a time (one
    CPU thread each): per model its test accuracies, their mean and std, and seconds per training."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=_load_worker_task, initargs=(task_name, max_train)) as pool:
        futures = {pool.submit(_train_and_test, space.name, arch.to_dict(), epochs, lr, seed): (name, seed) for name, arch in models.items() for seed in range(seeds)}
        for future in as_completed(futures):
            name, seed = futures[future]
            accuracy, seconds = future.result()
            runs[name].append((accuracy, seconds))
            console.log(f"{task_name}: {name}, seed {seed}: test {accuracy:.2%} after {seconds:.0f} s")
    out = {}
    for name, pairs in runs.items():
        accuracies = [a for a, _ in pairs]
        out[name] = {"test_accuracy": accuracies, "mean": statistics.fmean(accuracies), "std": statistics.stdev(accuracies), "seconds": statistics.fmean(s for _, s in pairs)}
    return out


def run_search(task: str, space_name: str, params_max: float, candidates: int, max_train: int | None, workdir: Path, seed: int) -> dict[str, Any]:
    """The service's search with its defaults (supernet, verified stage) under the budget."""
    spec: dict[str, Any] = {
        "name": f"e2e-{task}", "space": space_name, "task": task, "constraints": {"params_max": params_max},
        "objectives": [{"metric": "accuracy"}, {"metric": "params"}], "budget": {"candidates": candidates}, "seed": seed,
    }  # fmt: skip
    if max_train:
        spec["supernet"] = {"max_train": max_train}
    store = Store(f"sqlite:///{workdir / f'{task}.db'}")
    job = submit_job(store, spec)
    started = time.perf_counter()
    finished = Coordinator(store, jobs_dir=workdir / "jobs").run_next(job.id)
    minutes = (time.perf_counter() - started) / 60
    if finished.status != "succeeded":
        raise SystemExit(f"{task}: the search job {finished.status}: {finished.error}")
    summary = job_summary(store, finished)
    found = summary["best_verified"] or summary["best"]
    arch = store.candidate_number(finished.id, found["candidate"]).arch
    evaluated = summary["candidates_done"]
    store.close()
    return {"arch": arch, "candidate": found["candidate"], "verified": found.get("verified"), "search_minutes": minutes, "evaluated": evaluated, "spec": finished.spec}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="digits", help=f"comma-separated subset of {','.join(SPACES)}")
    parser.add_argument("--params-max", type=float, default=1_500_000)
    parser.add_argument("--candidates", type=int, default=24, help="the search's budget.candidates")
    parser.add_argument("--max-train", type=int, help="training examples (supernet, and every standalone training)")
    parser.add_argument("--epochs", type=int, help="standalone epochs of every compared model [default: the verified stage's default for the task]")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pool", type=int, default=2000, help="random architectures drawn to find the largest under the budget")
    parser.add_argument("--jobs", type=int, default=1, help="trainings at a time, each in its own process with one CPU thread")
    parser.add_argument("--search-dir", type=Path, help="keep each task's search result here as <task>.json, and reuse one found there instead of searching again")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tasks = args.tasks.split(",")
    if not set(tasks) <= set(SPACES):
        parser.error(f"--tasks: {sorted(set(tasks) - set(SPACES))} not in {list(SPACES)}")
    if args.seeds < 2:
        parser.error("--seeds: at least 2 (a spread needs two trainings)")
    if args.jobs < 1:
        parser.error("--jobs: at least 1")
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)
    results: dict[str, Any] = {"params_max": args.params_max, "seeds": args.seeds, "lr": args.lr}
    for task_name in tasks:
        space = get_space(SPACES[task_name])
        task = load_task(task_name, seed=0, max_train=args.max_train)
        epochs = args.epochs or VerifySpec().resolved(len(task.train)).epochs
        # The baselines' pool first: a budget too tight for it ends the run before the search.
        rng = random.Random(0)
        pool = under_budget(space, [space.sample(rng) for _ in range(args.pool)], task, args.params_max)
        if len(pool) < RANDOM_ARCHS + 1:
            raise SystemExit(f"{task_name}: only {len(pool)} of {args.pool} random architectures fit under {args.params_max:,.0f} params; raise --params-max or --pool")
        kept = args.search_dir / f"{task_name}.json" if args.search_dir else None
        if kept and kept.exists():
            search = json.loads(kept.read_text())
            console.log(f"{task_name}: the search of {kept} is reused (candidate {search['candidate']})")
        else:
            with tempfile.TemporaryDirectory() as directory:
                console.log(f"{task_name}: searching under {args.params_max:,.0f} params")
                search = run_search(task_name, space.name, args.params_max, args.candidates, args.max_train, Path(directory), seed=0)
            if kept:
                kept.parent.mkdir(parents=True, exist_ok=True)
                kept.write_text(json.dumps(search, default=str))
            console.log(f"{task_name}: found candidate {search['candidate']}: {json.dumps(search['arch'])}")
        homogeneous = under_budget(space, homogeneous_candidates(space), task, args.params_max)
        contenders: dict[str, Architecture] = {
            "found": space.validate(search["arch"]),
            "largest under the budget": max(pool, key=lambda pa: pa[0])[1],
            "homogeneous": max(homogeneous, key=lambda pa: pa[0])[1] if homogeneous else None,
        }
        randoms = {f"random {i + 1}": a for i, (_, a) in enumerate(pool[:RANDOM_ARCHS])}
        present = {name: arch for name, arch in contenders.items() if arch is not None}
        console.log(f"{task_name}: training {len(present) + len(randoms)} models x {args.seeds} seeds, {args.jobs} at a time")
        runs = train_all(space, {**present, **randoms}, task_name, args.max_train, epochs, args.lr, args.seeds, args.jobs)
        trained: dict[str, Any] = {name: ({**runs[name], "params": space.cost(arch, task.shape).params} if arch is not None else None) for name, arch in contenders.items()}
        random_runs = [{**runs[name], "params": space.cost(arch, task.shape).params} for name, arch in randoms.items()]
        median = sorted(random_runs, key=lambda r: r["mean"])[RANDOM_ARCHS // 2]
        trained["median of 5 random under the budget"] = {**median, "all_means": [r["mean"] for r in random_runs]}
        per_training = statistics.fmean(r["seconds"] for r in runs.values())
        results[task_name] = {
            "epochs": epochs, "train_examples": len(task.train), "test_examples": len(task.test), "models": trained, "jobs": args.jobs,
            "architectures": {name: arch.to_dict() for name, arch in {**present, **randoms}.items()},
            "search_minutes": search["search_minutes"], "evaluated_candidates": search["evaluated"],
            "standalone_minutes_for_every_evaluated": search["evaluated"] * per_training / 60, "found_verified": search["verified"],
        }  # fmt: skip
        print_table(task_name, results[task_name])
    if args.json:
        print(json.dumps(results))


def print_table(task: str, result: dict[str, Any]) -> None:
    table = Table(title=f"{task}: test accuracy after {result['epochs']} standalone epochs from scratch ({result['train_examples']:,} training examples)")
    for column in ("model", "params", "test accuracy, mean ± std"):
        table.add_column(column)
    for name, row in result["models"].items():
        if row is None:
            table.add_row(name, "-", "no such architecture under the budget")
            continue
        table.add_row(name, f"{row['params']:,}", f"{row['mean']:.2%} ± {row['std']:.2%}")
    Console().print(table)
    Console().print(
        f"search: {result['search_minutes']:.1f} min wall clock for {result['evaluated_candidates']} candidates; "
        f"training each standalone once: {result['standalone_minutes_for_every_evaluated']:.1f} min"
    )


if __name__ == "__main__":
    main()
