"""Equal compute (issue 36, item 4): does a job find a better front of (test accuracy, latency)
than what a user would run instead with the same CPU time?

For each task and seed:

1. **The job**, through the service's own loop (`submit_job`, then a Coordinator on Ray, as `nas
   run` does), with the service's defaults except what the accuracy-vs-latency benchmark sets
   (`bench_end_to_end.TASKS`: the task, its space and limits; objectives accuracy and ONNX Runtime
   latency) and a verified stage of `--top-k` candidates without early stops or plain references.
   Its compute is the machine's busy CPU time from the job's start to its verified stage
   (/proc/stat, sampled every second: run nothing else meanwhile).
2. **Ray Tune + ASHA** and **Optuna TPE + Hyperband** (`scripts/baselines.py`) over random
   architectures of the same space under the same limits, trained standalone on the job's own task
   data (read from its supernet checkpoint: the same split and tokenizer) for up to the verified
   stage's epochs, two trials at a time, for as many wall minutes as give them the job's CPU time.
3. **The same verification for every method**: each method's trained (or scored) candidates form a
   front of (validation accuracy, latency); `--top-k` of it spread along latency (the job's own
   rule, `nas.results.pareto.spread_along`) train with the verified stage's recipe (epochs, lr,
   batch size, seeds). The job's picks are its verified stage as the job ran it (from inherited
   weights, its default); `--job-scratch` also trains them from scratch, which tells whether a
   difference comes from the choice or from the inherited start. The latency of every verified
   model is measured again here, all methods interleaved, in ONNX Runtime (1 thread, batch 1).
4. **Fronts compared** by the hypervolume of (test accuracy, latency): the job's over each
   baseline's in one box, with a bootstrap interval over the models' accuracy and latency
   uncertainty (`nas.results.verdict.hypervolume_ratio`), per seed; across seeds the geometric mean
   ratio with a t interval over seeds (paired: one job and one run of each baseline per seed).

    python scripts/bench_equal_compute.py --tasks digits --seeds 0 1 2 --json docs/benchmarks/equal_compute.json

Each (task, seed) row is written to the JSON as soon as it is complete, and a row already there is
not run again: a killed run, or a later session, carries on where it stopped. A finished job in
the work directory is read back, with the CPU time recorded when it ran.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from baselines import Trained, optuna_tpe, tune_asha  # noqa: E402
from bench_end_to_end import TASKS  # noqa: E402
from scipy import stats  # noqa: E402

from nas.artifact_root import JobFiles  # noqa: E402
from nas.export.latency import LatencySettings, measure_latency  # noqa: E402
from nas.results.pareto import non_dominated_mask, spread_along  # noqa: E402
from nas.results.verdict import TrainedModel, hypervolume_ratio, trained_models  # noqa: E402
from nas.search.coordinator import Coordinator  # noqa: E402
from nas.service import submit_job  # noqa: E402
from nas.statuses import JobStatus  # noqa: E402
from nas.store import ArtifactKind, EventKind, JobRecord, Store  # noqa: E402
from nas.tasks.data import TaskData, load_task  # noqa: E402
from nas.training.checkpoint import META_FILE, load_checkpoint_task, read_checkpoint_meta  # noqa: E402
from nas.training.standalone import evaluate, train_keeping_best  # noqa: E402
from search_spaces import SearchSpace, get_space  # noqa: E402

console = Console(stderr=True)
LATENCY = LatencySettings(runtime="onnxruntime", batch_size=1, threads=1)
BASELINE_CPUS = 2  # trials at a time, one CPU each: the machine's two cores
T_DOF = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}  # t quantiles (97.5%) for small paired samples


class CpuMeter:
    """The machine's busy CPU seconds over time, from /proc/stat sampled every second in a thread,
    so that a stage's CPU time can be read afterwards from its start and end times."""

    def __init__(self, every_s: float = 1.0) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._every = every_s
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def busy_seconds() -> float:
        fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle and iowait
        return (sum(fields[:8]) - idle) / 100.0  # USER_HZ ticks; fields 8+ (guest) are inside user

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self.busy_seconds()))
            self._stop.wait(self._every)

    def __enter__(self) -> CpuMeter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, start: float, end: float) -> float:
        """Busy CPU seconds between two wall-clock times (epoch seconds), interpolated."""
        times, busy = zip(*self.samples, strict=True)
        return float(np.interp(end, times, busy) - np.interp(start, times, busy))


