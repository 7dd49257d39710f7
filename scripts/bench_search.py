"""Search benchmark on NAS-Bench-BERT (Serianni & Kalita, ACL 2023; data CC BY 4.0): how many
queries each strategy needs to find a top architecture, and how well surrogates rank held-out
architectures. Tabular replay: every query is a lookup of measured GLUE.

    python scripts/bench_search.py            # 20 seeds, budget 150
    python scripts/bench_search.py --quick    # 5 seeds, smaller budgets
    python scripts/bench_search.py --json --plot best_so_far.png

Queries until a top arch: GLUE >= the 5th-best value (74.506), and the best one; an unreached
target counts as budget + 1. Medians and IQRs over seeds, same seeds for every strategy. The
ceiling section trains each model on 90% of the pool, to show what the search and tau targets ask
of a surrogate that has seen far more than a search does.
"""

from __future__ import annotations

import argparse
import csv
import functools
import inspect
import json
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from scipy.stats import kendalltau, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botorch.fit import fit_gpytorch_mll  # noqa: E402
from botorch.models import SingleTaskGP  # noqa: E402
from botorch.models.transforms import Standardize  # noqa: E402
from gpytorch.mlls import ExactMarginalLogLikelihood  # noqa: E402

from search_spaces import Architecture, get_space, space_names  # noqa: E402
from search_spaces.flexibert.nas_bench_bert import load_nas_bench_bert  # noqa: E402
from surrogates.base import Objective, Strategy  # noqa: E402
from surrogates.baselines import RandomSearch, RegularizedEvolution  # noqa: E402
from surrogates.benchmarks import nas_bench_bert_file  # noqa: E402
from surrogates.boshnas import Boshnas  # noqa: E402
from surrogates.botorch_mo import BotorchMultiObjective  # noqa: E402
from surrogates.embedding import GraphEmbedding  # noqa: E402
from surrogates.encoding import OneHotEncoder  # noqa: E402
from surrogates.features import Standardizer, SurrogateFeatures, clip_low_outliers  # noqa: E402
from surrogates.forest import RandomForestSearch  # noqa: E402
from surrogates.judging import (
    boshnas_predictions,
    boshnas_rows,
    choice_rows,
    depth_width_groups,
    forest_predictions,
    gp_predictions,
    hypervolume_2d,
    near_full_data_ceiling,
    quartiles,
    reaches,
    reference_queries,
    standardized,
)
from surrogates.onehot_gp import OneHotGP  # noqa: E402
from surrogates.optuna_strategies import OptunaStrategy  # noqa: E402
from surrogates.tabular import NAS_BENCH_BERT_TASK, NasBenchBertTable  # noqa: E402

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
            if reached[name] > budget and reaches(metrics["accuracy"], threshold):
                reached[name] = query
        if all(v <= budget for v in reached.values()):
            break
    best_so_far += [best_so_far[-1]] * (budget - len(best_so_far))
    return reached, best_so_far


# The service's strategy names for the library's (onehot-gp and forest exist in the library only).
SERVICE_STRATEGIES = {"random": "random", "evolution": "evolution", "tpe": "tpe", "boshnas": "boshnas"}


def run_service_search(name: str, seed: int, budget: int, targets: dict[str, float], workdir: Path) -> tuple[dict[str, int], list[float]]:
    """One search as a user runs it: a benchmark-mode job (task nas-bench-bert, accuracy only)
    submitted to a store and run by the service's coordinator on Ray actors, with the job's own
    defaults (one evaluator with a candidate queued behind the running one, the graph embedding
    seeded from the job's seed). Queries are counted in proposal order."""
    from nas.search.coordinator import Coordinator
    from nas.service import submit_job
    from nas.store import Store

    store = Store(f"sqlite:///{workdir / f'{name}-{seed}.db'}")
    try:
        spec = {"name": f"bench-{name}-{seed}", "space": "flexibert", "task": "nas-bench-bert", "objectives": [{"metric": "accuracy"}],
                "strategy": SERVICE_STRATEGIES[name], "budget": {"candidates": budget}, "seed": seed}  # fmt: skip
        job = submit_job(store, spec)
        finished = Coordinator(store, jobs_dir=workdir / "jobs").run_next(job.id)
        if finished.status != "succeeded":
            raise SystemExit(f"service search {name} seed {seed}: job {finished.status} ({finished.error})")
        glue = [c.metrics["accuracy"] for c in store.candidates(job.id, "done")]  # proposal order
    finally:
        store.close()
    reached = {k: next((i + 1 for i, g in enumerate(glue) if reaches(g, threshold)), budget + 1) for k, threshold in targets.items()}
    return reached, np.maximum.accumulate(glue).tolist() + [max(glue)] * (budget - len(glue))


