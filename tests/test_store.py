"""The SQL store on SQLite and PostgreSQL, and Pareto dominance."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, inspect

from nas.results.front import pareto_candidates
from nas.results.pareto import non_dominated_mask
from nas.store import (
    JOB_STATUSES,
    CandidateNotFound,
    ClaimLost,
    DuplicateArchitecture,
    InvalidTransition,
    JobNotFound,
    Store,
    resolve_db_url,
)
from nas.store.engine import MIGRATIONS
from nas.store.models import SCHEMA_REVISION, Base
from tests.helpers import ManualClock

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nas.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(db_url: str, clock: ManualClock) -> Iterator[Store]:
    """A store on a clock that moves only when a test moves it (`store.clock.advance`)."""
    with Store(db_url, clock=clock) as opened:
        yield opened


def brute_force_front(values: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """O(n^2) reference: rows no other row dominates."""
    points = np.where(maximize, -values, values)
    no_worse = (points[:, None, :] <= points[None, :, :]).all(axis=2)
    better = (points[:, None, :] < points[None, :, :]).any(axis=2)
    return ~(no_worse & better).any(axis=0)


# ---- schema ----


def test_migrations_create_the_schema_once(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with Store(db_url) as store:
        assert store.schema_upgraded
        job = store.create_job({"name": "kept"}, "kept")
    with Store(db_url) as reopened:
        assert not reopened.schema_upgraded  # already at head: no migration ran
        assert reopened.get_job(job.id).name == "kept"
    engine = create_engine(resolve_db_url(db_url))
    try:
        with engine.connect() as conn:
            assert {"jobs", "candidates", "artifacts", "events", "alembic_version"} <= set(inspect(conn).get_table_names())
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert context.get_current_revision() == SCHEMA_REVISION
            assert compare_metadata(context, Base.metadata) == []  # the migrations build exactly the models
    finally:
        engine.dispose()


def test_schema_revision_is_the_migrations_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_REVISION]


def test_store_imports_without_torch_or_alembic() -> None:
    code = "import sys, nas.store; print(sorted(m for m in ('torch', 'ray', 'alembic') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---- URLs ----


def test_db_url_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NAS_DB_URL", raising=False)
    assert resolve_db_url(None) == f"sqlite:///{tmp_path / 'home' / 'nas.db'}"
    assert (tmp_path / "home").is_dir()
    monkeypatch.setenv("NAS_DB_URL", f"sqlite:///{tmp_path / 'env' / 'x.db'}")
    assert resolve_db_url(None) == f"sqlite:///{tmp_path / 'env' / 'x.db'}"
    assert (tmp_path / "env").is_dir()
    assert resolve_db_url(f"sqlite:///{tmp_path / 'arg.db'}") == f"sqlite:///{tmp_path / 'arg.db'}"  # the argument wins
    assert resolve_db_url("postgresql://u:pw@db:5433/nas") == "postgresql+psycopg://u:pw@db:5433/nas"
    assert resolve_db_url("postgresql+psycopg://u@db/nas") == "postgresql+psycopg://u@db/nas"
    with pytest.raises(ValueError, match="NAS_DB_URL: .* not a database URL"):
        monkeypatch.setenv("NAS_DB_URL", "no url here")
        resolve_db_url(None)
    with pytest.raises(ValueError, match="backend 'mysql' not supported"):
        resolve_db_url("mysql://u@db/nas")


def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'nas.db'}") as store, store._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0


# ---- jobs ----


def test_jobs_are_created_listed_and_found(store: Store) -> None:
    first = store.create_job({"name": "a", "seed": 0, "budget": {"candidates": 5}}, "a")
    second = store.create_job({"name": "b"}, "b")
    assert (first.status, first.spec, first.cancel_requested) == ("queued", {"name": "a", "seed": 0, "budget": {"candidates": 5}}, False)
    assert list(store.get_job(first.id).spec) == ["name", "seed", "budget"]  # documents come back as written
    assert first.created_at.tzinfo is not None
    assert [j.id for j in store.list_jobs()] == [first.id, second.id]
    assert store.list_jobs("running") == []
    assert store.get_job(second.id) == second
    with pytest.raises(JobNotFound, match="job 999 not found"):
        store.get_job(999)
    with pytest.raises(ValueError, match="status: 'done' not in"):
        store.list_jobs("done")
    assert [e.kind for e in store.events(first.id)] == ["created"]


def test_claim_takes_the_oldest_queued_job_once(store: Store) -> None:
    older, newer = store.create_job({}, "older"), store.create_job({}, "newer")
    claimed = store.claim_job("w1")
    assert claimed is not None and (claimed.id, claimed.status, claimed.claimed_by) == (older.id, "running", "w1")
    assert claimed.started_at is not None and claimed.heartbeat_at is not None
    assert store.claim_job("w2", job_id=older.id) is None  # running with a live heartbeat
    assert store.claim_job("w2").id == newer.id
    assert store.claim_job("w3") is None
    with pytest.raises(JobNotFound):
        store.claim_job("w3", job_id=12345)


def test_claims_interleave_the_jobs_of_several_users(store: Store) -> None:
    alice = [store.create_job({}, f"alice-{i}", owner="alice") for i in range(3)]
    bob = [store.create_job({}, f"bob-{i}", owner="bob") for i in range(2)]
    anonymous = store.create_job({}, "cli")  # no owner (the CLI, the server's token) counts as one more
    order = [store.claim_job(f"w{i}").id for i in range(6)]
    # Each claim goes to the owner with the fewest jobs running, oldest first among equals.
    assert order == [alice[0].id, bob[0].id, anonymous.id, alice[1].id, bob[1].id, alice[2].id]
    assert store.claim_job("w6") is None


def test_a_stale_running_job_is_reclaimed_and_a_live_one_is_not(store: Store) -> None:
    job = store.create_job({}, "j")
    first = store.claim_job("w1")
    assert store.claim_job("w2", stale_after_s=60) is None
    assert store.heartbeat(job.id, "w1")
    store.clock.advance(60)
    assert store.claim_job("w2", stale_after_s=60) is None  # silent for exactly the stale time: not yet
    store.clock.advance(0.001)
    resumed = store.claim_job("w2", stale_after_s=60)  # w1 stopped beating: presumed dead
    assert resumed is not None and resumed.claimed_by == "w2" and resumed.status == "running"
    assert resumed.started_at == first.started_at  # the job's start is kept across the takeover
    assert not store.heartbeat(job.id, "w1")
    assert store.heartbeat(job.id, "w2")
    with pytest.raises(ClaimLost, match="claimed by 'w2', not 'w1'"):
        store.finish_job(job.id, "succeeded", worker="w1")
    assert [e.kind for e in store.events(job.id)] == ["created", "claimed", "resumed"]
    assert store.events(job.id)[-1].data == {"worker": "w2", "previous": "w1"}


def test_a_released_job_is_claimable_at_once_and_its_old_claim_is_fenced_off(store: Store) -> None:
    job = store.create_job({}, "j")
    first = store.claim_job("w1")
    done, running = store.add_candidates(job.id, [("a", {}), ("b", {})], claim=first.claim)
    store.start_candidate(done.id, "w1", claim=first.claim)
    store.record_result(done.id, {"accuracy": 0.5}, claim=first.claim)
    store.start_candidate(running.id, "w1", claim=first.claim)
    released = store.release_job(first.claim, "interrupted")
    assert (released.status, released.claimed_by, released.heartbeat_at) == ("queued", None, None)
    assert {c.id: c.status for c in store.candidates(job.id)} == {done.id: "done", running.id: "proposed"}
    assert store.events(job.id)[-1].kind == "released" and store.events(job.id)[-1].data == {"worker": "w1", "candidates_released": 1}
    again = store.claim_job("w2", stale_after_s=3600)  # no stale timeout to wait for
    assert again.claimed_by == "w2" and again.started_at == first.started_at
    with pytest.raises(ClaimLost):
        store.release_job(first.claim, "twice")
    with pytest.raises(ClaimLost):
        store.record_result(running.id, {"accuracy": 0.1}, claim=first.claim)


def _claim_when_released(url: str, worker: str, barrier: threading.Barrier, results: list[object]) -> None:
    with Store(url) as store:  # its own engine and connections
        barrier.wait()
        claimed = store.claim_job(worker)
        results.append(claimed.claimed_by if claimed else None)


def test_racing_threads_claim_a_job_exactly_once(db_url: str) -> None:
    with Store(db_url) as store:
        for round_ in range(3):
            job = store.create_job({}, f"race-{round_}")
            results: list[object] = []
            barrier = threading.Barrier(4)
            threads = [threading.Thread(target=_claim_when_released, args=(db_url, f"w{i}", barrier, results)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            winners = [r for r in results if r is not None]
            assert len(results) == 4 and len(winners) == 1
            assert store.get_job(job.id).claimed_by == winners[0]


def _claim_in_process(url: str, worker: str, barrier: object, results: object) -> None:
    with Store(url) as store:
        barrier.wait()  # type: ignore[attr-defined]
        claimed = store.claim_job(worker)
        results.put(claimed.claimed_by if claimed else None)  # type: ignore[attr-defined]


def test_racing_processes_claim_a_job_exactly_once(db_url: str) -> None:
    with Store(db_url) as store:
        job = store.create_job({}, "race")
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    processes = [ctx.Process(target=_claim_in_process, args=(db_url, f"p{i}", barrier, results)) for i in range(2)]
    for p in processes:
        p.start()
    claims = [results.get(timeout=60) for _ in processes]
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1
    with Store(db_url) as store:
        assert store.get_job(job.id).claimed_by == winners[0]


def test_cancel_semantics(store: Store) -> None:
    queued = store.create_job({}, "queued")
    cancelled = store.request_cancel(queued.id)
    assert (cancelled.status, cancelled.cancel_requested) == ("cancelled", True) and cancelled.finished_at is not None
    assert store.claim_job("w", job_id=queued.id) is None  # never starts

    running = store.create_job({}, "running")
    store.claim_job("w", job_id=running.id)
    requested = store.request_cancel(running.id)
    assert (requested.status, requested.cancel_requested) == ("running", True)  # its coordinator stops it
    done = store.finish_job(running.id, "cancelled", worker="w")
    assert done.status == "cancelled" and done.finished_at is not None

    assert store.request_cancel(running.id) == done  # finished: left as it is
    with pytest.raises(InvalidTransition, match="already finished as cancelled"):
        store.finish_job(running.id, "succeeded")
    with pytest.raises(ValueError, match="status: 'done' not in"):
        store.finish_job(running.id, "done")
    assert [e.kind for e in store.events(running.id)] == ["created", "claimed", "cancel_requested", "finished"]


def test_finish_records_the_error(store: Store) -> None:
    job = store.create_job({}, "j")
    store.claim_job("w")
    failed = store.finish_job(job.id, "failed", error="supernet diverged")
    assert (failed.status, failed.error) == ("failed", "supernet diverged")
    assert not store.heartbeat(job.id, "w")
    with pytest.raises(InvalidTransition, match="no new candidates"):
        store.add_candidates(job.id, [("a", {})])


# ---- candidates ----


def test_candidate_lifecycle_with_retries(store: Store) -> None:
    job = store.create_job({}, "j")
    a, b, c = store.add_candidates(job.id, [("a", {"depth": 1}), ("b", {"depth": 2}), ("c", {"depth": 3})])
    assert [x.seq for x in (a, b, c)] == [1, 2, 3] and a.status == "proposed" and a.attempt == 0

    started = store.start_candidate(a.id, "e1")
    assert (started.status, started.attempt, started.worker) == ("running", 1, "e1") and started.started_at is not None
    assert store.record_failure(a.id, "out of memory", max_attempts=2) == "proposed"
    assert store.get_candidate(a.id).error == "out of memory"
    assert store.start_candidate(a.id, "e2").attempt == 2
    assert store.record_failure(a.id, "out of memory again", max_attempts=2) == "failed"
    failed = store.get_candidate(a.id)
    assert (failed.status, failed.error, failed.attempt) == ("failed", "out of memory again", 2) and failed.finished_at is not None

    store.start_candidate(b.id, "e1")
    done = store.record_result(b.id, {"accuracy": 0.91, "params": 1200, "flops": 3e6, "val_loss": 0.3}, eval_seconds=0.5)
    assert (done.status, done.accuracy, done.params, done.flops, done.latency_ms) == ("done", 0.91, 1200.0, 3e6, None)
    assert done.extra_metrics == {"val_loss": 0.3}
    assert done.metrics == {"accuracy": 0.91, "params": 1200.0, "flops": 3e6, "val_loss": 0.3}
    assert done.eval_seconds == 0.5

    with pytest.raises(InvalidTransition, match="it is done, not running"):
        store.record_result(b.id, {"accuracy": 0.5})
    with pytest.raises(InvalidTransition, match="it is proposed, not running"):
        store.record_failure(c.id, "x")
    store.start_candidate(c.id, "e1")
    with pytest.raises(ValueError, match="metrics.accuracy: expected a finite number"):
        store.record_result(c.id, {"accuracy": float("nan")})
    with pytest.raises(CandidateNotFound, match="candidate 4242 not found"):
        store.start_candidate(4242, "e1")

    released = store.release_candidate(c.id)  # dispatched, but its worker died before starting it
    assert (released.status, released.attempt, released.worker) == ("proposed", 0, None)
    store.start_candidate(c.id, "e1")

    assert store.counts(job.id) == {"proposed": 0, "running": 1, "done": 1, "failed": 1}
    assert [x.arch_id for x in store.candidates(job.id)] == ["a", "b", "c"]
    assert [x.arch_id for x in store.candidates(job.id, "running")] == ["c"]
    assert store.best(job.id, "accuracy", maximize=True).arch_id == "b"
    with pytest.raises(ValueError, match="metric: 'speed' not in"):
        store.best(job.id, "speed", maximize=True)


def test_reset_running_keeps_attempts(store: Store) -> None:
    job = store.create_job({}, "j")
    cands = store.add_candidates(job.id, [(f"a{i}", {}) for i in range(3)])
    for cand in cands[:2]:
        store.start_candidate(cand.id, "dead-coordinator")
    assert store.reset_running(job.id) == 2
    after = store.candidates(job.id)
    assert [c.status for c in after] == ["proposed"] * 3
    assert [c.attempt for c in after] == [1, 1, 0]
    assert all(c.worker is None for c in after)


def test_duplicate_architectures_are_rejected_whole(store: Store) -> None:
    job = store.create_job({}, "j")
    store.add_candidates(job.id, [("a", {}), ("b", {})])
    with pytest.raises(DuplicateArchitecture, match="already proposed in this job: a"):
        store.add_candidates(job.id, [("c", {}), ("a", {})])
    with pytest.raises(DuplicateArchitecture, match=": d"):
        store.add_candidates(job.id, [("d", {}), ("d", {})])
    with pytest.raises(DuplicateArchitecture):
        store.bulk_insert_results(job.id, [{"arch_id": "b", "arch": {}, "metrics": {"accuracy": 1.0}}])
    assert [c.arch_id for c in store.candidates(job.id)] == ["a", "b"]  # nothing of the failed batches
    other = store.create_job({}, "other")
    assert store.add_candidates(other.id, [("a", {})])[0].seq == 1  # ids are unique per job only
    assert store.add_candidates(job.id, [("c", {})])[0].seq == 3


def test_bulk_insert_results_stores_done_candidates(store: Store) -> None:
    job = store.create_job({}, "j")
    store.add_candidates(job.id, [("first", {})])
    rows = [{"arch_id": f"x{i}", "arch": {"i": i}, "metrics": {"accuracy": i / 10, "params": 100 - i, "note": "n"}} for i in range(5)]
    assert store.bulk_insert_results(job.id, rows) == 5
    assert store.bulk_insert_results(job.id, []) == 0
    stored = store.candidates(job.id, "done")
    assert [c.seq for c in stored] == [2, 3, 4, 5, 6]
    assert stored[-1].metrics == {"accuracy": 0.4, "params": 96.0, "note": "n"}


def test_artifacts_and_events(store: Store) -> None:
    job = store.create_job({}, "j")
    store.add_artifact(job.id, "supernet_checkpoint", "/ckpt/a", {"step": 10})
    export = store.add_artifact(job.id, "export", "/out/model.onnx")
    assert [a.kind for a in store.artifacts(job.id)] == ["supernet_checkpoint", "export"]
    assert store.artifacts(job.id, kind="export") == [export]
    assert store.artifacts(job.id)[0].meta == {"step": 10}
    first = store.add_event(job.id, "progress", "10 done", {"done": 10})
    second = store.add_event(job.id, "progress", "20 done")
    assert store.events(job.id, since_id=first.id) == [second]
    assert [e.kind for e in store.events(job.id)] == ["created", "progress", "progress"]
    with pytest.raises(JobNotFound):
        store.add_event(999, "x")


# ---- Pareto ----


@pytest.mark.parametrize("seed", range(40))
def test_non_dominated_mask_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(0, 120)), int(rng.integers(1, 5))
    values = rng.integers(0, 5, size=(n, k)).astype(float)  # few levels: many ties and duplicates
    if n and seed % 3 == 0:
        values = np.concatenate([values, values[: n // 2]])  # exact copies of points
    maximize = [bool(b) for b in rng.random(k) < 0.5]
    assert np.array_equal(non_dominated_mask(values, maximize), brute_force_front(values, maximize))


def test_non_dominated_mask_keeps_copies_and_rejects_nan() -> None:
    values = np.array([[1.0, 5.0], [1.0, 5.0], [2.0, 4.0], [0.0, 0.0], [2.0, 4.0]])
    assert non_dominated_mask(values, [True, True]).tolist() == [True, True, True, False, True]
    assert non_dominated_mask(np.array([[np.inf, 1.0], [1.0, np.inf]]), [False, False]).tolist() == [True, True]
    assert non_dominated_mask(np.zeros((0, 3)), [True] * 3).tolist() == []
    with pytest.raises(ValueError, match="NaN"):
        non_dominated_mask(np.array([[np.nan, 1.0]]), [True, False])
    with pytest.raises(ValueError, match="2 flags for 3 objectives"):
        non_dominated_mask(np.zeros((2, 3)), [True, False])


def test_the_front_read_from_the_store_matches_brute_force(store: Store) -> None:
    rng = np.random.default_rng(7)
    job = store.create_job({}, "j")
    n = 300
    accuracy = rng.integers(0, 20, n) / 20  # ties
    params = rng.integers(1, 15, n) * 1000.0
    flops = rng.integers(1, 6, n) * 1e6
    rows = [{"arch_id": f"a{i}", "arch": {"i": i}, "metrics": {"accuracy": accuracy[i], "params": params[i], "flops": flops[i]}} for i in range(n)]
    rows[5]["metrics"] = dict(rows[0]["metrics"])  # an exact duplicate of a point
    accuracy[5], params[5], flops[5] = accuracy[0], params[0], flops[0]
    store.bulk_insert_results(job.id, rows)
    # Not done, or without the metric: never on the front, however good.
    pending = store.add_candidates(job.id, [("pending", {}), ("no-params", {})])
    store.start_candidate(pending[1].id, "e")
    store.record_result(pending[1].id, {"accuracy": 2.0})

    for objectives in ([("accuracy", True), ("params", False)], [("accuracy", True), ("params", False), ("flops", False)], [("params", False)]):
        values = np.stack([{"accuracy": accuracy, "params": params, "flops": flops}[m] for m, _ in objectives], axis=1)
        expected = {f"a{i}" for i in np.flatnonzero(brute_force_front(values, [up for _, up in objectives]))}
        front = pareto_candidates(store, job.id, objectives)
        assert {c.arch_id for c in front} == expected
        keys = [(*(-getattr(c, m) if up else getattr(c, m) for m, up in objectives), c.seq) for c in front]
        assert keys == sorted(keys)  # best first on the primary objective
    assert pareto_candidates(store, store.create_job({}, "empty").id, [("accuracy", True)]) == []
    with pytest.raises(ValueError, match="metric: 'speed' not in"):
        pareto_candidates(store, job.id, [("speed", True)])


def test_writes_under_a_lost_claim_are_fenced_off(store: Store) -> None:
    job = store.create_job({}, "j")
    first = store.claim_job("w1")
    old = first.claim
    a, b = store.add_candidates(job.id, [("a", {}), ("b", {})], claim=old)
    store.start_candidate(a.id, "w1", claim=old)
    # w1 stops beating (paused, say); w2 takes the job over with the next claim epoch.
    store.clock.advance(121)
    new = store.claim_job("w2").claim  # silent past the default stale time
    assert (new.worker, new.epoch) == ("w2", old.epoch + 1)
    before = [(c.id, c.status, c.attempt, c.metrics) for c in store.candidates(job.id)]
    stale_writes = [
        lambda: store.add_candidates(job.id, [("c", {})], claim=old),
        lambda: store.start_candidate(b.id, "w1", claim=old),
        lambda: store.record_result(a.id, {"accuracy": 0.5}, claim=old),
        lambda: store.record_failure(a.id, "boom", claim=old),
        lambda: store.release_candidate(a.id, claim=old),
        lambda: store.reset_running(job.id, claim=old),
        lambda: store.finish_job(job.id, "succeeded", claim=old),
    ]
    for write in stale_writes:
        with pytest.raises(ClaimLost, match="claimed by 'w2'"):
            write()
    assert [(c.id, c.status, c.attempt, c.metrics) for c in store.candidates(job.id)] == before  # nothing half-written
    assert not store.heartbeat(job.id, "w1", old.epoch)
    assert store.reset_running(job.id, claim=new) == 1  # the new holder takes a over
    store.start_candidate(a.id, "w2", claim=new)
    finished = store.finish_job(job.id, "succeeded", claim=new)
    assert finished.status == "succeeded" and store.counts(job.id)["running"] == 0  # nothing left running


def test_a_claim_covers_only_its_own_job(store: Store) -> None:
    mine, other = store.create_job({}, "mine"), store.create_job({}, "other")
    claim = store.claim_job("w1", job_id=mine.id).claim
    (candidate,) = store.add_candidates(other.id, [("x", {})])
    with pytest.raises(ClaimLost, match=f"does not cover job {other.id}"):
        store.start_candidate(candidate.id, "w1", claim=claim)


VERIFIED = {"init": "inherited", "val_accuracy": 0.9, "test_accuracy": 0.85, "best_epoch": 3, "epochs_trained": 4, "epochs": 6, "seconds": 12.5, "weights": "/w/model.safetensors"}


def test_a_done_candidate_is_verified_once_under_the_jobs_claim(store: Store) -> None:
    job = store.create_job({}, "j")
    claim = store.claim_job("w1").claim
    a, b = store.add_candidates(job.id, [("a", {}), ("b", {})], claim=claim)
    with pytest.raises(InvalidTransition, match="it is proposed, not done"):
        store.record_verification(a.id, VERIFIED, claim=claim)
    store.start_candidate(a.id, "w1", claim=claim)
    store.record_result(a.id, {"accuracy": 0.5}, claim=claim)
    record = store.record_verification(a.id, VERIFIED, claim=claim)
    assert (record.job_id, record.candidate_id, record.val_accuracy, record.test_accuracy, record.stopped_early) == (job.id, a.id, 0.9, 0.85, True)
    assert record.finished_at.tzinfo is not None
    with pytest.raises(InvalidTransition, match="verified already"):
        store.record_verification(a.id, VERIFIED, claim=claim)
    with pytest.raises(ValueError, match="missing test_accuracy"):
        store.record_verification(b.id, {k: v for k, v in VERIFIED.items() if k != "test_accuracy"})
    assert store.verifications(job.id) == [record]
    # A claim taken over fences the old holder off.
    store.clock.advance(121)
    new = store.claim_job("w2").claim  # silent past the default stale time
    store.start_candidate(b.id, "w2", claim=new)
    store.record_result(b.id, {"accuracy": 0.4}, claim=new)
    with pytest.raises(ClaimLost, match="claimed by 'w2'"):
        store.record_verification(b.id, VERIFIED, claim=claim)
    assert [v.candidate_id for v in store.verifications(job.id)] == [a.id]


def test_coordinators_are_alive_while_they_beat(store: Store) -> None:
    assert store.coordinators() == []
    store.coordinator_beat("a")
    store.coordinator_beat("b")
    first = store.coordinators()
    assert [c.name for c in first] == ["a", "b"] and all(c.started_at == c.heartbeat_at for c in first)
    store.clock.advance(2)
    store.coordinator_beat("a")  # a second beat refreshes the entry, keeps when it started
    again = {c.name: c for c in store.coordinators()}
    assert again["a"].started_at == first[0].started_at and again["a"].heartbeat_at > first[0].heartbeat_at
    # b beat 2 s ago, a just now
    assert [c.name for c in store.coordinators(alive_within_s=1.0)] == ["a"]  # b fell silent: gone
    assert [c.name for c in store.coordinators(alive_within_s=2.0)] == ["a", "b"]
    store.coordinator_gone("a")
    store.coordinator_gone("unknown")  # signing off twice, or unknown, is not an error
    assert [c.name for c in store.coordinators()] == ["b"]


def test_job_counts_cover_every_status(store: Store) -> None:
    assert store.job_counts() == dict.fromkeys(JOB_STATUSES, 0)
    for name in ("a", "b", "c"):
        store.create_job({"name": name}, name)
    store.claim_job("w")
    store.request_cancel(3)
    assert store.job_counts() == {**dict.fromkeys(JOB_STATUSES, 0), "queued": 1, "running": 1, "cancelled": 1}
