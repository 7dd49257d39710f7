"""What a user would run instead of a job, for the equal-compute comparison (issue 36): random
architectures of the job's space, each trained standalone from scratch, under

- Ray Tune with ASHA (`tune_asha`): trials sampled until the time budget is spent, each
  reporting validation accuracy after every epoch, the trailing ones stopped at rungs of 1, 3,
  9 ... epochs (reduction factor 3);
- Optuna TPE with a Hyperband pruner (`optuna_tpe`): the space's choices as TPE's categorical
  parameters, the same epochs and reports.

Both optimise validation accuracy (what such a user's script asks for) under the job's parameter
limit, on the same task and split, and return every trained architecture with its last reported
validation accuracy, its epochs and its seconds; the comparison verifies each method's front the
same way afterwards. Run alone for a look:

    python scripts/baselines.py --task digits --minutes 2 --method tune
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from nas.tasks.data import TaskData, load_task  # noqa: E402
from nas.training.standalone import evaluate, train_epochs  # noqa: E402
from search_spaces import Architecture, SearchSpace, get_space  # noqa: E402

REDUCTION = 3  # ASHA's and Hyperband's reduction factor
MAX_SAMPLING_TRIES = 1000


@dataclass
class Trained:
    """One architecture a baseline trained: its last reported validation accuracy."""

    arch: dict[str, Any]
    arch_id: str
    params: int
    val_accuracy: float
    epochs: int
    seconds: float


def feasible_sample(space: SearchSpace, shape: Any, params_max: float | None, rng: random.Random) -> Architecture:
    """A random architecture of the space under the parameter limit (rejection sampling, as a
    user's script would)."""
    for _ in range(MAX_SAMPLING_TRIES):
        arch = space.sample(rng)
        if params_max is None or space.cost(arch, shape).params <= params_max:
            return arch
    raise RuntimeError(f"no architecture under {params_max:,.0f} params in {MAX_SAMPLING_TRIES} samples")


def train_reporting(space: SearchSpace, task: TaskData, arch: Architecture, epochs: int, seed: int, report: Callable[[int, float], bool]) -> Trained:
    """Train `arch` from scratch, calling `report(epoch, val_accuracy)` after each epoch; stops
    when it answers False (pruned)."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    model = space.build(arch, task.shape)
    val, done = 0.0, 0
    for epoch in train_epochs(model, task.train, epochs, seed=seed):
        val, done = evaluate(model.eval(), task.val), epoch
        if not report(epoch, val):
            break
    return Trained(arch.to_dict(), arch.arch_id, space.cost(arch, task.shape).params, val, done, time.perf_counter() - started)


def _tune_trial(config: dict[str, Any], space: SearchSpace, task: TaskData, params_max: float | None, epochs: int) -> None:
    """One Tune trial: the architecture drawn from the trial's seed, trained, reported per epoch
    (ASHA stops it from outside)."""
    from ray import tune

    torch.set_num_threads(1)
    arch = feasible_sample(space, task.shape, params_max, random.Random(config["arch_seed"]))
    started = time.perf_counter()

    def report(epoch: int, val: float) -> bool:
        tune.report({"val_accuracy": val, "arch": arch.to_dict(), "seconds": time.perf_counter() - started})
        return True

    train_reporting(space, task, arch, epochs, config["arch_seed"], report)


def tune_asha(space: SearchSpace, task: TaskData, params_max: float | None, epochs: int, minutes: float, cpus: int, seed: int, storage: Path) -> list[Trained]:
    """Ray Tune + ASHA over random architectures, for `minutes` of wall time on `cpus` trials at
    a time (one CPU each)."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    trainable = tune.with_parameters(_tune_trial, space=space, task=task, params_max=params_max, epochs=epochs)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space={"arch_seed": tune.randint(0, 2**31 - 1)},
        tune_config=tune.TuneConfig(
            metric="val_accuracy", mode="max", num_samples=-1, time_budget_s=minutes * 60, max_concurrent_trials=cpus,
            scheduler=ASHAScheduler(time_attr="training_iteration", max_t=epochs, grace_period=1, reduction_factor=REDUCTION),
        ),  # fmt: skip
        run_config=tune.RunConfig(storage_path=str(storage.resolve()), name=f"tune-asha-{seed}", verbose=0),
    )
    trained = []
    for result in tuner.fit():
        if result.metrics and "arch" in result.metrics:
            arch = space.validate(result.metrics["arch"])
            metrics = result.metrics
            trained.append(Trained(arch.to_dict(), arch.arch_id, space.cost(arch, task.shape).params, metrics["val_accuracy"], metrics["training_iteration"], metrics["seconds"]))
    return trained


def optuna_tpe(space: SearchSpace, task: TaskData, params_max: float | None, epochs: int, minutes: float, cpus: int, seed: int) -> list[Trained]:
    """Optuna TPE + Hyperband pruning, `cpus` trials at a time in threads of this process (one
    torch thread each: two threads on a core another process is using run ten times slower), for
    `minutes` of wall time. TPE asks the space's flat choices (a list's items only below its suggested
    length, as `OptunaStrategy` does); the feasible architecture nearest to its suggestion (in
    Hamming distance, among 2,000 drawn ones not yet trained) is trained."""
    import optuna

    from surrogates.encoding import flat_choices, nearest_by_hamming
    from surrogates.optuna_strategies import OptunaStrategy

    def fits(arch: Architecture) -> bool:
        return params_max is None or space.cost(arch, task.shape).params <= params_max

    describer = OptunaStrategy(space, sampler="tpe", seed=seed, feasible=fits)
    rng = random.Random(seed)
    free = describer.fresh_random(describer.candidates, set(), rng)
    flat = {a.arch_id: flat_choices(a) for a in free}
    trained: list[Trained] = []

    def objective(trial: optuna.Trial) -> float:
        taken = {t.arch_id for t in trained}
        arch = nearest_by_hamming(describer.suggest(trial), [a for a in free if a.arch_id not in taken], flat, rng)
        if arch is None:
            raise optuna.TrialPruned("every drawn architecture is trained")

        def report(epoch: int, val: float) -> bool:
            trial.report(val, epoch)
            return not trial.should_prune()

        result = train_reporting(space, task, arch, epochs, seed + trial.number, report)
        trained.append(result)
        return result.val_accuracy

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=REDUCTION)
    )
    torch.set_num_threads(1)
    study.optimize(objective, timeout=minutes * 60, n_jobs=cpus)
    return trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="digits")
    parser.add_argument("--space", default="vit-resnas")
    parser.add_argument("--preset", default="small-images")
    parser.add_argument("--params-max", type=float, default=2_000_000)
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--method", choices=["tune", "optuna"], default="tune")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--storage", type=Path, default=Path("baseline-runs"))
    args = parser.parse_args()
    space, task = get_space(args.space, args.preset), load_task(args.task)
    if args.method == "tune":
        trained = tune_asha(space, task, args.params_max, args.epochs, args.minutes, args.cpus, args.seed, args.storage)
    else:
        trained = optuna_tpe(space, task, args.params_max, args.epochs, args.minutes, args.cpus, args.seed)
    trained.sort(key=lambda t: -t.val_accuracy)
    print(json.dumps({"method": args.method, "trained": len(trained), "full_epochs": sum(t.epochs == args.epochs for t in trained), "best": [asdict(t) for t in trained[:3]]}, indent=1))


if __name__ == "__main__":
    main()