@dataclass
class Verified:
    """One model of a method's front after the common verification."""

    label: str
    arch: dict[str, Any]
    params: int
    val_accuracies: list[float]
    test_accuracies: list[float]
    test_examples: int
    latency: dict[str, float] = field(default_factory=dict)  # measured here, all methods interleaved

    def as_trained_model(self) -> TrainedModel:
        return TrainedModel(self.label, False, tuple(self.test_accuracies), self.test_examples, {"params": float(self.params), **self.latency}, val_accuracies=tuple(self.val_accuracies))


@dataclass
class MethodRun:
    name: str
    cpu_seconds: float
    wall_seconds: float
    trained: int  # architectures trained (or scored, for the job)
    full: int  # of them trained to the last epoch (the job: verified)
    verified: list[Verified]
    notes: dict[str, Any] = field(default_factory=dict)


def spec_for(task: str, seed: int, top_k: int, candidates: int | None) -> dict[str, Any]:
    """The job as a user would submit it: the benchmark task's settings, the service's defaults
    otherwise (budget, strategy, supernet), accuracy against ONNX Runtime latency."""
    budget = {"budget": {"candidates": candidates}} if candidates else {}
    return {
        "name": f"equal-compute-{task}-{seed}", **TASKS[task], **budget, "seed": seed,
        "objectives": [{"metric": "accuracy"}, {"metric": "latency_ms"}],
        "latency": {"runtime": "onnxruntime", "batch_size": 1, "threads": 1},
        "verify": {"top_k": top_k, "references": 0, "early_stop": False},
    }  # fmt: skip


def run_job(task: str, seed: int, top_k: int, candidates: int | None, workdir: Path, meter: CpuMeter) -> tuple[Store, JobRecord, float]:
    """The job, run (or read back), and its CPU seconds up to the verified stage."""
    store = Store(f"sqlite:///{workdir / f'{task}-{seed}.db'}")
    cpu_file = workdir / f"{task}-{seed}.cpu.json"
    finished = [job for job in store.list_jobs() if job.status == JobStatus.SUCCEEDED]
    if finished and cpu_file.exists():
        console.log(f"{task} seed {seed}: job {finished[-1].id} finished before; reading it back")
        return store, finished[-1], json.loads(cpu_file.read_text())["cpu_seconds"]
    for job in store.list_jobs():  # a job a killed run left behind: its CPU time is unknown, run it again
        store.delete_job(job.id)
    job = Coordinator(store, jobs_dir=workdir / f"jobs-{task}-{seed}").run_next(submit_job(store, spec_for(task, seed, top_k, candidates)).id)
    if job is None or job.status != JobStatus.SUCCEEDED:
        raise RuntimeError(f"{task} seed {seed}: the job did not succeed: {job.error if job else 'not run'}")
    assert job.started_at is not None
    verify = next(e for e in store.events(job.id) if e.kind == EventKind.VERIFY_STARTED)
    cpu = meter.between(job.started_at.timestamp(), verify.at.timestamp())
    cpu_file.write_text(json.dumps({"cpu_seconds": cpu, "wall_seconds": (verify.at - job.started_at).total_seconds()}))
    return store, job, cpu


def job_task(store: Store, job: JobRecord) -> TaskData:
    """The job's task exactly as its supernet trained on it (split, subset and tokenizer)."""
    location = store.artifacts(job.id, ArtifactKind.SUPERNET_CHECKPOINT)[-1].path
    directory = JobFiles().local_dir(location, META_FILE)
    return load_checkpoint_task(read_checkpoint_meta(directory), directory)


