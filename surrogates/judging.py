"""How a search strategy or a surrogate is judged on the NAS-Bench-BERT table: queries until a top
architecture is evaluated, the exact quartiles of random draws, the model-free reference group,
the near-full-data ceiling of the surrogate models (and the predictions it is built from), and the
2-D hypervolume of a GLUE vs size front. scripts/bench_search.py prints these figures."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy.stats import kendalltau

from search_spaces import Architecture
from surrogates.boshnas import BoshnasSurrogate
from surrogates.botorch_mo import gp_on_features
from surrogates.encoding import OneHotEncoder
from surrogates.features import Standardizer, SurrogateFeatures, clip_low_outliers
from surrogates.forest import fit_forest
from surrogates.tabular import NasBenchBertTable


def reaches(glue: float, threshold: float) -> bool:
    """Whether a GLUE score meets a target (thresholds are benchmark values: equal counts)."""
    return glue >= threshold - 1e-9


def quartiles(values: Sequence[float]) -> dict[str, object]:
    """Median and interquartile range of `values`."""
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "iqr": [float(q1), float(q3)]}


def random_draw_quartiles(size: int, hits: int) -> dict[str, float]:
    """Exact quartiles of the number of uniform draws without replacement from `size` items, `hits`
    of them targets, until the first target: P(more than t draws) = C(size-hits, t) / C(size, t)."""
    miss, out = 1.0, {}
    for t in range(1, size - hits + 2):
        miss *= (size - hits - t + 1) / (size - t + 1)
        for name, q in (("q1", 0.25), ("median", 0.5), ("q3", 0.75)):
            if name not in out and 1 - miss >= q:
                out[name] = t
    return {"median": float(out["median"]), "iqr": [float(out["q1"]), float(out["q3"])]}


def depth_width_groups(archs: list[Architecture]) -> dict[tuple[int, int], list[Architecture]]:
    """Architectures by (number of layers, hidden size), the two choices that set most of GLUE."""
    groups: dict[tuple[int, int], list[Architecture]] = {}
    for arch in archs:
        groups.setdefault((len(arch.layers), arch.layers[0].hidden), []).append(arch)
    return groups


def best_group(table: NasBenchBertTable) -> tuple[tuple[int, int], list[Architecture]]:
    """The (depth, width) group holding the best architecture, and its members."""
    pool = table.pool
    best = max(pool, key=lambda a: table.glue[a.arch_id])
    return next((key, group) for key, group in depth_width_groups(pool).items() if best in group)


def reference_queries(table: NasBenchBertTable, threshold: float) -> dict[str, object]:
    """What a top-5 search costs without a model, and with perfect knowledge of depth and width:
    random search over the whole pool, and over only the (depth, width) group holding the best
    architecture. The second is the bar a surrogate must clear by ranking archs inside a group."""
    pool = table.pool
    (layers, hidden), members = best_group(table)

    def hits(archs: list[Architecture]) -> int:
        return sum(reaches(table.glue[a.arch_id], threshold) for a in archs)

    hits_in_pool, hits_in_group = hits(pool), hits(members)
    return {
        "random_in_pool": random_draw_quartiles(len(pool), hits_in_pool),
        "random_in_best_group": {
            "group": {"layers": layers, "hidden": hidden}, "size": len(members), "top5_in_group": hits_in_group,
            **random_draw_quartiles(len(members), hits_in_group),
        },
    }  # fmt: skip


def standardized(rows: np.ndarray, train: np.ndarray) -> torch.Tensor:
    """All rows, scaled by the training rows' statistics."""
    return torch.tensor(Standardizer(rows[train])(rows), dtype=torch.float64)


def gp_predictions(x: torch.Tensor, train: np.ndarray, test: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The BoTorch GP's posterior mean on the test rows (the multi-objective strategy's model)."""
    gp = gp_on_features(x[train], torch.tensor(targets))
    with torch.no_grad():
        return gp.posterior(x[test]).mean.squeeze(-1).numpy()


def boshnas_rows(table: NasBenchBertTable, features: SurrogateFeatures) -> np.ndarray:
    """BOSHNAS's inputs as the strategy builds them: embedding, costs and one-hot choices."""
    return SurrogateFeatures(table.space, features.embedding, features.task, one_hot=OneHotEncoder(table.pool))(table.pool)


def choice_rows(table: NasBenchBertTable, features: SurrogateFeatures) -> np.ndarray:
    """The forest strategy's inputs, which also served ridge and boosting best: the exact log
    params / FLOPs and the one-hot choices, no embedding."""
    return SurrogateFeatures(table.space, task=features.task, one_hot=OneHotEncoder(table.pool), graph=False)(table.pool)


def forest_predictions(x: np.ndarray, train: np.ndarray, test: np.ndarray, targets: np.ndarray, seed: int) -> np.ndarray:
    """The forest strategy's model: its mean on the test rows."""
    return fit_forest(x[train], targets, seed).predict(x[test])


