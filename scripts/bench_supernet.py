"""Supernet benchmark: extraction parity, multi-architectural sampling speed, and how well
inherited-weight accuracy ranks subnets against standalone training.

    python scripts/bench_supernet.py            # full run (tens of minutes on 2 CPU cores)
    python scripts/bench_supernet.py --quick    # reduced run, under 3 minutes on 2 CPU cores
    python scripts/bench_supernet.py --json     # also print one JSON object (last line)

Figures are ratios or correlations measured within one run, on the same data.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from scipy.stats import kendalltau

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas.job.schema import RungsSpec, SupernetSpec  # noqa: E402
from nas.results.promotion import promotion_order  # noqa: E402
from nas.search.rungs import Rung, rung_size, rungs_of  # noqa: E402
from nas.tasks.data import TaskData, load_task  # noqa: E402
from nas.training.checkpoint import load_supernet  # noqa: E402
from nas.training.config import TrainConfig  # noqa: E402
from nas.training.ranking_study import SPREADS, judged_on_other_seeds, reused_references, spread_by_size, training_sample
from nas.training.standalone import evaluate, evaluate_subnet, train_standalone  # noqa: E402
from nas.training.trainer import SupernetTrainer, peak_rss_mb, step_rng  # noqa: E402
from search_spaces import ImageTaskShape, SearchSpace, TextTaskShape, get_space  # noqa: E402
from search_spaces.supernet import parity_max_abs_diff  # noqa: E402

console = Console(stderr=True)


@dataclass(frozen=True)
class Budget:
    parity_archs: int
    timing_steps: int
    vit_supernet_epochs: int
    vit_standalone_epochs: int
    bert_train_examples: int | None  # None: the whole training split
    bert_mlm_epochs: int
    bert_supernet_epochs: int
    bert_standalone_epochs: int
    ranked_subnets: int
    timing_batches: tuple[int, ...]  # batch sizes of the multi-arch timing


FULL = Budget(parity_archs=50, timing_steps=8, vit_supernet_epochs=60, vit_standalone_epochs=15, bert_train_examples=None, bert_mlm_epochs=1, bert_supernet_epochs=24, bert_standalone_epochs=3, ranked_subnets=12, timing_batches=(128, 256, 512))
# --quick stays under 3 minutes on 2 cores (docs/benchmarks/supernet.md).
QUICK = Budget(parity_archs=5, timing_steps=1, vit_supernet_epochs=2, vit_standalone_epochs=1, bert_train_examples=300, bert_mlm_epochs=1, bert_supernet_epochs=1, bert_standalone_epochs=1, ranked_subnets=4, timing_batches=(128, 512))


def parity(budget: Budget) -> dict[str, float]:
    """Max |standalone - supernet| over random archs of every preset (eval mode, fp32)."""
    inputs = {
        "flexibert": (TextTaskShape(vocab_size=200, max_len=16, num_classes=2), torch.randint(1, 200, (2, 16))),
        "vit-resnas": (ImageTaskShape(channels=3, image_size=32, num_classes=10), torch.randn(2, 3, 32, 32)),
    }
    result = {}
    for name, preset in [("flexibert", "nas-bench-bert"), ("flexibert", "flexibert"), ("flexibert", "flexibert-2"), ("vit-resnas", "small-images"), ("vit-resnas", "tiny")]:
        space = get_space(name, preset)
        task, x = inputs[name]
        torch.manual_seed(0)
        rng = random.Random(0)
        result[f"{name}:{preset}"] = parity_max_abs_diff(space.supernet(task), [space.sample(rng) for _ in range(budget.parity_archs)], x)
        console.log(f"parity {name}:{preset}: {result[f'{name}:{preset}']:.2e}")
    return result


def multi_arch(space: SearchSpace, task: TaskData, budget: Budget, batch_size: int = 128) -> dict[str, object]:
    """Seconds per step and distinct subnets trained per second: n subnets per step (each on
    batch_size / n examples) vs one subnet on the whole batch. Paired design: each round draws 8
    archs and one batch; n=8 trains them in one step, n=4 in two steps, n=1 in eight steps, so
    every setting does the same work on the same archs and the arch-size spread cancels."""
    settings = [1, 4, 8]
    trainers = {n: SupernetTrainer(space, task, TrainConfig(epochs=1, batch_size=batch_size, archs_per_step=n, sandwich=False, warmup_epochs=0, mlm_epochs=0, lr=1e-3, seed=0)) for n in settings}
    seconds: dict[int, list[float]] = {n: [] for n in settings}
    generator = torch.Generator().manual_seed(0)
    for round_ in range(budget.timing_steps + 1):
        rng = step_rng(0, "timing", round_)
        archs = [space.sample(rng) for _ in range(8)]
        idx = torch.randint(0, len(task.train), (batch_size,), generator=generator)
        for n in settings:
            start = time.perf_counter()
            for group in range(0, 8, n):
                trainers[n].train_step(task.train.inputs[idx], task.train.labels[idx], archs[group : group + n], "supervised", generator)
            if round_:  # the first round warms up allocators and caches
                seconds[n].append((time.perf_counter() - start) / (8 // n))
    step_seconds = {n: statistics.median(seconds[n]) for n in settings}
    out: dict[str, object] = {"batch_size": batch_size, "rounds_timed": budget.timing_steps}
    for n in settings:
        out[f"n{n}"] = {"seconds_per_step": step_seconds[n], "subnets_per_second": n / step_seconds[n]}
    for n in settings[1:]:
        out[f"n{n}_vs_single"] = {
            "subnets_per_second_ratio": (n / step_seconds[n]) / (1 / step_seconds[1]),
            "step_time_ratio": step_seconds[n] / step_seconds[1],
        }
    return out


BERT_BATCH = 64  # FlexiBERT supernet batch: the subnets of a step share it


def _train_supernet(space_name: str, preset: str, task_spec: str, task_options: dict, config: TrainConfig, directory: str, overrides: dict | None = None) -> dict[str, float]:
    """Runs in a fresh process, so its peak RSS is supernet training's alone."""
    torch.set_num_threads(config_threads())
    task = load_task(task_spec, **task_options)
    trainer = SupernetTrainer(get_space(space_name, preset, overrides), task, config)
    result = trainer.train(show_progress=False, checkpoint_dir=Path(directory))
    return {"steps": result.steps, "seconds": result.seconds, "subnets_per_second": result.subnets_per_second, "peak_rss_mb": peak_rss_mb()}