def summary(values: list[int]) -> dict[str, object]:
    return {**quartiles(values), "values": values}


def kendall_taus(table: NasBenchBertTable, features: SurrogateFeatures, sizes: list[int], seeds: int) -> dict[str, dict[str, float]]:
    """Surrogate predictions vs true GLUE on held-out archs, same splits for every model. BOSHNAS is
    measured as the strategy builds it (embedding, costs and one-hot choices) and without the
    one-hot columns, to show what each input adds."""
    pool = table.pool
    y = np.array([table.glue[a.arch_id] for a in pool])
    encoder = OneHotEncoder(pool)
    onehot = encoder(pool)
    rows = features(pool)
    rows_with_choices = boshnas_rows(table, features)
    choices = choice_rows(table, features)
    out: dict[str, dict[str, float]] = {}
    for size in sizes:
        taus: dict[str, list[float]] = {"boshnas": [], "boshnas-no-onehot": [], "gp-embedding": [], "gp-onehot": [], "random-forest": []}
        for seed in range(seeds):
            order = np.random.default_rng(seed).permutation(len(pool))
            train, test = order[:size], order[size:]
            targets = clip_low_outliers(y[train])
            x = standardized(rows, train)
            torch.manual_seed(seed)
            taus["gp-embedding"].append(kendalltau(gp_predictions(x, train, test, targets), y[test]).statistic)
            # The ablation: BoTorch's default GP on the one-hot encoding, raw targets.
            plain = SingleTaskGP(onehot[train], torch.tensor(y[train])[:, None], outcome_transform=Standardize(m=1))
            fit_gpytorch_mll(ExactMarginalLogLikelihood(plain.likelihood, plain))
            with torch.no_grad():
                taus["gp-onehot"].append(kendalltau(plain.posterior(onehot[test]).mean.squeeze(-1).numpy(), y[test]).statistic)
            taus["boshnas-no-onehot"].append(kendalltau(boshnas_predictions(x, train, test, targets), y[test]).statistic)
            taus["boshnas"].append(kendalltau(boshnas_predictions(standardized(rows_with_choices, train), train, test, targets), y[test]).statistic)
            taus["random-forest"].append(kendalltau(forest_predictions(choices, train, test, targets, seed), y[test]).statistic)
        out[str(size)] = {name: float(np.mean(v)) for name, v in taus.items()}
        console.log(f"kendall tau at {size}: {out[str(size)]}")
    return out


