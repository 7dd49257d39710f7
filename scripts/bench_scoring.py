"""How fast a job scores candidates on digits, through the service (store, coordinator, Ray
actors, the job's own spec settings), in one run on one supernet:

- today's default scoring: each candidate fine-tuned 20 steps from its inherited weights, its
  latency measured in ONNX Runtime (the quickstart's objectives); and the same with accuracy
  against params (no latency to measure);
- cheap first-rung scores: inherited weights (`supernet.score_finetune_steps: 0`), a large
  budget so that several candidates go per call and per pass over the validation batches, and
  latency predicted after 20 measured candidates (`latency.predict_after: 20`).

Each rate is the job's from its first result to its last (Ray's and the actors' start-up before
the first result are reported apart). Then the FLOP rate of inherited scoring (the analytic
FLOPs of the candidates' forward passes over the validation split, per second, in this process)
against this machine's measured rate of a plain matrix product, both on one thread.

    python scripts/bench_scoring.py --json docs/benchmarks/scoring_2026-12-07.json
    python scripts/bench_scoring.py --quick     # smaller budgets, for a look
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from bench_service import train_checkpoint  # noqa: E402

from nas.job.parse import parse_spec  # noqa: E402
from nas.search.coordinator import Coordinator, candidates_per_call  # noqa: E402
from nas.search.evaluation import SupernetEvaluator  # noqa: E402
from nas.service import submit_job  # noqa: E402
from nas.store import ArtifactKind, Store  # noqa: E402
from search_spaces import get_space  # noqa: E402


def spec(name: str, candidates: int, supernet: dict[str, Any], objectives: list[str], latency: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name, "space": "vit-resnas", "preset": "small-images", "task": "digits", "strategy": "random",
        "objectives": [{"metric": m} for m in objectives], "constraints": {"params_max": 2_000_000},
        "budget": {"candidates": candidates}, "supernet": {"epochs": 1, "max_train": 300, "check": False, **supernet},
        "latency": latency or {}, "verify": {"top_k": 0}, "workers": 1,
    }  # fmt: skip


def through_service(job_spec: dict[str, Any], checkpoint: Path, root: Path) -> dict[str, Any]:
    """The job run by a coordinator on the finished supernet; its rate from first to last result."""
    store = Store(f"sqlite:///{root / (job_spec['name'] + '.db')}")
    job = submit_job(store, job_spec)
    store.add_artifact(job.id, ArtifactKind.SUPERNET_CHECKPOINT, str(checkpoint))
    started = time.perf_counter()
    finished = Coordinator(store, jobs_dir=root / "jobs").run_next(job.id)
    total = time.perf_counter() - started
    assert finished.status == "succeeded", finished.error
    done = store.candidates(job.id, "done")
    finished_at = sorted(c.finished_at for c in done)
    steady = (finished_at[-1] - finished_at[0]).total_seconds()
    predicted = sum(1 for c in done if c.metrics.get("latency_predicted"))
    return {
        "candidates": len(done), "per_call": candidates_per_call(parse_spec(job_spec)), "evals_per_s": (len(done) - 1) / steady,
        "seconds_to_last_result": steady, "seconds_with_startup_and_front": total, "latency_predicted": predicted,
    }  # fmt: skip


def gemm_rate(n: int = 1024, repeats: int = 10) -> float:
    """FLOP/s of an n x n matrix product on this thread (the best of `repeats`)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best


def scoring_flop_rate(checkpoint: Path, count: int) -> dict[str, float]:
    """Inherited scores of `count` random candidates in one call, as an evaluator makes them:
    their forward FLOPs over the validation split per second."""
    evaluator = SupernetEvaluator(str(checkpoint), latency=None)
    space = get_space("vit-resnas", "small-images")
    rng = random.Random(1)
    archs = [space.sample(rng).to_dict() for _ in range(count)]
    evaluator.evaluate_many(archs[:2])  # warm-up
    started = time.perf_counter()
    results = evaluator.evaluate_many(archs)
    seconds = time.perf_counter() - started
    flops = sum(r["flops"] for r in results if isinstance(r, dict)) * len(evaluator.scored_on)
    return {"flop_per_s": flops / seconds, "evals_per_s": count / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="budgets of 12 and 200 candidates")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    default_budget, cheap_budget = (12, 200) if args.quick else (30, 1000)
    runs = {
        "default scoring, latency measured": spec("default-latency", default_budget, {}, ["accuracy", "latency_ms"]),
        "default scoring, params": spec("default-params", default_budget, {}, ["accuracy", "params"]),
        "first rung: inherited, latency predicted": spec("rung0", cheap_budget, {"score_finetune_steps": 0}, ["accuracy", "latency_ms"], {"predict_after": 20}),
    }
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        checkpoint = train_checkpoint(root / "supernet")
        for label, job_spec in runs.items():
            figures[label] = through_service(job_spec, checkpoint, root)
            print(f"{label}: {figures[label]}", flush=True)
        flop = scoring_flop_rate(checkpoint, 64)
    gemm = gemm_rate()
    base = figures["default scoring, latency measured"]["evals_per_s"]
    cheap = figures["first rung: inherited, latency predicted"]["evals_per_s"]
    result = {
        "jobs": figures, "speedup_over_default_latency": cheap / base,
        "speedup_over_default_params": cheap / figures["default scoring, params"]["evals_per_s"],
        "scoring_flop_per_s": flop["flop_per_s"], "gemm_flop_per_s": gemm, "scoring_share_of_gemm": flop["flop_per_s"] / gemm,
        "in_process_inherited_evals_per_s": flop["evals_per_s"],
    }  # fmt: skip
    print(
        f"evaluations/s: default {base:.2f} (latency measured), {figures['default scoring, params']['evals_per_s']:.2f} (params); "
        f"first rung {cheap:.2f}: {result['speedup_over_default_latency']:.1f}x and {result['speedup_over_default_params']:.1f}x. "
        f"Scoring {flop['flop_per_s'] / 1e9:.1f} GFLOP/s against a {gemm / 1e9:.1f} GFLOP/s matrix product ({result['scoring_share_of_gemm']:.2f})"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
