"""Tabular replay: evaluating an architecture means looking up its measured score.

NAS-Bench-BERT (Serianni & Kalita, ACL 2023; data CC BY 4.0): 500 pretrained and GLUE-scored
FlexiBERT architectures, 491 distinct (9 were trained twice; their mean is the score and their
spread measures training noise). Parameters and FLOPs come from our analytic cost model. This is
the ground truth for comparing strategies at no training cost.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from search_spaces import Architecture, SearchSpace, TextTaskShape, get_space
from search_spaces.flexibert.nas_bench_bert import load_nas_bench_bert
from surrogates.benchmarks import nas_bench_bert_file

# The benchmark's models: ELECTRA-small-style vocabulary, sequence length 128, GLUE heads aside.
NAS_BENCH_BERT_TASK = TextTaskShape(vocab_size=30522, max_len=128, num_classes=2)


class NasBenchBertTable:
    def __init__(self, path: str | Path | None = None, task: TextTaskShape = NAS_BENCH_BERT_TASK):
        """`path`: a BERT_benchmark.json; by default the copy shipped with the package."""
        path = nas_bench_bert_file() if path is None else path
        self.space: SearchSpace = get_space("flexibert", "nas-bench-bert")
        runs: dict[str, list[dict[str, float]]] = defaultdict(list)
        archs: dict[str, Architecture] = {}
        for record in load_nas_bench_bert(path):
            runs[record.arch.arch_id].append(record.scores)
            archs[record.arch.arch_id] = record.arch
        self.runs = {arch_id: [scores["glue"] for scores in records] for arch_id, records in runs.items()}
        self.archs = archs
        # Per GLUE task (and "glue", their mean), averaged over an arch's repeated trainings.
        self.task_scores = {arch_id: {task: statistics.fmean(r[task] for r in records) for task in records[0]} for arch_id, records in runs.items()}
        self.glue = {arch_id: scores["glue"] for arch_id, scores in self.task_scores.items()}
        self.costs = {arch_id: self.space.cost(arch, task) for arch_id, arch in archs.items()}

    @property
    def pool(self) -> list[Architecture]:
        return list(self.archs.values())

    def evaluate(self, arch: Architecture) -> dict[str, float]:
        """{"accuracy": mean GLUE, "params", "flops"} of a benchmark architecture."""
        if arch.arch_id not in self.glue:
            raise KeyError(f"architecture {arch.arch_id} is not one of NAS-Bench-BERT's {len(self.glue)} architectures")
        cost = self.costs[arch.arch_id]
        return {"accuracy": self.glue[arch.arch_id], "params": float(cost.params), "flops": float(cost.flops)}

    def kth_best(self, k: int) -> float:
        return sorted(self.glue.values(), reverse=True)[k - 1]

    def noise_std(self) -> float:
        """Pooled standard deviation of GLUE between repeated trainings of one architecture."""
        repeated = [scores for scores in self.runs.values() if len(scores) > 1]
        return statistics.fmean(statistics.variance(s) for s in repeated) ** 0.5 if repeated else 0.0