def config_threads() -> int:
    return int(os.environ.get("BENCH_THREADS", torch.get_num_threads()))


def ranking(
    space: SearchSpace,
    task_spec: str,
    task_options: dict,
    config: TrainConfig,
    standalone_epochs: int,
    count: int,
    standalone_lr: float,
    standalone_seeds: int = 1,
    reuse: dict | None = None,
    spread: str = "range",
    score_finetune_steps: int = 0,
    few_shot: int = 1,
    rungs: RungsSpec | None = None,
    standalone_init: str = "scratch",
) -> dict[str, object]:
    """Train the supernet, then Kendall tau between inherited-weight and standalone validation
    accuracy. With `standalone_seeds` > 1 each subnet is trained standalone that many times (seeds
    differ in initialisation and batch order): the reference is their mean, and the mean tau
    between two seeds' rankings measures how well the reference itself is determined, the
    ceiling for any proxy. `reuse`: an earlier run's ranking entry whose standalone accuracies
    (same task, subnets and budget) serve as the reference, so supernet variants are compared
    against identical references without retraining them; where it holds fewer seeds than
    `standalone_seeds`, only the missing seeds are trained. `rungs`: also score every subnet at
    each rung of successive halving, through the evaluator a job runs (`SupernetEvaluator.
    rung_score`), and rank them as a job's halving would (`halving_ranking`). `standalone_init`:
    the references train from scratch, or from the supernet's weights as the verified stage does
    by default (`inherited`)."""
    task = load_task(task_spec, **task_options)
    task_facts = {"name": task.name, "train": len(task.train), "val": len(task.val), **task_options}
    archs = spread_by_size(space, task.shape, count, spread)
    params = [space.cost(arch, task.shape).params for arch in archs]
    budget = {"epochs": standalone_epochs, "batch_size": 64, "lr": standalone_lr, "seeds": standalone_seeds}
    if standalone_init != "scratch":  # earlier runs' budgets name no init: theirs was scratch
        budget["init"] = standalone_init
    try:
        earlier_runs = reused_references(reuse, task_facts, params, budget) if reuse is not None else [[] for _ in archs]
    except ValueError as mismatch:
        raise SystemExit(f"--standalone-from: {mismatch}") from None
    shots = few_shot_overrides(space, few_shot) if few_shot > 1 else [None]
    if len(shots) > 1:  # each sub-supernet trains its share of the steps: the same compute in all
        config = dataclasses.replace(config, epochs=max(1, config.epochs // len(shots)), warmup_epochs=min(config.warmup_epochs, max(1, config.epochs // len(shots))))
    if rungs is not None and len(shots) > 1:
        raise SystemExit("--rungs: one supernet only (not with --few-shot)")
    supernets, runs_of_supernets = [], []
    at_rungs: dict[Rung, tuple[list[float], list[float]]] = {}  # rung -> (accuracies, seconds) per subnet
    for overrides in shots:
        with tempfile.TemporaryDirectory() as directory, ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            runs_of_supernets.append(pool.submit(_train_supernet, space.name, space.preset, task_spec, task_options, config, directory, overrides).result())
            supernets.append(load_supernet(Path(directory))[0])
            if rungs is not None:
                at_rungs = score_at_rungs(directory, archs, rungs)
    trained = {**runs_of_supernets[0], "seconds": sum(r["seconds"] for r in runs_of_supernets), "supernets": len(shots)}
    train_sample = training_sample(task, len(task.val))
    inherited, inherited_train, per_seed, standalone_seconds = [], [], [], []
    for i, arch in enumerate(archs):
        supernet = next(net for net in supernets if net.space.contains(arch))
        if score_finetune_steps:
            # The remedy "fine-tune before scoring": k steps of 64 from the inherited weights.
            model = supernet.extract(arch)
            torch.manual_seed(i)
            train_standalone(model, task.train.sample(score_finetune_steps * 64, seed=i), epochs=1, batch_size=64, lr=standalone_lr, seed=i)
            inherited.append(evaluate(model.eval(), task.val))
        else:
            inherited.append(evaluate_subnet(supernet, arch, task.val))
        inherited_train.append(evaluate_subnet(supernet, arch, train_sample))
        runs = earlier_runs[i][:standalone_seeds]
        for s in range(len(runs), standalone_seeds):
            seed = i + 1000 * s  # seed 0 of subnet i is seed i, as with a single seed
            torch.manual_seed(seed)
            began = time.perf_counter()
            start = space.build(arch, task.shape) if standalone_init == "scratch" else supernet.extract(arch)
            model = train_standalone(start, task.train, epochs=standalone_epochs, lr=standalone_lr, seed=seed)
            standalone_seconds.append(time.perf_counter() - began)
            runs.append(evaluate(model, task.val))
        per_seed.append(runs)
        console.log(f"{space.name} subnet {i + 1}/{count}: params {params[i]:,} inherited {inherited[-1]:.3f} (train {inherited_train[-1]:.3f}) standalone {' '.join(f'{r:.3f}' for r in runs)}")
    standalone = [statistics.fmean(runs) for runs in per_seed]
    seed_columns = list(zip(*per_seed))
    seed_pairs = [(a, b) for a in range(standalone_seeds) for b in range(a + 1, standalone_seeds)]
    agreement = kendalltau(inherited, standalone)
    # Compute: the supernet's training against training every ranked subnet standalone once (from
    # this run's trainings; None when every reference was reused).
    per_training = statistics.fmean(standalone_seconds) if standalone_seconds else None
    others = {f"rung_{rung.number}": scores for rung, (scores, _) in at_rungs.items()}
    halving: dict[str, object] = {}
    if rungs is not None:
        halving = halving_ranking(inherited, at_rungs, rungs.eta)
        others["halving"] = halving["score"]
        # One standalone training's cost, measured in this run: by its trainings, or (every
        # reference reused) by the last rung's training time per epoch times the standalone epochs.
        trained_rung = next((r for r in reversed(at_rungs) if r.train_epochs), None)
        per_standalone = per_training
        if per_standalone is None and trained_rung is not None:
            per_standalone = statistics.fmean(at_rungs[trained_rung][1]) / trained_rung.train_epochs * standalone_epochs
            halving["standalone_seconds_estimated"] = per_standalone
        halving["compute_vs_standalone"] = (trained["seconds"] + halving["rung_seconds"]) / (per_standalone * count) if per_standalone else None
    return {
        "judged_on_other_seeds": judged_on_other_seeds(inherited, params, per_seed, others=others),
        "rungs": [{"rung": rung.number, "fidelity": rung.fidelity, "accuracy": scores, "seconds": seconds} for rung, (scores, seconds) in at_rungs.items()],
        "halving": halving,
        "score_finetune_steps": score_finetune_steps,
        "few_shot": len(shots),
        "supernet_seconds": trained["seconds"],
        "standalone_seconds_per_training": per_training,
        "supernet_vs_standalone_compute": trained["seconds"] / (per_training * count) if per_training else None,
        "kendall_tau": float(agreement.statistic),
        # With 12 subnets a tau is uncertain by about +-0.2: the p-value says whether it is any signal.
        "kendall_tau_pvalue": float(agreement.pvalue),
        "kendall_tau_params_vs_standalone": float(kendalltau(params, standalone).statistic),
        "kendall_tau_params_vs_inherited": float(kendalltau(params, inherited).statistic),
        # How far two standalone trainings of the same subnets agree: the ceiling for any proxy.
        "standalone_seed_tau": statistics.fmean(float(kendalltau(seed_columns[a], seed_columns[b]).statistic) for a, b in seed_pairs) if seed_pairs else None,
        "subnets": count,
        "spread": spread,
        "inherited_val_accuracy": inherited,
        "inherited_train_accuracy": inherited_train,
        "standalone_val_accuracy": standalone,
        "standalone_val_accuracy_per_seed": per_seed,
        "params": params,
        "supernet": {**trained, "config": config.__dict__},
        "standalone_budget": budget,
        # Seeds per subnet taken from --standalone-from (the rest were trained in this run).
        "standalone_seeds_reused": min(standalone_seeds, len(earlier_runs[0])),
        "task": task_facts,
    }


def score_at_rungs(checkpoint: str, archs: list, rungs: RungsSpec) -> dict[Rung, tuple[list[float], list[float]]]:
    """Every subnet's accuracy at each rung and the seconds it took, by the evaluator a job's
    actors run, on the checkpoint a job would hold."""
    from nas.search.evaluation import SupernetEvaluator

    evaluator = SupernetEvaluator(checkpoint, threads=config_threads(), latency=None)
    scored: dict[Rung, tuple[list[float], list[float]]] = {}
    for rung in rungs_of(rungs):
        answers = [evaluator.rung_score(arch.to_dict(), rung) for arch in archs]
        scored[rung] = ([a["accuracy"] for a in answers], [a["seconds"] for a in answers])
        console.log(f"rung {rung.number} ({rung.fidelity}): {' '.join(f'{a:.3f}' for a in scored[rung][0])}")
    return scored


def halving_ranking(inherited: list[float], at_rungs: dict[Rung, tuple[list[float], list[float]]], eta: int) -> dict[str, object]:
    """The ranking a job's successive halving ends with, on accuracy alone (what the references
    rank): each rung keeps the best 1/eta of the one below (at least 3, the verified stage's
    default top_k); a subnet ranks by the highest rung it reached, then by its accuracy there.
    `rung_seconds`: what the promoted subnets' rung scores cost."""
    reached = [0] * len(inherited)
    accuracy = list(inherited)
    members = list(range(len(inherited)))
    seconds = 0.0
    for rung, (scores, costs) in at_rungs.items():
        order = promotion_order(np.array([[accuracy[i]] for i in members]), [True])  # the job's rule, on one objective
        members = [members[i] for i in order[: rung_size(len(members), eta, 3)]]
        for i in members:
            reached[i], accuracy[i] = rung.number, scores[i]
            seconds += costs[i]
    return {"score": [level + a for level, a in zip(reached, accuracy, strict=True)], "reached": reached, "rung_seconds": seconds, "eta": eta}


def few_shot_overrides(space: SearchSpace, shots: int) -> list[dict]:
    """Choice overrides splitting a ViT-ResNAS space into `shots` sub-spaces by the depth of its
    last stage (few-shot NAS: one sub-supernet per part, so subnets of different depths stop
    sharing those blocks' weights)."""
    if space.name != "vit-resnas":
        raise SystemExit("--few-shot: splits ViT-ResNAS spaces only")
    stages = [dataclasses.asdict(stage) for stage in space.choices.stages]
    last = space.choices.stages[-1]
    depths = list(last.depths)
    if not 2 <= shots <= len(depths):
        raise SystemExit(f"--few-shot: {shots} parts of the last stage's depths {depths} (2..{len(depths)})")
    parts = [depths[k * len(depths) // shots : (k + 1) * len(depths) // shots] for k in range(shots)]
    out = []
    for part in parts:
        # depths lo..hi: `hi` block slots, the last hi - lo of them optional
        lo, hi = part[0], part[-1]
        out.append({"stages": [*stages[:-1], {**stages[-1], "blocks": hi, "optional": list(range(lo + 1, hi + 1))}]})
    return out


def earlier_ranking(path: Path) -> dict[str, dict]:
    """The `ranking` entries of an earlier run's JSON: a JSON file, or a saved `--json` output
    (the table, then the JSON object on the last line)."""
    try:
        text = path.read_text().strip()
        try:
            document = json.loads(text)
        except ValueError:
            document = json.loads(text.splitlines()[-1]) if text else {"ranking": {}}
        return document["ranking"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"--standalone-from: {path} holds no benchmark JSON with a ranking ({exc})") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="reduced budgets (under 3 minutes on 2 CPU cores)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object on the last line")
    parser.add_argument("--only", choices=["parity", "multi_arch", "ranking"], action="append", help="run only these parts")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--vit-task", choices=["digits", "fashion-mnist"], default="digits", help="task of the ViT-ResNAS ranking (digits sits near 98%% for every subnet)")
    parser.add_argument("--vit-max-train", type=int, help="training examples of the ViT ranking task (deterministic subset)")
    parser.add_argument("--skip-flexibert", action="store_true", help="rank ViT-ResNAS subnets only")
    parser.add_argument("--skip-vit", action="store_true", help="rank FlexiBERT subnets only")
    parser.add_argument("--bert-supernet-epochs", type=int, help="override the budget's FlexiBERT supervised supernet epochs")
    parser.add_argument("--bert-mlm-epochs", type=int, help="override the budget's FlexiBERT masked-language-model epochs (0: none)")
    parser.add_argument(
        "--bert-archs-per-step", type=int, default=1,
        help="FlexiBERT subnets per supernet step, each on its slice of the 64-example batch, with the sandwich rule from 2 up (4: the earlier figures, which under-fitted the larger subnets)",
    )  # fmt: skip
    parser.add_argument("--bert-standalone-epochs", type=int, help="override the budget's FlexiBERT standalone epochs")
    parser.add_argument("--bert-max-train", type=int, help="training examples of the FlexiBERT ranking task (deterministic subset)")
    parser.add_argument("--subnets", type=int, help="override the budget's number of ranked subnets")
    parser.add_argument("--vit-supernet-epochs", type=int, help="override the budget's ViT supernet epochs")
    parser.add_argument("--vit-standalone-epochs", type=int, help="override the budget's ViT standalone epochs")
    parser.add_argument("--standalone-from", type=Path, help="reuse the standalone references of an earlier --json run (same subnets, task and budget); with more --standalone-seeds than it holds, only the missing seeds are trained")
    parser.add_argument("--spread", choices=SPREADS, default="range", help="how ranked subnets cover the size range: evenly in log params from the smallest arch to the largest, or quantiles of random archs (the earlier figures)")
    parser.add_argument("--standalone-seeds", type=int, default=1, help="standalone trainings per ranked subnet (>= 2 also measures seed-to-seed tau)")
    parser.add_argument("--service-defaults", action="store_true", help="the job spec's supernet defaults and the task's default tokenizer (what a job trains), not this benchmark's recipe")
    parser.add_argument("--distill", action="store_true", help="in-place distillation from the largest subnet (needs the sandwich rule)")
    parser.add_argument("--score-finetune-steps", type=int, default=0, help="fine-tune each ranked subnet this many steps from its inherited weights before scoring it")
    parser.add_argument("--rungs", action="store_true", help="also score every ranked subnet at each rung of a job's successive halving (the `rungs` section's defaults), and rank them as the halving would")
    parser.add_argument("--rung-finetune-steps", type=int, help="rung 1's fine-tune steps (default: the `rungs` section's)")
    parser.add_argument("--rung-train-epochs", type=int, help="rung 2's training epochs (default: the `rungs` section's)")
    parser.add_argument("--standalone-init", choices=["scratch", "inherited"], default="scratch", help="the references train from scratch, or from the supernet's weights (the verified stage's default)")
    parser.add_argument("--few-shot", type=int, default=1, help="ViT: split the space by the last stage's depth into this many sub-supernets, each trained 1/K of the epochs")
    args = parser.parse_args()
    if args.standalone_seeds < 1:
        parser.error(f"--standalone-seeds: {args.standalone_seeds} must be >= 1")
    torch.set_num_threads(args.threads)
    os.environ["BENCH_THREADS"] = str(args.threads)  # for the training subprocesses
    budget = QUICK if args.quick else FULL
    budget = dataclasses.replace(
        budget,
        vit_supernet_epochs=args.vit_supernet_epochs or budget.vit_supernet_epochs,
        vit_standalone_epochs=args.vit_standalone_epochs or budget.vit_standalone_epochs,
        bert_supernet_epochs=args.bert_supernet_epochs or budget.bert_supernet_epochs,
        bert_mlm_epochs=budget.bert_mlm_epochs if args.bert_mlm_epochs is None else args.bert_mlm_epochs,
        bert_standalone_epochs=args.bert_standalone_epochs or budget.bert_standalone_epochs,
        bert_train_examples=args.bert_max_train or budget.bert_train_examples,
        ranked_subnets=args.subnets or budget.ranked_subnets,
    )
    if not 1 <= args.bert_archs_per_step <= BERT_BATCH:
        parser.error(f"--bert-archs-per-step: {args.bert_archs_per_step} must be within 1..{BERT_BATCH} (the batch is {BERT_BATCH})")
    parts = set(args.only or ["parity", "multi_arch", "ranking"])
    earlier = earlier_ranking(args.standalone_from) if args.standalone_from else {}
    rung_changes = {k: v for k, v in {"finetune_steps": args.rung_finetune_steps, "train_epochs": args.rung_train_epochs}.items() if v is not None}
    rungs = RungsSpec(**rung_changes) if args.rungs else None

    def references(key: str) -> dict | None:
        """The earlier run's entry for `key` when --standalone-from is given (which must hold it)."""
        if args.standalone_from is None:
            return None
        if key not in earlier:
            parser.error(f"--standalone-from: {args.standalone_from} has no ranking for {key} (it has {sorted(earlier)})")
        return earlier[key]

    device = "cuda" if torch.cuda.is_available() else "cpu"
    results: dict[str, object] = {"budget": budget.__dict__, "device": device, "threads": args.threads}
    started = time.perf_counter()
    digits = load_task("digits")
    vit = get_space("vit-resnas", "small-images")

    if "parity" in parts:
        results["parity_max_abs_diff"] = parity(budget)
    if "multi_arch" in parts:
        results["multi_arch"] = {f"vit-resnas:small-images/digits/batch{b}": multi_arch(vit, digits, budget, batch_size=b) for b in budget.timing_batches}
    if "ranking" in parts:
        results["ranking"] = {}
    if "ranking" in parts and not args.skip_vit:
        vit_options = {"max_train": args.vit_max_train} if args.vit_max_train else {}
        if args.service_defaults:
            train_examples = len(load_task(args.vit_task, **vit_options).train)
            vit_config = TrainConfig.from_spec(SupernetSpec(distill=args.distill), "image", seed=0, device="cpu", train_examples=train_examples)
        else:
            vit_config = TrainConfig(
                epochs=budget.vit_supernet_epochs, batch_size=128, archs_per_step=4, sandwich=True, warmup_epochs=max(1, budget.vit_supernet_epochs // 10),
                mlm_epochs=0, lr=2e-3, seed=0, distill=args.distill,
            )  # fmt: skip
        key = f"vit-resnas:small-images/{args.vit_task}"
        results["ranking"][key] = ranking(
            vit, args.vit_task, vit_options, vit_config, budget.vit_standalone_epochs, budget.ranked_subnets,
            standalone_lr=1e-3, standalone_seeds=args.standalone_seeds, reuse=references(key), spread=args.spread,
            score_finetune_steps=args.score_finetune_steps, few_shot=args.few_shot, rungs=rungs, standalone_init=args.standalone_init,
        )  # fmt: skip
    if "ranking" in parts and not args.skip_flexibert:
        bert = get_space("flexibert", "nas-bench-bert")
        n = args.bert_archs_per_step
        reviews: dict = {"max_train": budget.bert_train_examples} if budget.bert_train_examples else {}
        if args.service_defaults:  # the task's own tokenizer settings, as a job loads it
            train_examples = len(load_task("rotten-tomatoes", **reviews).train)
            bert_config = TrainConfig.from_spec(SupernetSpec(distill=args.distill), "text", seed=0, device="cpu", train_examples=train_examples)
        else:
            bert_config = TrainConfig(epochs=budget.bert_supernet_epochs, mlm_epochs=budget.bert_mlm_epochs, batch_size=BERT_BATCH, archs_per_step=n, sandwich=n >= 2, warmup_epochs=0, lr=1e-3, seed=0, distill=args.distill and n >= 2)
            reviews = {"max_len": 32, "vocab_size": 4000, **reviews}
        key = "flexibert:nas-bench-bert/rotten-tomatoes"
        results["ranking"][key] = ranking(
            bert, "rotten-tomatoes", reviews, bert_config, budget.bert_standalone_epochs, budget.ranked_subnets,
            standalone_lr=1e-3, standalone_seeds=args.standalone_seeds, reuse=references(key), spread=args.spread,
            score_finetune_steps=args.score_finetune_steps, rungs=rungs, standalone_init=args.standalone_init,
        )  # fmt: skip
    results["seconds"] = time.perf_counter() - started
    results["peak_rss_mb"] = peak_rss_mb()
    print_table(results)
    if args.json:
        print(json.dumps(results))


def print_table(results: dict) -> None:
    table = Table(title="supernet benchmark", show_lines=False)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in results.get("parity_max_abs_diff", {}).items():
        table.add_row(f"parity max|standalone - supernet| {key}", f"{value:.2e}")
    for key, value in results.get("multi_arch", {}).items():
        for n in (4, 8):
            ratio = value[f"n{n}_vs_single"]
            table.add_row(f"{key}: n={n} subnets/s vs single", f"{ratio['subnets_per_second_ratio']:.2f}x")
            table.add_row(f"{key}: n={n} step time vs single", f"{ratio['step_time_ratio']:.2f}x")
        table.add_row(f"{key}: single-arch step", f"{value['n1']['seconds_per_step'] * 1000:.0f} ms")
    for key, value in results.get("ranking", {}).items():
        table.add_row(f"{key}: Kendall tau inherited vs standalone (p)", f"{value['kendall_tau']:.3f} ({value['kendall_tau_pvalue']:.2f})")
        table.add_row(f"{key}: Kendall tau params vs standalone", f"{value['kendall_tau_params_vs_standalone']:.3f}")
        if value["standalone_seed_tau"] is not None:
            table.add_row(f"{key}: Kendall tau standalone seed vs seed (ceiling)", f"{value['standalone_seed_tau']:.3f}")
        table.add_row(
            f"{key}: inherited accuracy, train sample / val (mean)",
            f"{statistics.fmean(value['inherited_train_accuracy']):.3f} / {statistics.fmean(value['inherited_val_accuracy']):.3f}",
        )
        for name, judged in value.get("judged_on_other_seeds", {}).items():
            table.add_row(f"{key}: tau vs mean of the other seeds, {name} [95% CI]", f"{judged['tau']:.3f} [{judged['low']:.2f}, {judged['high']:.2f}]")
        halving = value.get("halving") or {}
        if halving.get("compute_vs_standalone") is not None:
            table.add_row(f"{key}: supernet + halving's rung scores / training the {value['subnets']} subnets standalone", f"{halving['compute_vs_standalone']:.1%}")
        if value.get("supernet_vs_standalone_compute") is not None:
            table.add_row(f"{key}: supernet training / training the {value['subnets']} subnets standalone", f"{value['supernet_vs_standalone_compute']:.1%}")
        table.add_row(f"{key}: supernet training peak RSS", f"{value['supernet']['peak_rss_mb']:.0f} MB")
    table.add_row("total seconds", f"{results['seconds']:.0f}")
    table.add_row("peak RSS", f"{results['peak_rss_mb']:.0f} MB")
    Console().print(table)


if __name__ == "__main__":
    main()