def job_run(store: Store, job: JobRecord, cpu: float) -> MethodRun:
    """The job's verified front as the job trained it."""
    verifications = {v.candidate_id: v for v in store.verifications(job.id)}
    by_seq = {store.get_candidate(cid).seq: store.get_candidate(cid) for cid in verifications}
    verified = []
    for model in trained_models(store, job.id):
        assert model.candidate is not None
        candidate = by_seq[model.candidate]
        verified.append(Verified(model.label, candidate.arch, int(candidate.params or 0), list(model.val_accuracies), list(model.test_accuracies), model.test_examples))
    assert job.started_at is not None
    verify = next(e for e in store.events(job.id) if e.kind == EventKind.VERIFY_STARTED)
    done = [c for c in store.candidates(job.id) if c.accuracy is not None]
    return MethodRun("job", cpu, (verify.at - job.started_at).total_seconds(), len(done), len(verified), verified, {"job": job.id, "spec": job.spec})


def front_picks(space: SearchSpace, task: TaskData, trained: Sequence[Trained], k: int) -> tuple[list[Trained], float]:
    """`k` of a baseline's trained architectures, by the job's rule: its front of (validation
    accuracy, latency) spread along latency, completed by the most accurate others. Latency is
    measured for every trained architecture (seconds returned: not charged to the baseline)."""
    started = time.perf_counter()
    unique = list({t.arch_id: t for t in sorted(trained, key=lambda t: t.val_accuracy)}.values())  # a repeat keeps its best score
    latency = [_latency(space, task, t.arch)["latency_ms"] for t in unique]
    values = np.array([[t.val_accuracy, ms] for t, ms in zip(unique, latency, strict=True)])
    front = [i for i in np.flatnonzero(non_dominated_mask(values, [True, False]))]
    chosen = [front[i] for i in spread_along([latency[i] for i in front], k)]
    rest = sorted((i for i in range(len(unique)) if i not in chosen), key=lambda i: -unique[i].val_accuracy)
    return [unique[i] for i in (chosen + rest)[:k]], time.perf_counter() - started


def _latency(space: SearchSpace, task: TaskData, arch: dict[str, Any]) -> dict[str, float]:
    model = space.build(space.validate(arch), task.shape)
    measured = measure_latency(model, task.val.inputs[:1], LATENCY)
    return {"latency_ms": measured.ms, "latency_low_ms": measured.low_ms, "latency_high_ms": measured.high_ms}


def verify_from_scratch(space: SearchSpace, task: TaskData, label: str, arch: dict[str, Any], seeds: Sequence[int], epochs: int, lr: float, batch_size: int) -> Verified:
    """The verified stage's training from scratch (`nas.search.verification.verify_trial`): the
    best epoch on validation, and the test accuracy there, per seed."""
    architecture = space.validate(arch)
    val, test = [], []
    for seed in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = space.build(architecture, task.shape)
        best = train_keeping_best(model, task, epochs, lr=lr, batch_size=batch_size, seed=seed, include_start=False)
        val.append(best.val_accuracy)
        test.append(evaluate(model, task.test))
    return Verified(label, arch, space.cost(architecture, task.shape).params, val, test, len(task.test))


def baseline_run(
    name: str, search: Callable[[float], list[Trained]], cpu_budget: float, space: SearchSpace, task: TaskData, meter: CpuMeter, verify: Callable[[str, dict[str, Any]], Verified], k: int
) -> MethodRun:
    """A baseline given the job's CPU seconds (as wall time on BASELINE_CPUS trials at once), its
    front's picks verified."""
    started = time.time()
    trained = search(cpu_budget / BASELINE_CPUS / 60)
    ended = time.time()
    if not trained:
        raise RuntimeError(f"{name}: trained nothing in {cpu_budget / BASELINE_CPUS / 60:.1f} minutes")
    picks, latency_s = front_picks(space, task, trained, k)
    verified = [verify(f"{name} {i + 1}", t.arch) for i, t in enumerate(picks)]
    full = max(t.epochs for t in trained)
    notes = {"latency_seconds": latency_s, "epochs_trained": sum(t.epochs for t in trained), "picks": [asdict(t) for t in picks]}
    return MethodRun(name, meter.between(started, ended), ended - started, len(trained), sum(t.epochs == full for t in trained), verified, notes)


