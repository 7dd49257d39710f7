"""Scoring candidates: with weights inherited from a trained supernet, or by looking up
NAS-Bench-BERT (benchmark mode). The coordinator runs `SupernetEvaluator` inside Ray actors; the
same class runs in-process for the service benchmark's bare loop, so both do the same work.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from nas.artifacts import JobFiles
from nas.export.latency import Latency, LatencySettings, measure_latency
from search_spaces import Architecture, get_space

DEFAULT_LATENCY = LatencySettings()


class Evaluator:
    """What Ray actors run: `evaluate(arch_data) -> metrics`; `timed` also returns the seconds it
    took inside the worker (queueing and transfer excluded)."""

    def evaluate(self, arch_data: dict[str, Any]) -> dict[str, float]:
        raise NotImplementedError

    def evaluate_unmeasured(self, arch_data: dict[str, Any]) -> dict[str, float]:
        """`evaluate` without measuring latency (a predictor gives it); by default the same."""
        return self.evaluate(arch_data)

    def ready(self) -> dict[str, str]:
        """Answered once the constructor has run (the pool tells an actor that died starting up
        from one that died evaluating): where the actor runs."""
        from nas.search.resources import where_am_i

        return where_am_i()

    def timed(self, arch_data: dict[str, Any], measure_latency: bool = True) -> tuple[dict[str, float], float]:
        started = time.perf_counter()
        metrics = self.evaluate(arch_data) if measure_latency else self.evaluate_unmeasured(arch_data)
        return metrics, time.perf_counter() - started


SCORE_BATCH = 64  # examples per step of the fine-tune before scoring


class SupernetEvaluator(Evaluator):
    """Validation accuracy with inherited weights (after `finetune_steps` steps of training from
    them, when asked: `supernet.score_finetune_steps`), exact params and FLOPs, and the latency of
    the extracted standalone model as the job's `latency` section says (exported to its runtime,
    on this node), with its interval."""

    def __init__(self, checkpoint: str, job_files: JobFiles | None = None, threads: int = 1, latency: LatencySettings | None = DEFAULT_LATENCY, finetune_steps: int = 0):
        """`checkpoint`: the supernet's location (a directory, or one in the artifact root,
        read through `job_files` from whichever node this runs on); `latency`: how to measure
        it (None: not measured)."""
        from nas.search.resources import assigned_device
        from nas.training.checkpoint import open_checkpoint

        torch.set_num_threads(threads)
        self.supernet, _, self.task = open_checkpoint(checkpoint, job_files, device=assigned_device())
        self.space = self.supernet.space
        self.latency, self.finetune_steps = latency, finetune_steps

    def evaluate(self, arch_data: dict[str, Any]) -> dict[str, Any]:
        metrics = self.evaluate_unmeasured(arch_data)
        if self.latency is not None:
            metrics.update(self.measure(self.space.validate(arch_data)).metrics())
        return metrics

    def evaluate_unmeasured(self, arch_data: dict[str, Any]) -> dict[str, Any]:
        arch = self.space.validate(arch_data)
        metrics: dict[str, Any] = {"accuracy": self.score(arch)}
        metrics.update({k: float(v) for k, v in self.space.cost(arch, self.task.shape).to_dict().items()})
        return metrics

    def latency_metrics(self, arch_data: dict[str, Any]) -> dict[str, Any]:
        """Only the latency, measured (a predicted candidate on the front is measured after all)."""
        assert self.latency is not None
        return self.measure(self.space.validate(arch_data)).metrics()

    def score(self, arch: Architecture) -> float:
        """Validation accuracy with the inherited weights, or after a short fine-tune from them
        on a sample of the training split drawn from the architecture's id (the same candidate
        always gets the same steps)."""
        from nas.training.standalone import evaluate, evaluate_subnet, train_standalone

        if not self.finetune_steps:
            return evaluate_subnet(self.supernet, arch, self.task.val)
        seed = int(arch.arch_id[:8], 16)
        model = self.supernet.extract(arch)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            train_standalone(model, self.task.train.sample(self.finetune_steps * SCORE_BATCH, seed), epochs=1, batch_size=SCORE_BATCH, seed=seed)
        return evaluate(model, self.task.val)

    def measure(self, arch: Architecture) -> Latency:
        """On this node's CPU, wherever the supernet is: the figure a `latency_ms_max` limit compares."""
        assert self.latency is not None
        return measure_latency(self.supernet.extract(arch).cpu(), self.task.val.inputs[:1].cpu(), self.latency)


class BenchmarkEvaluator(Evaluator):
    """Benchmark mode: the architecture's measured GLUE (mean of its trainings) and exact costs."""

    def __init__(self, path: str | Path):
        from surrogates.tabular import NasBenchBertTable

        self.table = NasBenchBertTable(path)
        self.space = get_space("flexibert", "nas-bench-bert")

    def evaluate(self, arch_data: dict[str, Any]) -> dict[str, float]:
        return self.table.evaluate(self.space.validate(arch_data))
