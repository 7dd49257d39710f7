"""How well a latency predictor (`nas.export.latency_model`) calibrated on a few measured
candidates predicts the latency of the others, per search space and task shape.

    python scripts/bench_latency_predictor.py --json out.json             # measure, then fit
    python scripts/bench_latency_predictor.py --measurements out.json     # refit on those measurements

For each (space, task): the plain family and `--archs` random architectures, measured with
`measure_latency` at the default settings (ONNX Runtime, batch 1, one thread; at most
`--max-seconds` of timed calls) in `--passes` passes over all of them. A shared machine only ever
slows a call, so the lowest figure of the passes is the one the models are fitted to and judged
on; how well one pass ranks and matches the other (every architecture measured twice, a minute or
more apart) bounds what any predictor can reach against a single measurement on this machine.
Then, for each calibration size and `--splits` random splits: fit on that many, predict the rest,
and report Kendall's tau and the mean relative error on the held-out ones, for the operator
predictor and for baselines (latency proportional to FLOPs; linear in FLOPs and parameters;
gradient-boosted trees and a random forest on the space's features and costs); and the same
against the first pass alone, what a predictor calibrated on an evaluator's single measurements
sees.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas.export.latency import LatencySettings, measure_latency, this_machine
from nas.export.latency_model import LatencyPredictor, prediction_error
from nas.tasks.catalog import BUILTIN_TASKS
from search_spaces import Architecture, ImageTaskShape, SearchSpace, TaskShape, get_space

PAIRS = (("vit-resnas", "small-images", "digits"), ("vit-resnas", "small-images", "fashion-mnist"), ("flexibert", "flexibert", "rotten-tomatoes"))
# A model maps (space, task, calibration archs, their latencies) to a function predicting latencies (n,) of archs.
Predict = Callable[[list[Architecture]], np.ndarray]
Model = Callable[[SearchSpace, TaskShape, list[Architecture], np.ndarray], Predict]


def example_input(shape: TaskShape) -> torch.Tensor:
    if isinstance(shape, ImageTaskShape):
        return torch.rand(1, shape.channels, shape.image_size, shape.image_size)
    return torch.randint(4, shape.vocab_size, (1, shape.max_len))


def measure(space: SearchSpace, shape: TaskShape, archs: list[Architecture], settings: LatencySettings) -> list[dict[str, Any]]:
    example = example_input(shape)
    rows = []
    for arch in archs:
        started = time.perf_counter()
        latency = measure_latency(space.build(arch, shape), example, settings)
        rows.append({"arch": arch.to_dict(), "latency": {**latency.__dict__, "relative_error": latency.relative_error}, "seconds": time.perf_counter() - started})
    return rows


# ---- the models compared ----
def operators(space: SearchSpace, shape: TaskShape, archs: list[Architecture], y: np.ndarray) -> Predict:
    predictor = LatencyPredictor.fit(space, shape, archs, y, settings=LatencySettings(), machine=this_machine())
    return predictor.predict_many


def _relative_least_squares(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Coefficients minimising the squared relative errors of x @ c against y; x (n, k), y (n,)."""
    return np.linalg.lstsq(x / y[:, None], np.ones(len(y)), rcond=None)[0]


def _costs(space: SearchSpace, shape: TaskShape, archs: list[Architecture]) -> np.ndarray:
    """(n, 2): MFLOPs and millions of parameters."""
    return np.array([[cost.flops / 1e6, cost.params / 1e6] for cost in (space.cost(arch, shape) for arch in archs)])


def flops_proportional(space: SearchSpace, shape: TaskShape, archs: list[Architecture], y: np.ndarray) -> Predict:
    c = _relative_least_squares(_costs(space, shape, archs)[:, :1], y)
    return lambda new: _costs(space, shape, new)[:, :1] @ c


def flops_and_params(space: SearchSpace, shape: TaskShape, archs: list[Architecture], y: np.ndarray) -> Predict:
    def design(batch: list[Architecture]) -> np.ndarray:
        return np.column_stack([np.ones(len(batch)), _costs(space, shape, batch)])

    c = _relative_least_squares(design(archs), y)
    return lambda new: design(new) @ c


def _summary(space: SearchSpace, shape: TaskShape, archs: list[Architecture]) -> np.ndarray:
    """(n, features + 2): the space's summary features with FLOPs and parameters."""
    return np.column_stack([np.array([list(space.features(arch).values()) for arch in archs]), _costs(space, shape, archs)])


def trees(kind: str) -> Model:
    def fit(space: SearchSpace, shape: TaskShape, archs: list[Architecture], y: np.ndarray) -> Predict:
        model = GradientBoostingRegressor(n_estimators=200, max_depth=2, learning_rate=0.05, random_state=0) if kind == "boosted" else RandomForestRegressor(n_estimators=200, random_state=0)
        model.fit(_summary(space, shape, archs), np.log(y))  # log: errors relative, as the others
        return lambda new: np.exp(model.predict(_summary(space, shape, new)))

    return fit


