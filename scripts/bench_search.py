"""Search benchmark on NAS-Bench-BERT (Serianni & Kalita, ACL 2023; data CC BY 4.0): how many
queries each strategy needs to find a top architecture, and how well surrogates rank held-out
architectures. Tabular replay: every query is a lookup of measured GLUE.

    python scripts/bench_search.py            # 20 seeds, budget 150
    python scripts/bench_search.py --quick    # 5 seeds, smaller budgets
    python scripts/bench_search.py --json --plot best_so_far.png

Queries until a top arch: GLUE >= the 5th-best value (74.506), and the best one; an unreached
target counts as budget + 1. Medians and IQRs over seeds, same seeds for every strategy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from scipy.stats import kendalltau

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from surrogates.base import Strategy  # noqa: E402
from surrogates.baselines import RandomSearch, RegularizedEvolution  # noqa: E402
from surrogates.boshnas import Boshnas, BoshnasSurrogate  # noqa: E402
from surrogates.embedding import GraphEmbedding  # noqa: E402
from surrogates.onehot_gp import OneHotGP  # noqa: E402
from surrogates.optuna_strategies import OptunaStrategy  # noqa: E402
from surrogates.tabular import NasBenchBertTable  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "nas_bench_bert" / "BERT_benchmark.json"
console = Console(stderr=True)
warnings.filterwarnings("ignore")


def run_search(strategy: Strategy, table: NasBenchBertTable, budget: int, targets: dict[str, float]) -> tuple[dict[str, int], list[float]]:
    reached = {name: budget + 1 for name in targets}
    best_so_far: list[float] = []
    for query in range(1, budget + 1):
        proposals = strategy.ask(1)
        if not proposals:
            break
        metrics = table.evaluate(proposals[0])
        strategy.tell(proposals[0], metrics)
        best_so_far.append(max(metrics["accuracy"], best_so_far[-1] if best_so_far else -1.0))
        for name, threshold in targets.items():
            if reached[name] > budget and metrics["accuracy"] >= threshold - 1e-9:
                reached[name] = query
        if all(v <= budget for v in reached.values()):
            break
    best_so_far += [best_so_far[-1]] * (budget - len(best_so_far))
    return reached, best_so_far


def summary(values: list[int]) -> dict[str, float]:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "iqr": [float(q1), float(q3)], "values": values}


def kendall_taus(table: NasBenchBertTable, embedding: GraphEmbedding, sizes: list[int], seeds: int) -> dict[str, dict[str, float]]:
    """Surrogate predictions vs true GLUE on held-out archs, same splits for every model."""
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from surrogates.onehot_gp import OneHotEncoder

    pool = table.pool
    y = np.array([table.glue[a.arch_id] for a in pool])
    features = {"embedding": embedding.embed(pool), "onehot": OneHotEncoder(pool)(pool).numpy()}
    out: dict[str, dict[str, float]] = {}
    for size in sizes:
        taus: dict[str, list[float]] = {"boshnas": [], "gp-embedding": [], "gp-onehot": []}
        for seed in range(seeds):
            order = np.random.default_rng(seed).permutation(len(pool))
            train, test = order[:size], order[size:]
            for name, key in (("gp-embedding", "embedding"), ("gp-onehot", "onehot")):
                x = torch.tensor(features[key], dtype=torch.float64)
                gp = SingleTaskGP(x[train], torch.tensor(y[train])[:, None], outcome_transform=Standardize(m=1))
                fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
                with torch.no_grad():
                    taus[name].append(kendalltau(gp.posterior(x[test]).mean.squeeze(-1).numpy(), y[test]).statistic)
            e = features["embedding"]
            center, scale = e[train].mean(0), e[train].std(0) + 1e-6
            x = torch.tensor((e - center) / scale, dtype=torch.float32)
            yt = torch.tensor((y[train] - y[train].mean()) / y[train].std(), dtype=torch.float32)
            torch.manual_seed(seed)
            surrogate = BoshnasSurrogate(x.shape[1])
            surrogate.fit(x[train], yt, x)
            with torch.no_grad():
                taus["boshnas"].append(kendalltau(surrogate.parts(x[test])[0].numpy(), y[test]).statistic)
        out[str(size)] = {name: float(np.mean(v)) for name, v in taus.items()}
        console.log(f"kendall tau at {size}: {out[str(size)]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--plot", type=Path, help="PNG of best-so-far GLUE vs queries per strategy")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds, budget = (5, 60) if args.quick else (20, 150)
    table = NasBenchBertTable(args.data)
    embedding = GraphEmbedding(table.space, seed=0)
    targets = {"top5": table.kth_best(5), "best": table.kth_best(1)}
    factories = {
        "random": lambda s: RandomSearch(table.space, pool=table.pool, seed=s),
        "evolution": lambda s: RegularizedEvolution(table.space, pool=table.pool, seed=s),
        "tpe": lambda s: OptunaStrategy(table.space, pool=table.pool, seed=s),
        "onehot-gp": lambda s: OneHotGP(table.space, pool=table.pool, seed=s),
        "boshnas": lambda s: Boshnas(table.space, pool=table.pool, seed=s, embedding=embedding),
    }
    results: dict[str, object] = {"seeds": seeds, "budget": budget, "targets": targets}
    started = time.perf_counter()
    queries: dict[str, dict[str, object]] = {}
    curves: dict[str, list[float]] = {}
    for name, make in factories.items():
        reached: dict[str, list[int]] = {k: [] for k in targets}
        per_seed_curves = []
        for seed in range(seeds):
            hit, curve = run_search(make(seed), table, budget, targets)
            for k, v in hit.items():
                reached[k].append(v)
            per_seed_curves.append(curve)
        queries[name] = {k: summary(v) for k, v in reached.items()}
        curves[name] = np.mean(per_seed_curves, axis=0).tolist()
        console.log(f"{name}: top5 median {queries[name]['top5']['median']}, best median {queries[name]['best']['median']}")
    results["top1pct_queries"] = queries
    results["kendall_tau"] = kendall_taus(table, embedding, [50, 100, 200], 2 if args.quick else 5)
    results["seconds"] = time.perf_counter() - started
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        for name, curve in curves.items():
            plt.plot(range(1, len(curve) + 1), curve, label=name)
        plt.xlabel("queries")
        plt.ylabel("best GLUE so far (mean over seeds)")
        plt.legend()
        plt.savefig(args.plot, dpi=120)
    table_out = Table(title="search on NAS-Bench-BERT")
    for column in ("strategy", "queries to top-5 (median [IQR])", "queries to best"):
        table_out.add_column(column)
    for name, q in queries.items():
        table_out.add_row(name, f"{q['top5']['median']:.0f} {q['top5']['iqr']}", f"{q['best']['median']:.0f} {q['best']['iqr']}")
    Console().print(table_out)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
