"""Scoring candidates: with weights inherited from a trained supernet, or by looking up
NAS-Bench-BERT (benchmark mode). The coordinator runs `SupernetEvaluator` inside Ray actors; the
same class runs in-process for the service benchmark's bare loop, so both do the same work.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nas.artifact_root import JobFiles
from nas.export.latency import Latency, LatencySettings, measure_latency
from nas.search.dispatch import one_line
from nas.search.rungs import Rung
from search_spaces import Architecture, get_space

logger = logging.getLogger(__name__)

DEFAULT_LATENCY = LatencySettings()


class Evaluator:
    """What Ray actors run: `evaluate(arch_data) -> metrics`, and `timed_many` over several
    candidates per call, with the seconds it took inside the worker (queueing and transfer
    excluded)."""

    def evaluate(self, arch_data: dict[str, Any]) -> dict[str, float]:
        raise NotImplementedError

    def evaluate_unmeasured(self, arch_data: dict[str, Any]) -> dict[str, float]:
        """`evaluate` without measuring latency (a predictor gives it); by default the same."""
        return self.evaluate(arch_data)

    def evaluate_many(self, arch_datas: list[dict[str, Any]], measure_latency: bool = True) -> list[dict[str, Any] | str]:
        """Each architecture's metrics, or why its evaluation failed ('Type: message'): one
        failing does not fail the others. By default one after another."""
        results: list[dict[str, Any] | str] = []
        for arch_data in arch_datas:
            try:
                results.append(self.evaluate(arch_data) if measure_latency else self.evaluate_unmeasured(arch_data))
            except Exception as exc:
                results.append(one_line(exc))
        return results

    def ready(self) -> dict[str, str]:
        """Answered once the constructor has run (the pool tells an actor that died starting up
        from one that died evaluating): where the actor runs."""
        from nas.search.resources import where_am_i

        return where_am_i()

    def timed_many(self, arch_datas: list[dict[str, Any]], measure_latency: bool = True) -> tuple[list[dict[str, Any] | str], float]:
        started = time.perf_counter()
        results = self.evaluate_many(arch_datas, measure_latency)
        return results, time.perf_counter() - started


@dataclass(frozen=True)
class Scoring:
    """How a supernet evaluator scores a candidate's accuracy (`supernet.score_*` of the spec):
    after `finetune_steps` steps of 64 training examples from its inherited weights (0: the
    inherited weights as they are), on `examples` validation examples (None: the whole split; a
    seeded sample otherwise, the same for every candidate, so that their scores compare on the
    same examples)."""

    finetune_steps: int = 0
    examples: int | None = None


SCORE_BATCH = 64  # examples per step of the fine-tune before scoring


class SupernetEvaluator(Evaluator):
    """Validation accuracy with inherited weights (as `scoring` says: after a short fine-tune
    from them, on a sample of the split), exact params and FLOPs, and the latency of the
    extracted standalone model as the job's `latency` section says (exported to its runtime, on
    this node), with its interval."""

    def __init__(self, checkpoint: str, job_files: JobFiles | None = None, threads: int = 1, latency: LatencySettings | None = DEFAULT_LATENCY, scoring: Scoring = Scoring()):
        """`checkpoint`: the supernet's location (a directory, or one in the artifact root,
        read through `job_files` from whichever node this runs on); `latency`: how to measure
        it (None: not measured)."""
        from nas.search.resources import assigned_device
        from nas.training.checkpoint import open_checkpoint

        torch.set_num_threads(threads)
        self.supernet, _, self.task = open_checkpoint(checkpoint, job_files, device=assigned_device())
        self.space = self.supernet.space
        self.latency, self.scoring = latency, scoring
        self.scored_on = self.task.val if scoring.examples is None else self.task.val.sample(scoring.examples, seed=0)

    def evaluate(self, arch_data: dict[str, Any]) -> dict[str, Any]:
        (result,) = self.evaluate_many([arch_data])
        if isinstance(result, str):
            raise RuntimeError(result)
        return result

    def evaluate_unmeasured(self, arch_data: dict[str, Any]) -> dict[str, Any]:
        (result,) = self.evaluate_many([arch_data], measure_latency=False)
        if isinstance(result, str):
            raise RuntimeError(result)
        return result

    def evaluate_many(self, arch_datas: list[dict[str, Any]], measure_latency: bool = True) -> list[dict[str, Any] | str]:
        """Inherited scores of all of them together (`accuracies`), then each one's costs and,
        when asked, its measured latency."""
        archs: list[Architecture | str] = []
        for arch_data in arch_datas:
            try:
                archs.append(self.space.validate(arch_data))
            except Exception as exc:
                archs.append(one_line(exc))
        valid = [arch for arch in archs if not isinstance(arch, str)]
        accuracies = dict(zip((arch.arch_id for arch in valid), self.accuracies(valid), strict=True))
        results: list[dict[str, Any] | str] = []
        for arch in archs:
            if isinstance(arch, str):
                results.append(arch)
                continue
            accuracy = accuracies[arch.arch_id]
            if isinstance(accuracy, str):
                results.append(accuracy)
                continue
            metrics: dict[str, Any] = {"accuracy": accuracy, **{k: float(v) for k, v in self.space.cost(arch, self.task.shape).to_dict().items()}}
            try:
                if measure_latency and self.latency is not None:
                    metrics.update(self.measure(arch).metrics())
            except Exception as exc:
                results.append(one_line(exc))
                continue
            results.append(metrics)
        return results

    def latency_metrics(self, arch_data: dict[str, Any]) -> dict[str, Any]:
        """Only the latency, measured (a predicted candidate on the front is measured after all)."""
        assert self.latency is not None
        return self.measure(self.space.validate(arch_data)).metrics()

    def accuracies(self, archs: list[Architecture]) -> list[float | str]:
        """Each architecture's validation accuracy (or why it could not be taken). Inherited
        weights: all of them on each batch of the sample in turn, one pass over it. After a
        fine-tune: one at a time."""
        from nas.training.standalone import evaluate_subnets

        if self.scoring.finetune_steps:
            return [self._guarded(self.finetuned_score, arch) for arch in archs]
        if not archs:
            return []
        try:
            return list(evaluate_subnets(self.supernet, archs, self.scored_on))
        except Exception as exc:  # find which one: each alone, so that only it fails
            logger.info("scoring %d architectures together failed (%s); scoring each alone", len(archs), one_line(exc))
            return [self._guarded(lambda a: evaluate_subnets(self.supernet, [a], self.scored_on)[0], arch) for arch in archs]

    @staticmethod
    def _guarded(score: Any, arch: Architecture) -> float | str:
        try:
            return float(score(arch))
        except Exception as exc:
            return one_line(exc)

    def finetuned_score(self, arch: Architecture, steps: int | None = None) -> float:
        """Validation accuracy (on the scoring sample) after a short fine-tune from the inherited
        weights, `steps` steps (default: the job's `score_finetune_steps`) on a sample of the
        training split drawn from the architecture's id (the same candidate always gets the same
        steps)."""
        from nas.training.standalone import evaluate, train_standalone

        seed = _seed_of(arch)
        model = self.supernet.extract(arch)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            train_standalone(model, self.task.train.sample((self.scoring.finetune_steps if steps is None else steps) * SCORE_BATCH, seed), epochs=1, batch_size=SCORE_BATCH, seed=seed)
        return evaluate(model, self.scored_on)

    def trained_score(self, arch: Architecture, epochs: int, lr: float = 1e-3, batch_size: int = SCORE_BATCH) -> float:
        """A short standalone training's score, between the inherited score and the verified
        stage: `epochs` epochs on the whole training split from the inherited weights, then the
        whole validation split's accuracy of its best epoch (as the verified stage keeps it),
        seeded by the architecture's id."""
        from nas.training.standalone import train_keeping_best

        seed = _seed_of(arch)
        return train_keeping_best(self.supernet.extract(arch), self.task, epochs, lr=lr, batch_size=batch_size, seed=seed, include_start=False).val_accuracy

    def rung_score(self, arch_data: dict[str, Any], rung: Rung) -> dict[str, float]:
        """A candidate's accuracy at a rung of successive halving (`nas.search.rungs`), and the
        seconds it took here."""
        arch = self.space.validate(arch_data)
        started = time.perf_counter()
        if rung.finetune_steps:
            accuracy = self.finetuned_score(arch, rung.finetune_steps)
        else:
            accuracy = self.trained_score(arch, rung.train_epochs, lr=rung.lr)
        return {"accuracy": accuracy, "seconds": time.perf_counter() - started}

    def measure(self, arch: Architecture) -> Latency:
        """On this node's CPU, wherever the supernet is: the figure a `latency_ms_max` limit compares."""
        assert self.latency is not None
        return measure_latency(self.supernet.extract(arch).cpu(), self.task.val.inputs[:1].cpu(), self.latency)


def _seed_of(arch: Architecture) -> int:
    """A seed drawn from the architecture's id: what a candidate trains on repeats exactly."""
    return int(arch.arch_id[:8], 16)


class BenchmarkEvaluator(Evaluator):
    """Benchmark mode: the architecture's measured GLUE (mean of its trainings) and exact costs."""

    def __init__(self, path: str | Path):
        from surrogates.tabular import NasBenchBertTable

        self.table = NasBenchBertTable(path)
        self.space = get_space("flexibert", "nas-bench-bert")

    def evaluate(self, arch_data: dict[str, Any]) -> dict[str, float]:
        return self.table.evaluate(self.space.validate(arch_data))