def measure_latencies(space: SearchSpace, task: TaskData, runs: Sequence[MethodRun], rounds: int) -> None:
    """Every verified architecture's latency, in `rounds` passes over all of them in a shuffled
    order (the round-median of the figure and its bounds): one machine state for every method,
    and one figure for an architecture two methods verified (measurements of one model in
    separate sessions differ by more than their intervals: docs/benchmarks/latency.md)."""
    archs = {space.validate(m.arch).arch_id: m.arch for run in runs for m in run.verified}
    ids = sorted(archs)
    measured: dict[str, list[dict[str, float]]] = {arch_id: [] for arch_id in ids}
    for round_ in range(rounds):
        for arch_id in random.Random(round_).sample(ids, len(ids)):
            measured[arch_id].append(_latency(space, task, archs[arch_id]))
    for run in runs:
        for model in run.verified:
            figures = measured[space.validate(model.arch).arch_id]
            model.latency = {key: statistics.median(f[key] for f in figures) for key in figures[0]}


def compare(job: MethodRun, other: MethodRun, seed: int) -> dict[str, Any]:
    ratio = hypervolume_ratio([m.as_trained_model() for m in job.verified], [m.as_trained_model() for m in other.verified], "latency_ms", seed=seed)
    return {"ratio": ratio.ratio, "low": ratio.low, "high": ratio.high, "job_hv": ratio.candidates, "other_hv": ratio.references}


def run_seed(task: str, seed: int, args: argparse.Namespace, meter: CpuMeter) -> dict[str, Any]:
    store, job, cpu = run_job(task, seed, args.top_k, args.candidates, args.workdir, meter)
    data = job_task(store, job)
    spec = job.spec
    space = get_space(spec["space"], spec.get("preset"))
    params_max = (spec.get("constraints") or {}).get("params_max")
    settings = spec["verify"]
    seeds = [seed + i for i in range(settings.get("seeds", 1))]

    def verify(label: str, arch: dict[str, Any]) -> Verified:
        return verify_from_scratch(space, data, label, arch, seeds, settings["epochs"], settings["lr"], settings["batch_size"])

    runs = [job_run(store, job, cpu)]
    console.log(f"{task} seed {seed}: job {job.id}: {runs[0].trained} candidates in {cpu / 60:.1f} CPU-minutes before its verified stage")
    if args.job_scratch:
        runs.append(MethodRun("job-scratch", 0.0, 0.0, runs[0].trained, 0, [verify(f"scratch {m.label}", m.arch) for m in runs[0].verified]))
    torch.set_num_threads(1)
    searches: dict[str, Callable[[float], list[Trained]]] = {
        "tune-asha": lambda minutes: tune_asha(space, data, params_max, settings["epochs"], minutes, BASELINE_CPUS, seed, args.workdir / "tune"),
        "optuna-tpe": lambda minutes: optuna_tpe(space, data, params_max, settings["epochs"], minutes, BASELINE_CPUS, seed),
    }
    for name in args.baselines:
        console.log(f"{task} seed {seed}: {name} for {cpu / BASELINE_CPUS / 60:.1f} minutes on {BASELINE_CPUS} CPUs")
        torch.set_num_threads(BASELINE_CPUS)  # the verification trains one model at a time
        runs.append(baseline_run(name, searches[name], cpu, space, data, meter, verify, args.top_k))
        console.log(f"{task} seed {seed}: {name} trained {runs[-1].trained} ({runs[-1].full} to the end) in {runs[-1].cpu_seconds / 60:.1f} CPU-minutes")
    torch.set_num_threads(1)
    measure_latencies(space, data, runs, args.latency_rounds)
    comparisons = {run.name: compare(runs[0], run, seed) for run in runs[1:]}
    return {"task": task, "seed": seed, "runs": [asdict(run) for run in runs], "hypervolume_ratio": comparisons}


