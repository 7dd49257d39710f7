"""Coordinators as processes of their own (`nas coordinator`), stopped the ways processes stop:
interrupted (their jobs handed back), killed (the next takes the job over once its heartbeat is
stale, resuming without losing or repeating work, in the search, the supernet training and the
verified stage), or paused past their heartbeat (then fenced off, stopping quietly). They join
this worker's Ray cluster, except the first killed one, which runs its own local Ray as a user's
`nas coordinator` does."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from nas.artifact_root import ArtifactRoot
from nas.results.front import verification_choice
from nas.service import job_summary, submit_job
from nas.store import EventKind, Store
from tests.helpers import NAS, benchmark_spec, cli, digits_spec, env_for, poll

pytestmark = [pytest.mark.system, pytest.mark.timeout(600)]

STALE_AFTER_S = 2.0  # the coordinators these tests start take a job over after this long without a heartbeat


def start_coordinator(db: str, job_id: int | None, tmp_path: Path, ray_address: str | None, *args: str) -> subprocess.Popen:
    """`nas coordinator` in a session of its own (so that a kill of its group is a crash of it
    and of whatever it started)."""
    job = ["--job", str(job_id)] if job_id is not None else []
    command = [*NAS, "coordinator", "--db", db, *job, "--stale-after", str(STALE_AFTER_S), "--no-progress", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(tmp_path, ray_address), start_new_session=True)


def kill_hard(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)  # the coordinator and any Ray processes of its own, as a crash would
    process.wait(timeout=30)


def heartbeat_stale(store: Store, job_id: int) -> bool:
    """Whether a coordinator started with --stale-after STALE_AFTER_S may take the job over."""
    beat = store.get_job(job_id).heartbeat_at
    return beat is not None and (datetime.now(timezone.utc) - beat).total_seconds() > STALE_AFTER_S


def test_one_coordinator_runs_several_jobs_at_once_and_hands_them_all_back(tmp_path, ray_address):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    store = Store(db)
    jobs = [submit_job(store, benchmark_spec(budget={"candidates": 1000}, workers=1, resources={"evaluator": {"cpus": 0.5}}), owner=owner) for owner in ("alice", "alice", "bob")]
    coordinator = start_coordinator(db, None, tmp_path, ray_address, "--max-jobs", "2")
    try:
        # Two at once, one per user: alice's second job waits for a free slot, though it is older than bob's.
        def evaluating() -> list[int] | None:
            ids = [j.id for j in store.list_jobs("running") if store.counts(j.id).get("done", 0) >= 3]
            return ids if len(ids) >= 2 else None

        both = poll(evaluating, 240, "two jobs evaluating at once")
        assert sorted(both) == [jobs[0].id, jobs[2].id] and store.get_job(jobs[1].id).status == "queued"
        assert len({store.get_job(j).claimed_by for j in both}) == 1  # the same coordinator runs both
        coordinator.send_signal(signal.SIGINT)
        assert coordinator.wait(timeout=120) == 0, coordinator.stderr.read()[-3000:]
    finally:
        if coordinator.poll() is None:
            kill_hard(coordinator)
    # Both went back to the queue on the stop, their results kept, for the next coordinator to resume.
    for job_id in both:
        assert store.get_job(job_id).status == "queued" and store.counts(job_id).get("running", 0) == 0
        assert [e.kind for e in store.events(job_id)][-1] == "released"


def test_killed_coordinator_resumes_without_losing_or_repeating_work(tmp_path, ray_address):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    store = Store(db)
    job = submit_job(store, benchmark_spec(strategy="tpe", budget={"candidates": 20}))
    first = start_coordinator(db, job.id, tmp_path, None)  # its own local Ray, killed with it
    poll(lambda: store.counts(job.id).get("done", 0) >= 5, 180, "5 results before the kill")
    kill_hard(first)
    before = {c.id: (c.arch_id, c.metrics) for c in store.candidates(job.id, "done")}
    poll(lambda: heartbeat_stale(store, job.id), 60, "the dead coordinator's heartbeat to go stale")
    second = start_coordinator(db, job.id, tmp_path, ray_address)
    assert second.wait(timeout=300) == 0, second.stderr.read()
    assert store.get_job(job.id).status == "succeeded"
    candidates = store.candidates(job.id)
    assert store.counts(job.id)["done"] == 20 and len(candidates) == 20
    assert len({c.arch_id for c in candidates}) == 20  # nothing evaluated twice
    assert all(store.get_candidate(i).metrics == metrics and store.get_candidate(i).arch_id == arch for i, (arch, metrics) in before.items())
    assert any(e.kind == "resumed" for e in store.events(job.id))


def test_a_coordinator_killed_while_verifying_leaves_the_rest_to_the_next(tmp_path, ray_address):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    store = Store(db)
    job = submit_job(store, digits_spec(budget={"candidates": 6}, verify={"top_k": 3, "epochs": 4, "early_stop": False, "references": 0}))
    first = start_coordinator(db, job.id, tmp_path, ray_address)
    poll(lambda: len(store.verifications(job.id)) >= 1, 300, "the first verification before the kill")
    kill_hard(first)
    verified_before = {v.candidate_id: v for v in store.verifications(job.id)}
    poll(lambda: heartbeat_stale(store, job.id), 60, "the dead coordinator's heartbeat to go stale")
    second = start_coordinator(db, job.id, tmp_path, ray_address)
    assert second.wait(timeout=300) == 0, second.stderr.read()
    assert store.get_job(job.id).status == "succeeded" and store.counts(job.id)["done"] == 6
    verifications = store.verifications(job.id)
    chosen = verification_choice(store, job.id, 3)
    assert sorted(store.get_candidate(v.candidate_id).seq for v in verifications) == sorted(row["candidate"] for row in chosen)  # each once
    assert all(verified_before[c] in verifications for c in verified_before)  # kept, not redone
    started = [e for e in store.events(job.id) if e.kind == EventKind.VERIFY_STARTED]
    assert len(started) == 2 and set(started[1].data["trainings"]).isdisjoint(f"candidate-{store.get_candidate(c).seq}" for c in verified_before)
    shown = cli("pareto", str(job.id), "--db", db, "--verified")
    assert shown.exit_code == 0 and "Pareto front, verified" in shown.stdout and "chance (always the most frequent class)" in shown.stdout, shown.stdout + shown.stderr
    rows = json.loads(cli("pareto", str(job.id), "--db", db, "--verified", "--json").stdout)
    by_number = {store.get_candidate(v.candidate_id).seq: v for v in verifications}
    assert rows and all(row["verified"]["test_accuracy"] == by_number[row["candidate"]].test_accuracy for row in rows)


def pause_between_transactions(process: subprocess.Popen, sqlite_file: Path) -> None:
    """SIGSTOP `process` at a moment it holds no SQLite write lock. (Paused inside a write, it
    would block every writer of the file: SQLite has one writer at a time, which no fencing can
    change; PostgreSQL coordinators hold no lock between their short transactions either.)"""
    for _ in range(200):
        os.kill(process.pid, signal.SIGSTOP)
        probe = sqlite3.connect(sqlite_file, timeout=0.2, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:  # it was mid-write: let it finish and try again
            os.kill(process.pid, signal.SIGCONT)
            time.sleep(0.02)
        finally:
            probe.close()
    raise AssertionError("could not pause the coordinator between two of its transactions")


def test_a_paused_coordinator_that_lost_its_job_stops_quietly(tmp_path, ray_address):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    store = Store(db)
    budget = 300  # TPE's asks keep the job going for tens of seconds: the pause lands mid-search
    # Half a CPU per evaluator: the paused coordinator's actor keeps its share while the next one's runs.
    job = submit_job(store, benchmark_spec(strategy="tpe", budget={"candidates": budget}, resources={"evaluator": {"cpus": 0.5}}))
    first = start_coordinator(db, job.id, tmp_path, ray_address)
    poll(lambda: store.counts(job.id)["done"] >= 3, 180, "3 results before the pause")
    pause_between_transactions(first, tmp_path / "nas.db")  # paused past its heartbeat, as a stalled VM would be
    try:
        poll(lambda: heartbeat_stale(store, job.id), 60, "the paused coordinator's heartbeat to go stale")
        second = start_coordinator(db, job.id, tmp_path, ray_address)
        poll(lambda: any(e.kind == "resumed" for e in store.events(job.id)), 120, "the takeover")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0 and "Traceback" not in err, err  # it stops quietly
    assert out.splitlines()[-1].startswith(f"job {job.id} (")  # it names the job it ran (another finished it)
    assert second.wait(timeout=300) == 0, second.stderr.read()
    assert store.get_job(job.id).status == "succeeded"
    candidates = store.candidates(job.id)
    assert store.counts(job.id)["running"] == 0 and store.counts(job.id)["done"] == budget  # nothing left running, nothing lost
    assert len(candidates) == budget and len({c.arch_id for c in candidates}) == budget  # nothing evaluated twice


def test_killed_during_supernet_training_resumes_the_checkpoint(tmp_path, ray_address):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    store = Store(db)
    job = submit_job(store, digits_spec(supernet={"epochs": 3, "archs_per_step": 2, "batch_size": 64, "max_train": 300, "check": False, "score_finetune_steps": 0}, budget={"candidates": 2}))
    assert job_summary(store, job)["supernet"]["state"] == "pending"
    first = start_coordinator(db, job.id, tmp_path, ray_address)
    checkpoint = Path(ArtifactRoot().supernet(job)) / "checkpoint.json"
    poll(lambda: job_summary(store, job)["supernet"]["state"] == "training", 180, "the first epoch's progress event")
    progress = job_summary(store, job)["supernet"]["progress"]
    assert progress["phase"] == "supervised" and progress["epochs"] == 3 and 1 <= progress["epochs_done"] < 3
    assert progress["total_steps"] == 3 * -(-300 // 64) and progress["loss"] > 0
    kill_hard(first)
    shown = cli("status", str(job.id), "--db", db)
    assert shown.exit_code == 0 and "supernet: training (supervised: epoch " in shown.stdout, shown.stdout + shown.stderr
    step_at_kill = json.loads(checkpoint.read_text())["position"]["global_step"]
    poll(lambda: heartbeat_stale(store, job.id), 60, "the dead coordinator's heartbeat to go stale")
    second = start_coordinator(db, job.id, tmp_path, ray_address)
    assert second.wait(timeout=300) == 0, second.stderr.read()
    assert store.get_job(job.id).status == "succeeded"
    assert len(store.artifacts(job.id, "supernet_checkpoint")) == 1 and store.counts(job.id)["done"] == 2
    assert json.loads(checkpoint.read_text())["position"]["phase"] == "done"
    resumed = [e for e in store.events(job.id) if e.kind == "supernet_resumed"]
    # Ray's workers can outlive the killed coordinator by a moment and save one more epoch.
    assert step_at_kill > 0 and len(resumed) == 1 and resumed[0].data["step"] >= step_at_kill