MODELS: dict[str, Model] = {
    "operators (NNLS)": operators,
    "FLOPs-proportional": flops_proportional,
    "linear in FLOPs+params": flops_and_params,
    "boosted trees": trees("boosted"),
    "random forest": trees("forest"),
}


def evaluate(space: SearchSpace, shape: TaskShape, archs: list[Architecture], y: np.ndarray, sizes: list[int], splits: int) -> dict[str, dict[str, dict[str, float]]]:
    """model -> calibration size -> mean and spread over splits of held-out tau and MRE."""
    out: dict[str, dict[str, dict[str, float]]] = {name: {} for name in MODELS}
    for size in sizes:
        scores: dict[str, list[tuple[float, float]]] = {name: [] for name in MODELS}
        for split in range(splits):
            order = np.random.default_rng(split).permutation(len(archs))
            train, test = order[:size], order[size:]
            for name, model in MODELS.items():
                predict = model(space, shape, [archs[i] for i in train], y[train])
                error = prediction_error(predict([archs[i] for i in test]), y[test])
                scores[name].append((error.kendall_tau, error.mean_relative_error))
        for name, pairs in scores.items():
            taus, mres = zip(*pairs, strict=True)
            out[name][str(size)] = {"tau": statistics.mean(taus), "tau_sd": statistics.pstdev(taus), "mre": statistics.mean(mres), "mre_sd": statistics.pstdev(mres), "held_out": len(archs) - size}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", type=int, default=60, help="Random architectures per space, besides the plain family.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 40], help="Calibration sizes.")
    parser.add_argument("--splits", type=int, default=20, help="Random calibration/held-out splits per size.")
    parser.add_argument("--passes", type=int, default=2, help="Measurements of each architecture, one pass over all of them after another.")
    parser.add_argument("--max-seconds", type=float, default=2.0, help="Of timed calls per measurement.")
    parser.add_argument("--measurements", type=Path, help="Reuse the measurements of a JSON this script wrote instead of measuring.")
    parser.add_argument("--json", type=Path, help="Also write the measurements and results here.")
    args = parser.parse_args()
    started = time.perf_counter()
    reused = json.loads(args.measurements.read_text())["spaces"] if args.measurements else {}
    settings = LatencySettings(max_seconds=args.max_seconds)
    results: dict[str, Any] = {}
    for name, preset, task in PAIRS:
        space, shape = get_space(name, preset), BUILTIN_TASKS[task]
        if task in reused:
            passes = reused[task]["passes"]
            archs = [space.validate(row["arch"]) for row in passes[0]]
        else:
            archs = [member.arch for member in space.plain_family()] + [space.sample(random.Random(seed)) for seed in range(args.archs)]
            passes = [measure(space, shape, archs, settings) for _ in range(args.passes)]
        figures = np.array([[row["latency"]["ms"] for row in rows] for rows in passes])  # (passes, archs)
        lowest = figures.min(axis=0)
        agreement = prediction_error(figures[0], figures[1]).to_dict() if len(passes) > 1 else None
        results[task] = {
            "space": name, "preset": preset, "task_shape": shape.__dict__, "passes": passes, "pass_against_pass": agreement,
            "measure_seconds": sum(row["seconds"] for rows in passes for row in rows),
            "models": evaluate(space, shape, archs, lowest, args.sizes, args.splits),
            "models_first_pass": evaluate(space, shape, archs, figures[0], args.sizes, args.splits),
        }  # fmt: skip
        print(f"{task}: {len(archs)} architectures, {min(lowest):.3g}–{max(lowest):.3g} ms, measured in {results[task]['measure_seconds']:.0f} s", flush=True)
    elapsed = time.perf_counter() - started
    report(results, args.sizes, args.splits)
    if args.json:
        meta = {"machine": this_machine(), "settings": settings.__dict__, "splits": args.splits, "sizes": args.sizes, "seconds": elapsed}
        args.json.write_text(json.dumps({**meta, "spaces": results}, separators=(",", ":")) + "\n")  # compact: it holds every measurement
    print(f"{elapsed:.0f} s in all")


def report(results: dict[str, Any], sizes: list[int], splits: int) -> None:
    for key, against in (("models", "the lowest figure of the passes"), ("models_first_pass", "the first pass alone")):
        table = Table("task", "model", *(f"n={size}: tau / MRE" for size in sizes), title=f"Held-out Kendall tau and mean relative error against {against} (mean of {splits} splits)")
        for task, result in results.items():
            for name, by_size in result[key].items():
                table.add_row(task, name, *(f"{by_size[str(size)]['tau']:.2f} / {by_size[str(size)]['mre']:.1%}" for size in sizes))
            if result["pass_against_pass"]:
                again = result["pass_against_pass"]
                table.add_row(task, f"[dim]one pass against the other ({again['n']} archs)[/dim]", *([f"{again['kendall_tau']:.2f} / {again['mean_relative_error']:.1%}"] * len(sizes)))
        Console(width=160).print(table)


if __name__ == "__main__":
    main()