def boshnas_predictions(x: torch.Tensor, train: np.ndarray, test: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The BOSHNAS teacher's mean on the test rows after fitting the training rows (as the strategy fits)."""
    surrogate = BoshnasSurrogate(x.shape[1])
    surrogate.fit(x[train].float(), torch.tensor((targets - targets.mean()) / targets.std(), dtype=torch.float32), x.float())
    with torch.no_grad():
        return surrogate.parts(x[test].float())[0].numpy()


def queries_until_hit(first: Sequence[int], then: Sequence[int], hit: np.ndarray) -> int:
    """Queries until a target arch is evaluated, evaluating the pool indices `first` and then those
    of `then` not already evaluated; len(first) + len(then) + 1 if none hits."""
    done = set(first)
    sequence = [*first, *(i for i in then if i not in done)]
    return next((query for query, index in enumerate(sequence, 1) if hit[index]), len(sequence) + 1)


def near_full_data_ceiling(
    table: NasBenchBertTable, features: SurrogateFeatures, folds: int = 10, repeats: int = 5, designs: int = 200, initial: int = 10
) -> dict[str, object]:
    """What the search and tau targets ask of a surrogate, measured with far more data than a
    search ever has: each model is trained on (folds - 1) / folds of the pool (~440 archs) and
    predicts the held-out fold; `repeats` shuffles of the folds. Per model: Kendall tau on the
    held-out archs (mean over folds), and, evaluating the pool in the order of these
    cross-validated predictions, the queries to a top-5 arch from the first query (greedy; one
    value per repeat) and after `initial` random archs, as the strategies start (median and IQR
    over `designs` seeded random designs per repeat). Beside them, model-free: after the same
    random designs, uniformly random archs from the (depth, width) group that holds every top-5
    arch, i.e. perfect knowledge of depth and width and none of the rest."""
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold

    pool = table.pool
    y = np.array([table.glue[a.arch_id] for a in pool])
    hit = np.array([reaches(v, table.kth_best(5)) for v in y])
    rows = features(pool)
    rows_with_choices = boshnas_rows(table, features)
    choices = choice_rows(table, features)
    predictors: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]] = {
        "ridge (costs, one-hot)": lambda train, test, targets, seed: RidgeCV(alphas=np.logspace(-2, 3, 20)).fit(choices[train], targets).predict(choices[test]),
        "random forest (costs, one-hot)": lambda train, test, targets, seed: forest_predictions(choices, train, test, targets, seed),
        "gradient boosting (costs, one-hot)": lambda train, test, targets, seed: GradientBoostingRegressor(n_estimators=200, max_depth=3, learning_rate=0.05, subsample=0.8, random_state=seed).fit(choices[train], targets).predict(choices[test]),
        "BoTorch GP (embedding, costs)": lambda train, test, targets, seed: gp_predictions(standardized(rows, train), train, test, targets),
        "BOSHNAS surrogate (embedding, costs, one-hot)": lambda train, test, targets, seed: boshnas_predictions(standardized(rows_with_choices, train), train, test, targets),
    }  # fmt: skip
    rng = np.random.default_rng(0)
    group = [pool.index(a) for a in best_group(table)[1]]
    taus: dict[str, list[float]] = {name: [] for name in predictors}
    greedy: dict[str, list[int]] = {name: [] for name in predictors}
    after_design: dict[str, list[int]] = {name: [] for name in predictors}
    in_group: list[int] = []
    for repeat in range(repeats):
        predictions = {name: np.zeros(len(pool)) for name in predictors}
        for fold, (train, test) in enumerate(KFold(folds, shuffle=True, random_state=repeat).split(y)):
            targets = clip_low_outliers(y[train])
            for name, predict in predictors.items():
                torch.manual_seed(repeat * folds + fold)
                predictions[name][test] = predict(train, test, targets, repeat * folds + fold)
                taus[name].append(float(kendalltau(predictions[name][test], y[test]).statistic))
        starts = [rng.choice(len(pool), initial, replace=False).tolist() for _ in range(designs)]
        for name, predicted in predictions.items():
            order = np.argsort(-predicted).tolist()
            greedy[name].append(queries_until_hit([], order, hit))
            after_design[name] += [queries_until_hit(start, order, hit) for start in starts]
        in_group += [queries_until_hit(start, rng.permutation(group).tolist(), hit) for start in starts]
    out: dict[str, object] = {
        "training_archs": int(len(pool) * (folds - 1) / folds),
        "folds": folds,
        "repeats": repeats,
        "initial": initial,
        "designs": designs * repeats,
    }
    out["models"] = {
        name: {"tau": float(np.mean(taus[name])), "greedy_queries": {**quartiles(greedy[name]), "values": greedy[name]}, "after_random_design": quartiles(after_design[name])}
        for name in predictors
    }  # fmt: skip
    out["random_in_best_group_after_random_design"] = quartiles(in_group)
    return out


def hypervolume_2d(points: np.ndarray, reference: np.ndarray) -> float:
    """Area dominated by `points` (both columns maximised) above `reference`."""
    points = points[np.all(points > reference, axis=1)]
    if len(points) == 0:
        return 0.0
    points = points[np.argsort(-points[:, 0])]
    area, best_second = 0.0, reference[1]
    for first, second in points:
        if second > best_second:
            area += (first - reference[0]) * (second - best_second)
            best_second = second
    return area
