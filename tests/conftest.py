from __future__ import annotations

from pathlib import Path

import pytest
import torch

from search_spaces import get_space

REPO = Path(__file__).resolve().parents[1]
NAS_BENCH_BERT = REPO.parent / "shared" / "benchmarks" / "nas_bench_bert" / "BERT_benchmark.json"

# (space, preset) for every preset of every space.
ALL_PRESETS = [("flexibert", "nas-bench-bert"), ("flexibert", "flexibert"), ("flexibert", "flexibert-2"), ("vit-resnas", "tiny"), ("vit-resnas", "small-images")]

torch.set_num_threads(1)  # tests run in parallel workers; one thread each avoids oversubscription


@pytest.fixture(params=ALL_PRESETS, ids=lambda p: f"{p[0]}:{p[1]}")
def space(request):
    name, preset = request.param
    return get_space(name, preset)


@pytest.fixture(scope="session")
def nas_bench_bert_path() -> Path:
    if not NAS_BENCH_BERT.exists():
        pytest.fail(f"NAS-Bench-BERT not found at {NAS_BENCH_BERT} (expected ../shared beside the checkout)")
    return NAS_BENCH_BERT