def within_group_taus(table: NasBenchBertTable, folds: int = 10) -> dict[str, dict[str, float]]:
    """How much of GLUE can be predicted inside one (depth, width) group: Kendall tau of 10-fold
    cross-validated ridge predictions on the one-hot encoding, each fold trained on the rest of
    the group (~110 archs). GLUE and STS (whose fine-tuning sometimes fails) are reported."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict

    out = {}
    for (layers, hidden), members in sorted(depth_width_groups(table.pool).items()):
        x = OneHotEncoder(members)(members).numpy()
        row: dict[str, float] = {"archs": len(members)}
        for metric in ("glue", "sts"):
            target = np.array([table.task_scores[a.arch_id][metric] for a in members])
            predicted = cross_val_predict(RidgeCV(alphas=np.logspace(-2, 3, 20)), x, target, cv=KFold(folds, shuffle=True, random_state=0))
            row[f"{metric}_tau"] = float(kendalltau(predicted, target).statistic)
            row[f"{metric}_std"] = float(target.std())
        out[f"{layers} layers x {hidden}"] = row
    return out


def training_free_taus(table: NasBenchBertTable, path: Path) -> dict[str, float]:
    """Kendall tau of each training-free metric of BERT_results_activation.csv (and our exact
    parameter count) with mean GLUE, over all benchmark architectures."""
    ids = {r.record_id: r.arch.arch_id for r in load_nas_bench_bert(table_path(path))}
    columns: dict[str, dict[str, list[float]]] = {}
    with path.open() as handle:
        for row in csv.DictReader(handle):
            arch_id = ids[int(row["ID"])]
            for name, value in row.items():
                if name not in ("ID", "GLUE Score") and not name.endswith("Normalized"):
                    columns.setdefault(name, {}).setdefault(arch_id, []).append(float(value))
    arch_ids = sorted(table.glue)
    glue = [table.glue[a] for a in arch_ids]
    out = {name: abs(float(kendalltau([np.mean(values[a]) for a in arch_ids], glue).statistic)) for name, values in columns.items()}
    out["our parameter count"] = float(kendalltau([table.costs[a].params for a in arch_ids], glue).statistic)
    return out


def table_path(activation_csv: Path) -> Path:
    return activation_csv.with_name("BERT_benchmark.json")


def hypervolumes(table: NasBenchBertTable, queries: int, seeds: int) -> dict[str, dict[str, float]]:
    """GLUE (max) vs params (min) after `queries` evaluations, as a fraction of the true front's
    hypervolume; reference point: the worst GLUE and the largest model of the benchmark."""
    def point(arch: Architecture) -> list[float]:
        return [table.glue[arch.arch_id], -float(table.costs[arch.arch_id].params)]

    every = np.array([point(a) for a in table.pool])
    reference = every.min(0) - 1e-9
    full = hypervolume_2d(every, reference)
    params_objective = Objective("params", maximize=False)
    factories = {
        "botorch": lambda s: BotorchMultiObjective(table.space, pool=table.pool, seed=s, task=NAS_BENCH_BERT_TASK, secondary=[params_objective]),
        "nsga2": lambda s: OptunaStrategy(table.space, pool=table.pool, seed=s, sampler="nsga2", secondary=[params_objective]),
        "random": lambda s: RandomSearch(table.space, pool=table.pool, seed=s),
    }
    out = {}
    for name, make in factories.items():
        fractions = []
        for seed in range(seeds):
            strategy = make(seed)
            for _ in range(queries):
                arch = strategy.ask(1)[0]
                strategy.tell(arch, table.evaluate(arch))
            fractions.append(hypervolume_2d(np.array([point(a) for a, _ in strategy.observed.values()]), reference) / full)
        out[name] = {"median": float(np.median(fractions)), "values": fractions}
        console.log(f"hypervolume after {queries}: {name} {out[name]['median']:.3f}")
    return out


def embedding_fidelity(pairs: int, timed: int) -> dict[str, dict[str, float]]:
    """Per space and preset, for the default embedding (16 dims, 128 landmarks): Spearman
    correlation between embedding distance and WL graph distance on `pairs` random pairs, and
    seconds to embed `timed` fresh random architectures (graph building included; an already
    built embedding, as a running search has)."""
    out: dict[str, dict[str, float]] = {}
    for name in space_names():
        for preset in get_space(name).presets:
            space = get_space(name, preset)
            rng = random.Random(1)
            first, second = [space.sample(rng) for _ in range(pairs)], [space.sample(rng) for _ in range(pairs)]
            many = [space.sample(rng) for _ in range(timed)]
            embedding = GraphEmbedding(space, seed=0)
            graph = embedding.graph_distances(first, second)
            vectors = np.linalg.norm(embedding.embed(first) - embedding.embed(second), axis=1)
            started = time.perf_counter()
            embedding.embed(many)
            seconds = time.perf_counter() - started
            row = {"spearman": float(spearmanr(graph, vectors).statistic), "explained_variance": embedding.explained, f"seconds_{timed}": seconds}
            out[f"{name}/{preset}"] = row
            console.log(f"embedding {name}/{preset}: spearman {row['spearman']:.3f} on {pairs} pairs, {timed} archs in {seconds:.1f} s")
    return out


def propose_seconds(observations: list[int], repeats: int = 1) -> dict[str, dict[str, float]]:
    """Seconds for one ask(8) after `n` synthetic observations on the flexibert preset (accuracy
    from a fixed random linear function of the features plus noise): the first ask embeds every
    observation once; the next one, after 8 more results, is what a running job pays."""
    space = get_space("flexibert", "flexibert")
    rng = random.Random(0)
    archs = list({a.arch_id: a for a in (space.sample(rng) for _ in range(max(observations) + 64))}.values())
    features = SurrogateFeatures(space, seed=0)
    weights = np.random.default_rng(0).normal(size=features.dim)
    out: dict[str, dict[str, float]] = {}
    for n in observations:
        rows = features(archs[: n + 8])
        scores = Standardizer(rows)(rows) @ weights + np.random.default_rng(1).normal(scale=0.5, size=len(rows))
        makers = {"boshnas": Boshnas, "boshnas-no-onehot": functools.partial(Boshnas, one_hot=False), "botorch": BotorchMultiObjective}
        for name, make in makers.items():
            strategy = make(space, seed=0, embedding=features.embedding)
            for arch, score, row in zip(archs[:n], scores, rows):
                strategy.tell(arch, {"accuracy": float(score), "params": float(np.exp(row[features.column("log_params")]))})
            started = time.perf_counter()
            strategy.ask(8)
            first = time.perf_counter() - started
            for arch, score, row in zip(archs[n : n + 8], scores[n:], rows[n:]):
                strategy.tell(arch, {"accuracy": float(score), "params": float(np.exp(row[features.column("log_params")]))})
            started = time.perf_counter()
            strategy.ask(8)
            out.setdefault(name, {})[str(n)] = time.perf_counter() - started
            out[name][f"{n}_first"] = first
            console.log(f"propose ask(8) with {n} observations: {name} first {first:.2f} s, next {out[name][str(n)]:.2f} s")
    return out


SECTIONS = ("embedding", "search", "tau", "ceiling", "hypervolume", "propose")
STRATEGIES = ("random", "evolution", "tpe", "onehot-gp", "forest", "boshnas")
# Boshnas parameters the benchmark sets itself; --boshnas-options may set any other.
BOSHNAS_SET_BY_BENCHMARK = {"self", "space", "pool", "seed", "embedding", "task", "common"}


def json_object(text: str) -> dict:
    """--boshnas-options: a JSON object of Boshnas keyword arguments."""
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not JSON ({error})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object of Boshnas keyword arguments")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--plot", type=Path, help="PNG of best-so-far GLUE vs queries per strategy")
    parser.add_argument("--data", type=Path, default=None, help="a BERT_benchmark.json (default: the copy shipped with the package)")
    parser.add_argument("--seeds", type=int, help="search seeds (default 20, --quick 5)")
    parser.add_argument("--first-seed", type=int, default=0, help="search seeds run from here (a second seed set, to check a choice made on the first)")
    parser.add_argument("--boshnas-options", type=json_object, default={}, help='BOSHNAS keyword arguments as JSON, e.g. \'{"k1": 0.5, "k2": 0.5}\' (to compare settings)')
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--strategies", help=f"search section: comma-separated subset of {','.join(STRATEGIES)}")
    parser.add_argument(
        "--loop", choices=("service", "library"), default="service",
        help="search section: jobs run by the service's coordinator, as users run them (strategies: " + ", ".join(SERVICE_STRATEGIES)
        + "), or the strategies driven one proposal at a time with one shared seed-0 embedding (the figures before 2026-12-01)",
    )  # fmt: skip
    args = parser.parse_args()
    sections = set(args.only.split(","))
    if not sections <= set(SECTIONS):
        parser.error(f"--only: {sorted(sections - set(SECTIONS))} not in {list(SECTIONS)}")
    settable = set(inspect.signature(Boshnas).parameters) - BOSHNAS_SET_BY_BENCHMARK
    if set(args.boshnas_options) - settable:
        parser.error(f"--boshnas-options: {sorted(set(args.boshnas_options) - settable)} not in {sorted(settable)}")
    torch.set_num_threads(1)
    # --quick must finish in under 3 minutes on 2 cores: the GP strategies' cost grows with the budget
    # (docs/benchmarks/search.md).
    seeds, budget = (5, 35) if args.quick else (20, 150)
    seeds = args.seeds or seeds
    args.data = args.data or nas_bench_bert_file()
    table = NasBenchBertTable(args.data)
    features = SurrogateFeatures(table.space, task=NAS_BENCH_BERT_TASK, seed=0)
    targets = {"top5": table.kth_best(5), "best": table.kth_best(1)}
    factories = {
        "random": lambda s: RandomSearch(table.space, pool=table.pool, seed=s),
        "evolution": lambda s: RegularizedEvolution(table.space, pool=table.pool, seed=s),
        "tpe": lambda s: OptunaStrategy(table.space, pool=table.pool, seed=s),
        "onehot-gp": lambda s: OneHotGP(table.space, pool=table.pool, seed=s),
        "forest": lambda s: RandomForestSearch(table.space, pool=table.pool, seed=s, task=NAS_BENCH_BERT_TASK),
        "boshnas": lambda s: Boshnas(table.space, pool=table.pool, seed=s, embedding=features.embedding, task=NAS_BENCH_BERT_TASK, **args.boshnas_options),
    }
    results: dict[str, object] = {"seeds": seeds, "first_seed": args.first_seed, "budget": budget, "targets": targets, "boshnas_options": args.boshnas_options}
    started = time.perf_counter()
    queries: dict[str, dict[str, object]] = {}
    curves: dict[str, list[float]] = {}
    available = list(SERVICE_STRATEGIES) if args.loop == "service" else list(factories)
    chosen = args.strategies.split(",") if args.strategies else available
    if not set(chosen) <= set(available):
        parser.error(f"--strategies: {sorted(set(chosen) - set(available))} not in {available} (--loop {args.loop})")
    results["loop"] = args.loop
    if "embedding" in sections:
        results["embedding"] = embedding_fidelity(*((300, 1000) if args.quick else (1000, 10000)))
    if "search" in sections:
        import logging
        import tempfile

        logging.getLogger("nas").setLevel(logging.WARNING)
        workdir = Path(tempfile.mkdtemp(prefix="bench-search-"))
        for name in chosen:
            reached: dict[str, list[int]] = {k: [] for k in targets}
            per_seed_curves = []
            for seed in range(args.first_seed, args.first_seed + seeds):
                if args.loop == "service":
                    hit, curve = run_service_search(name, seed, budget, targets, workdir)
                else:
                    hit, curve = run_search(factories[name](seed), table, budget, targets)
                for k, v in hit.items():
                    reached[k].append(v)
                per_seed_curves.append(curve)
            queries[name] = {k: summary(v) for k, v in reached.items()}
            curves[name] = np.mean(per_seed_curves, axis=0).tolist()
            console.log(f"{name}: top5 median {queries[name]['top5']['median']}, best median {queries[name]['best']['median']}")
        results["top1pct_queries"] = queries
        results["top1pct_reference"] = reference_queries(table, targets["top5"])
    if "tau" in sections:
        results["kendall_tau"] = kendall_taus(table, features, [50, 100] if args.quick else [50, 100, 200], 2 if args.quick else 5)
        results["training_free_tau"] = training_free_taus(table, args.data.with_name("BERT_results_activation.csv"))
        results["within_group_tau"] = within_group_taus(table)
    if "ceiling" in sections:
        ceiling = results["ceiling"] = near_full_data_ceiling(table, features, **({"folds": 5, "repeats": 1} if args.quick else {}))
        for name, row in ceiling["models"].items():
            console.log(f"ceiling {name}: tau {row['tau']:.3f}, greedy {row['greedy_queries']['values']}, after {ceiling['initial']} random {row['after_random_design']}")
    if "hypervolume" in sections:
        hypervolume_queries = 20 if args.quick else 50
        results["hypervolume_queries"] = hypervolume_queries
        results["hypervolume"] = hypervolumes(table, hypervolume_queries, 2 if args.quick else 5)
    if "propose" in sections:
        results["propose_seconds"] = propose_seconds([200] if args.quick else [1000, 10000])
    results["seconds"] = time.perf_counter() - started
    if args.plot and curves:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        for name, curve in curves.items():
            plt.plot(range(1, len(curve) + 1), curve, label=name)
        plt.xlabel("queries")
        plt.ylabel("best GLUE so far (mean over seeds)")
        plt.title(f"NAS-Bench-BERT, {seeds} seeds")
        plt.legend()
        plt.savefig(args.plot, dpi=120)
    print_tables(results)
    if args.json:
        print(json.dumps(results))


def print_tables(results: dict) -> None:
    out = Console()
    if "top1pct_queries" in results:
        table = Table(title=f"queries until found, {results.get('loop', 'library')} loop (budget {results['budget']}, {results['seeds']} seeds; unreached = budget + 1)")
        for column in ("strategy", "top-5 median [IQR]", "best median [IQR]"):
            table.add_column(column)
        for name, q in results["top1pct_queries"].items():
            table.add_row(name, f"{q['top5']['median']:.0f} {q['top5']['iqr']}", f"{q['best']['median']:.0f} {q['best']['iqr']}")
        out.print(table)
        for name, ref in results["top1pct_reference"].items():
            out.print(f"reference, exact: {name} needs a median of {ref['median']:.0f} {ref['iqr']} queries to a top-5 arch")
    if "kendall_tau" in results:
        table = Table(title="Kendall tau on held-out architectures")
        table.add_column("training archs")
        names = list(next(iter(results["kendall_tau"].values())))
        for name in names:
            table.add_column(name)
        for size, taus in results["kendall_tau"].items():
            table.add_row(size, *(f"{taus[n]:.3f}" for n in names))
        out.print(table)
        out.print({k: round(v, 3) for k, v in results["training_free_tau"].items()})
        out.print("within (depth, width) groups, 10-fold CV ridge on one-hot:", {g: {k: round(v, 3) for k, v in row.items()} for g, row in results["within_group_tau"].items()})
    if "ceiling" in results:
        ceiling = results["ceiling"]
        table = Table(title=f"ceiling: models trained on ~{ceiling['training_archs']} archs ({ceiling['folds']}-fold x {ceiling['repeats']}), the pool evaluated in the order of their held-out predictions")
        for column in ("model", "held-out tau", "queries to a top-5 arch, greedy (per repeat)", f"after {ceiling['initial']} random archs, median [IQR]"):
            table.add_column(column)
        for name, row in ceiling["models"].items():
            after = row["after_random_design"]
            table.add_row(name, f"{row['tau']:.3f}", str(row["greedy_queries"]["values"]), f"{after['median']:.0f} {after['iqr']}")
        group = ceiling["random_in_best_group_after_random_design"]
        table.add_row("no model: random inside the best (depth, width) group", "", "", f"{group['median']:.0f} {group['iqr']}")
        out.print(table)
    if "embedding" in results:
        table = Table(title="graph embedding (16 dims): Spearman of embedding vs graph distance, embedding time")
        for column in ("space/preset", "Spearman", "explained variance", "seconds"):
            table.add_column(column)
        for name, row in results["embedding"].items():
            seconds = next(f"{v:.1f} ({k.removeprefix('seconds_')} archs)" for k, v in row.items() if k.startswith("seconds_"))
            table.add_row(name, f"{row['spearman']:.3f}", f"{row['explained_variance']:.2f}", seconds)
        out.print(table)
    for key in ("hypervolume", "propose_seconds"):
        if key in results:
            out.print(key, results[key])


if __name__ == "__main__":
    main()
