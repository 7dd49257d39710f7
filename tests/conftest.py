"""Fixtures shared by the suite, and its tiers.

Tiers (markers): `system` tests run several real processes (coordinators killed or paused, `nas
serve`, a multi-node cluster, a browser); `benchmark` tests check that a default configuration
learns to a given quality. Without options pytest runs the default tier, everything else;
`--tier system|benchmark|all` picks another, and an explicit `-m` expression selects on its own.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from search_spaces import get_space
from surrogates.benchmarks import nas_bench_bert_file
from tests.helpers import ALL_PRESETS, ManualClock, made_once, plain_config, require

TIERS = ("default", "system", "benchmark")

# Artifacts of jobs run in-process go to one directory per test process, not the user's home.
_ARTIFACTS = Path(tempfile.mkdtemp(prefix="nas-test-artifacts-"))
os.environ.setdefault("NAS_ARTIFACT_ROOT", str(_ARTIFACTS))
atexit.register(shutil.rmtree, _ARTIFACTS, ignore_errors=True)

# Each pytest worker runs one local Ray of its share of the CPUs, and every `nas` process a test
# starts on its own local Ray gets the same share: the workers together use the machine's cores,
# not several times over. A developer's RAY_ADDRESS must not send test jobs to their cluster.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
RAY_CPUS = int(os.environ.get("NAS_TEST_RAY_CPUS") or max(1, (os.cpu_count() or 1) // _WORKERS))
os.environ.pop("RAY_ADDRESS", None)
os.environ["NAS_RAY_CPUS"] = str(RAY_CPUS)

torch.set_num_threads(1)  # tests run in parallel workers; one thread each avoids oversubscription


# ---- tiers ----


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--tier", choices=(*TIERS, "all"), default=None,
        help="Which tests run: default (every unit and integration test), system (several real processes), benchmark (defaults learn), or all. Default: default, or all when -m is given.",
    )  # fmt: skip


def _tier(config: pytest.Config) -> str:
    return config.getoption("tier") or ("all" if config.option.markexpr else "default")


def tier_of(item: pytest.Item) -> str:
    return next((tier for tier in TIERS[1:] if item.get_closest_marker(tier)), "default")


def pytest_report_header(config: pytest.Config) -> str:
    tier = _tier(config)
    if tier == "all":
        return "tier: all"
    return f"tier: {tier} (the other tiers are deselected; --tier {'|'.join(t for t in (*TIERS, 'all') if t != tier)} runs them)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:  # every test that opens the server carries the marker, however it asks
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
    # The benchmark tier's tests take minutes each: first, so that the workers start on them
    # together rather than one finding them queued behind the other's at the end.
    items.sort(key=lambda item: tier_of(item) != "benchmark")
    tier = _tier(config)
    if tier == "all":
        return
    chosen = [item for item in items if tier_of(item) == tier]
    if len(chosen) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if tier_of(item) != tier])
        items[:] = chosen


# ---- spaces, data ----


@pytest.fixture(params=ALL_PRESETS, ids=lambda p: f"{p[0]}:{p[1]}")
def space(request):
    name, preset = request.param
    return get_space(name, preset)


@pytest.fixture(scope="session")
def nas_bench_bert_path() -> Path:
    return nas_bench_bert_file()  # the package's own copy


@pytest.fixture
def fashion_mnist() -> None:
    """Debian's dataset-fashion-mnist, which a newcomer's machine may lack (CI installs it)."""
    from nas.tasks.data import TaskDataError, check_task_data

    try:
        check_task_data("fashion-mnist")
    except TaskDataError as missing:
        require("fashion-mnist", str(missing), "NAS_REQUIRE_FASHION_MNIST")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def digits_supernet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of the digits example's supernet (small-images), trained for seconds: near
    chance, a supernet for tests of the machinery (jobs that reuse it, exports), not of learning.
    Trained once per test run, by whichever worker asks first; the others wait on the lock, then
    read it. Tests copy it before anything could write to it."""
    from nas.tasks.data import load_task
    from nas.training.trainer import SupernetTrainer

    def train(directory: Path) -> None:
        task = load_task("digits", workdir=directory / "task")
        config = plain_config(epochs=1, batch_size=256, archs_per_step=1, seed=0)
        SupernetTrainer(get_space("vit-resnas", "small-images"), task, config).train(show_progress=False, checkpoint_dir=directory / "checkpoint")

    return made_once(tmp_path_factory, "digits-supernet", train) / "checkpoint"


# ---- Ray ----


@pytest.fixture(scope="session")
def ray_address() -> str:
    """This worker's local Ray cluster (RAY_CPUS CPUs), started once; its address lets `nas`
    processes join it instead of starting their own."""
    import ray

    from nas.search.cluster import init_ray

    init_ray(None, RAY_CPUS)
    return ray.get_runtime_context().gcs_address


# ---- PostgreSQL ----

# PostgreSQL for store tests (marker `postgres`). Where no server answers they are skipped with
# the reason; NAS_REQUIRE_POSTGRES=1 (set by CI) turns that skip into a failure.
POSTGRES_TEST_URL = os.environ.get("NAS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


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
        return f"no server answers at {POSTGRES_TEST_URL} (set NAS_TEST_POSTGRES_URL to use another): {reason}"
    finally:
        engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL of its own: its search_path is a fresh schema, dropped afterwards, so
    tests running in parallel (and other test files) never see each other's tables."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    require("PostgreSQL", _postgres_unavailable(), "NAS_REQUIRE_POSTGRES")
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