def remeasured(row: dict[str, Any], rounds: int) -> dict[str, Any]:
    """A finished row with every verified model's latency measured again (as `run_seed` does) and
    its comparisons recomputed: rows from runs made on different days, measured in one state."""
    runs = [MethodRun(**{**run, "verified": [Verified(**m) for m in run["verified"]]}) for run in row["runs"]]
    spec = next(run.notes["spec"] for run in runs if run.name == "job")
    space = get_space(spec["space"], spec.get("preset"))
    task = load_task(spec["task"], seed=spec["seed"], max_train=(spec.get("supernet") or {}).get("max_train"))
    measure_latencies(space, task, runs, rounds)
    return {**row, "runs": [asdict(run) for run in runs], "hypervolume_ratio": {run.name: compare(runs[0], run, row["seed"]) for run in runs[1:]}}


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per task and rival method: the geometric mean of the job's hypervolume ratio over seeds,
    with a t interval over seeds (paired), and the seeds whose own interval excludes 1."""
    out: dict[str, dict[str, Any]] = {}
    for task in sorted({r["task"] for r in rows}):
        for rival in sorted({name for r in rows if r["task"] == task for name in r["hypervolume_ratio"]}):
            ratios = [r["hypervolume_ratio"][rival] for r in rows if r["task"] == task and rival in r["hypervolume_ratio"]]
            logs = [math.log(x["ratio"]) for x in ratios if 0 < x["ratio"] < math.inf]
            mean = statistics.fmean(logs) if logs else math.nan
            # No interval from one seed (JSON has no infinity: null).
            reach = T_DOF.get(len(logs) - 1, 2.0) * statistics.stdev(logs) / math.sqrt(len(logs)) if len(logs) > 1 else None
            signed = stats.wilcoxon(logs).pvalue if len(logs) > 5 else None
            out[f"{task} vs {rival}"] = {
                "seeds": len(ratios), "geomean": math.exp(mean),
                "low": math.exp(mean - reach) if reach is not None else None, "high": math.exp(mean + reach) if reach is not None else None,
                "higher_in": sum(x["low"] > 1 for x in ratios), "lower_in": sum(x["high"] < 1 for x in ratios), "wilcoxon_p": signed,
            }  # fmt: skip
    return out


def table(summary: dict[str, dict[str, Any]]) -> Table:
    out = Table("task vs rival", "seeds", "job HV / rival HV (geomean, 95% t interval)", "seeds job higher", "seeds job lower", title="Equal CPU time: test hypervolume of (accuracy, latency)")
    for key, s in summary.items():
        interval = f" ({s['low']:.2f}–{s['high']:.2f})" if s["low"] is not None else " (one seed: no interval)"
        out.add_row(key, str(s["seeds"]), f"{s['geomean']:.2f}{interval}", str(s["higher_in"]), str(s["lower_in"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["digits", "fashion-mnist", "rotten-tomatoes"], choices=list(TASKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--baselines", nargs="+", default=["tune-asha", "optuna-tpe"], choices=["tune-asha", "optuna-tpe"])
    parser.add_argument("--candidates", type=int, help="the job's budget.candidates (default: the service's)")
    parser.add_argument("--top-k", type=int, default=3, help="verified models per method")
    parser.add_argument("--job-scratch", action=argparse.BooleanOptionalAction, default=True, help="also train the job's picks from scratch")
    parser.add_argument("--latency-rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("equal-compute"))
    parser.add_argument("--remeasure", action="store_true", help="Measure the latency of every row's verified models again, recompute the comparisons, run nothing else.")
    parser.add_argument("--table-only", action="store_true", help="Print the table of the rows in --json, running nothing.")
    parser.add_argument("--json", type=Path, required=True, help="Rows are added here as they finish; rows already here are kept, not rerun.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = json.loads(args.json.read_text())["rows"] if args.json.exists() else []
    if args.remeasure:
        rows = [remeasured(row, args.latency_rounds) for row in rows]
        args.json.write_text(json.dumps({"rows": rows, "summary": summarise(rows)}, indent=1, default=str))
    if args.table_only or args.remeasure:
        Console().print(table(summarise(rows)))
        return
    with CpuMeter() as meter:
        for task in args.tasks:
            for seed in args.seeds:
                if any(r["task"] == task and r["seed"] == seed for r in rows):
                    continue
                rows.append(run_seed(task, seed, args, meter))
                args.json.write_text(json.dumps({"rows": rows, "summary": summarise(rows)}, indent=1, default=str))
                console.log(f"{task} seed {seed}: job / rival hypervolume {json.dumps({k: round(v['ratio'], 3) for k, v in rows[-1]['hypervolume_ratio'].items()})}")
    Console().print(table(summarise(rows)))


if __name__ == "__main__":
    main()
