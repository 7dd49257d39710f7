from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import torch

from nas.training.config import TrainConfig
from search_spaces import get_space
from surrogates.benchmarks import nas_bench_bert_file

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")
# (space, preset) for every preset of every space.
ALL_PRESETS = [("flexibert", "nas-bench-bert"), ("flexibert", "flexibert"), ("flexibert", "flexibert-2"), ("vit-resnas", "tiny"), ("vit-resnas", "small-images")]

def plain_config(**changes: Any) -> TrainConfig:
    """A trainer config for tests of the trainer's mechanics: one subnet-slice rule and nothing
    else (no sandwich, no curriculum, no MLM) unless a test asks for it."""
    values: dict[str, Any] = {"epochs": 5, "batch_size": 128, "archs_per_step": 4, "sandwich": False, "warmup_epochs": 0, "mlm_epochs": 0, "lr": 1e-3, "seed": 0}
    return TrainConfig(**{**values, **changes})


def poll(condition: Callable[[], T], timeout: float, what: str = "the condition", every: float = 0.05) -> T:
    """The first truthy value of `condition()`, asked every `every` seconds; an AssertionError
    naming `what` after `timeout` seconds. Tests wait on conditions, never on fixed sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


# Artifacts of jobs run in-process go to one directory per test session, not the user's home.
_ARTIFACTS = Path(tempfile.mkdtemp(prefix="nas-test-artifacts-"))
os.environ.setdefault("NAS_ARTIFACT_ROOT", str(_ARTIFACTS))
atexit.register(shutil.rmtree, _ARTIFACTS, ignore_errors=True)

torch.set_num_threads(1)  # tests run in parallel workers; one thread each avoids oversubscription


@pytest.fixture(params=ALL_PRESETS, ids=lambda p: f"{p[0]}:{p[1]}")
def space(request):
    name, preset = request.param
    return get_space(name, preset)


@pytest.fixture(scope="session")
def nas_bench_bert_path() -> Path:
    return nas_bench_bert_file()  # the package's own copy


# PostgreSQL for store tests (marker `postgres`). Where no server answers they are skipped with
# the reason; NAS_REQUIRE_POSTGRES=1 (set by CI) turns that skip into a failure.
POSTGRES_TEST_URL = os.environ.get("NAS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("NAS_REQUIRE_POSTGRES", "") not in ("", "0")


@functools.cache
def _postgres_unavailable() -> str | None:
    """Why the test server cannot be used, checked once per process (a dead server would otherwise
    cost each test its connect timeout)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    engine = create_engine(POSTGRES_TEST_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except OperationalError as exc:
        reason = " ".join(str(exc.orig).split())  # psycopg's message spans lines; a skip reason is one
        return f"PostgreSQL is needed at {POSTGRES_TEST_URL} (set NAS_TEST_POSTGRES_URL to use another): {reason}"
    finally:
        engine.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:  # every test that opens the server carries the marker, however it asks
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL of its own: its search_path is a fresh schema, dropped afterwards, so
    tests running in parallel (and other test files) never see each other's tables."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    problem = _postgres_unavailable()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(f"{problem} (NAS_REQUIRE_POSTGRES is set)", pytrace=False)
        pytest.skip(problem)
    admin = create_engine(POSTGRES_TEST_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    schema = f"nas_{uuid.uuid4().hex[:16]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield make_url(POSTGRES_TEST_URL).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
