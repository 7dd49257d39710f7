"""Benchmark data shipped with the package (read with importlib.resources, so a wheel carries it)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

NAS_BENCH_BERT_ENV = "NAS_BENCH_BERT"


def nas_bench_bert_file(name: str = "BERT_benchmark.json") -> Path:
    """A file of the shipped NAS-Bench-BERT copy; `$NAS_BENCH_BERT` (a BERT_benchmark.json path)
    overrides the directory it is read from."""
    override = os.environ.get(NAS_BENCH_BERT_ENV)
    if override:
        return Path(override).with_name(name)
    path = Path(str(resources.files(__package__) / "nas_bench_bert" / name))
    if not path.is_file():  # only a broken install lacks it: say which file and how to point elsewhere
        raise FileNotFoundError(f"NAS-Bench-BERT file {name} is missing from the installed package ({path}); set ${NAS_BENCH_BERT_ENV} to a BERT_benchmark.json")
    return path
