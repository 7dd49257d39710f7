from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
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


# PostgreSQL for store tests: CI runs a server; a test that needs it fails (never skips) without it.
POSTGRES_TEST_URL = os.environ.get("NAS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL of its own: its search_path is a fresh schema, dropped afterwards, so
    tests running in parallel (and other test files) never see each other's tables."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    admin = create_engine(POSTGRES_TEST_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    schema = f"nas_{uuid.uuid4().hex[:16]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL is needed at {POSTGRES_TEST_URL} (set NAS_TEST_POSTGRES_URL to use another): {exc.orig}", pytrace=False)
    try:
        yield make_url(POSTGRES_TEST_URL).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
