"""The service end to end in this process: jobs run by the coordinator on this worker's real Ray
against real databases (supernet training, evaluation, the verified stage, export), workers that
crash, time budgets on a clock the test moves, cancel, the command line that runs a job. What
needs several processes (kills, pauses, stops) is in test_coordinator_processes.py."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import ray
import yaml

from nas.artifact_root import JobFiles
from nas.job.metrics import metric
from nas.results.front import pareto_candidates
from nas.search.coordinator import Coordinator
from nas.search.evaluation import BenchmarkEvaluator, SupernetEvaluator
from nas.service import export_candidate, job_summary, pareto_rows, submit_job
from nas.store import ArtifactKind, CandidateRecord, EventKind, Store
from tests.helpers import (
    EXAMPLES,
    NAS,
    ManualClock,
    advance_once_evaluating,
    assert_non_dominated,
    benchmark_spec,
    cli,
    digits_spec,
    env_for,
    job_reusing_supernet,
    made_once,
    poll,
    reviews_csv,
)

pytestmark = pytest.mark.usefixtures("ray_address")  # every job here runs on this worker's Ray


# The first test to ask for the shared digits job waits for all of it (a search and six trainings:
# about 1 ½ minutes alone, 2 ½ on a loaded CI machine): more than the 5 minutes a test may hang.
DIGITS_JOB_TIMEOUT = pytest.mark.timeout(600)


@pytest.fixture(scope="session")
def digits_job(tmp_path_factory, ray_address):
    """One real digits search (supernet trained as a Ray task, top 2 verified beside one plain-family
    reference trained with two seeds), shared by the tests that read it: run once per test run, by
    whichever worker asks first (the others wait on the lock, then read its store and files)."""

    def run(root: Path) -> None:
        store = Store(f"sqlite:///{root / 'nas.db'}")
        job = submit_job(store, digits_spec(verify={"top_k": 2, "epochs": 2, "references": 1, "seeds": 2}))
        Coordinator(store, jobs_dir=root / "jobs", artifact_root=root / "artifacts").run_next(job.id)

    root = made_once(tmp_path_factory, "digits-job", run)
    store = Store(f"sqlite:///{root / 'nas.db'}")
    (job,) = store.list_jobs()
    return store, job, root


@DIGITS_JOB_TIMEOUT
def test_digits_search_trains_evaluates_and_exports(digits_job, tmp_path):
    store, job, _ = digits_job
    assert job.status == "succeeded", job.error
    done = store.candidates(job.id, "done")
    assert len(done) == 4 and len(store.artifacts(job.id, ArtifactKind.SUPERNET_CHECKPOINT)) == 1
    supernet = job_summary(store, job)["supernet"]
    assert supernet["state"] == "trained" and supernet["progress"]["phase"] == "done" and supernet["message"].startswith("trained: ")
    assert supernet["progress"]["step"] == supernet["progress"]["total_steps"] > 0
    for candidate in done:
        assert 0.0 <= candidate.metrics["accuracy"] <= 1.0 and candidate.metrics["latency_ms"] > 0
        assert candidate.metrics["params"] <= 2_000_000  # the spec's params_max constraint
    front = pareto_rows(store, job.id)
    assert_non_dominated(front, done, [("accuracy", True), ("params", False)])
    # Export the first front member and reload it in a fresh process, without the service.
    out = tmp_path / "model"
    export_candidate(store, job.id, front[0]["candidate"], "pytorch", out)
    from sklearn.datasets import load_digits

    images = load_digits().images[:20]
    np.save(tmp_path / "images.npy", images)
    fresh = subprocess.run([sys.executable, str(out / "loader.py"), str(out), str(tmp_path / "images.npy")], capture_output=True, text=True, timeout=120, env=env_for(tmp_path))
    assert fresh.returncode == 0, fresh.stderr
    predicted = [json.loads(line)["class"] for line in fresh.stdout.splitlines()]
    sys.path.insert(0, str(out))
    try:
        import loader  # the exported loader, in this process, for the reference predictions
    finally:
        sys.path.remove(str(out))
        sys.modules.pop("loader", None)
    assert predicted == [loader.load(out).classes[i] for i in loader.load(out).predict(images)]


@DIGITS_JOB_TIMEOUT
def test_the_verified_stage_trains_the_top_of_the_front_and_exports_its_weights(digits_job, tmp_path):
    from safetensors.torch import load_file

    from nas.results.front import verification_choice
    from nas.tasks.data import load_task
    from nas.training.standalone import evaluate
    from search_spaces import get_space

    store, job, _ = digits_job
    chosen = verification_choice(store, job.id, 2)
    verifications = store.verifications(job.id)
    # The two ends of the front (a front of one: then the next best); each verified once, and
    # trained to the end (with a reference to compare, nothing stops early).
    front = pareto_rows(store, job.id)
    ends = {min(front, key=lambda r: r["metrics"]["params"])["candidate"], max(front, key=lambda r: r["metrics"]["accuracy"])["candidate"]}
    assert ends <= {row["candidate"] for row in chosen} and (len(front) == 1 or {row["candidate"] for row in chosen} <= {row["candidate"] for row in front})
    assert sorted(store.get_candidate(v.candidate_id).seq for v in verifications) == sorted(row["candidate"] for row in chosen)
    for v in verifications:
        assert v.init == "inherited" and v.epochs == v.epochs_trained == 2 and 1 <= v.best_epoch <= 2 and v.seconds > 0
        assert 0.0 <= v.val_accuracy <= 1.0 and 0.0 <= v.test_accuracy <= 1.0 and Path(v.weights).is_file()
    summary = job_summary(store, job)
    asked = 2
    assert summary["verify"]["state"] == "done" and summary["verify"]["verified"] == asked
    assert summary["chance_accuracy"] == summary["supernet"]["health"]["majority_rate"] == pytest.approx(18 / 179)  # digits: 18 of each class
    assert [e.kind for e in store.events(job.id)].count(EventKind.VERIFIED) == asked * 2  # two seeds each
    verified_front = pareto_rows(store, job.id, verified=True)
    by_number = {store.get_candidate(v.candidate_id).seq: v for v in verifications}
    seeds_of = {n: [t for t in store.trainings(job.id) if t.candidate_id == v.candidate_id] for n, v in by_number.items()}
    # A verified candidate's accuracies are the means over its two seeds' trainings, the test one with its half-width.
    assert verified_front and all(row["metrics"]["accuracy"] == pytest.approx(np.mean([t.val_accuracy for t in seeds_of[row["candidate"]]])) for row in verified_front)
    assert all(row["verified"]["seeds"] == 2 and 0 < row["verified"]["half_width"] < 0.2 for row in verified_front)
    assert summary["best_verified"]["candidate"] == verified_front[0]["candidate"]

    # Export defaults to the verified weights; the model written is the verified one, and its
    # reported test accuracy is what it scores on the test split.
    number = verified_front[0]["candidate"]
    chosen = by_number[number]
    exported = export_candidate(store, job.id, number, "pytorch", tmp_path / "verified")
    metrics = exported["metrics"]
    assert metrics["weights"] == "verified" and metrics["test_accuracy"] == pytest.approx(chosen.test_accuracy)
    assert metrics["val_accuracy"] == pytest.approx(chosen.val_accuracy)  # its first seed's, whose weights these are
    assert metrics["verified"]["test_accuracy"] == pytest.approx(np.mean([t.test_accuracy for t in seeds_of[number]]))
    assert load_file(tmp_path / "verified" / "model.safetensors").keys() == load_file(chosen.weights).keys()
    spec = job_summary(store, job)
    task = load_task("digits", seed=0, max_train=300)
    model = get_space("vit-resnas", spec["preset"]).build(get_space("vit-resnas", spec["preset"]).validate(store.get_candidate(chosen.candidate_id).arch), task.shape)
    model.load_state_dict(load_file(tmp_path / "verified" / "model.safetensors"))
    assert evaluate(model.eval(), task.test) == pytest.approx(chosen.test_accuracy)
    inherited = export_candidate(store, job.id, number, "pytorch", tmp_path / "inherited", weights="inherited")
    assert inherited["metrics"]["weights"] == "inherited"


@DIGITS_JOB_TIMEOUT
def test_the_plain_family_trains_beside_the_candidates_and_the_job_states_its_verdict(digits_job):
    from nas.results.verdict import trained_models
    from nas.service import reference_rows

    store, job, _ = digits_job
    (reference,) = store.references(job.id)  # one asked for: the largest member under the params limit, what a user would pick
    assert reference.name == "plain-S" and reference.metrics["params"] <= 2_000_000 and reference.metrics["latency_ms"] > 0
    assert reference.metrics["latency_low_ms"] <= reference.metrics["latency_ms"] <= reference.metrics["latency_high_ms"]
    assert all(reference.arch_id != c.arch_id for c in store.candidates(job.id))  # never a candidate
    trainings = store.trainings(job.id)
    assert sorted((t.reference_id is not None, t.seed) for t in trainings) == [(False, 0)] * 2 + [(False, 1)] * 2 + [(True, 0), (True, 1)]
    assert all(t.epochs_trained == t.epochs == 2 and t.test_examples == 179 for t in trainings)
    verifications = {v.candidate_id: v for v in store.verifications(job.id)}
    for t in trainings:  # a candidate's training with the job's seed is its verification
        if t.candidate_id is not None and t.seed == 0:
            assert t.test_accuracy == verifications[t.candidate_id].test_accuracy
    (row,) = reference_rows(store, job.id)
    assert row["trained"]["seeds"] == 2 and row["trained"]["test_accuracy"] == pytest.approx(sum(t.test_accuracy for t in trainings if t.reference_id) / 2)
    verdict = job_summary(store, job)["verdict"]
    assert verdict["beat"] in (True, False) and verdict["cost"] == "params"  # the job's cost objective
    assert "beat the plain family" in verdict["text"] and verdict["hypervolume"]["draws"] > 0
    assert [c["reference"] for c in verdict["comparisons"]] == ["plain-S"]
    assert len(trained_models(store, job.id)) == 3
    events = [e.kind for e in store.events(job.id)]
    assert events.index(EventKind.REFERENCES_SCORED) < events.index(EventKind.VERIFY_STARTED) < events.index(EventKind.VERDICT)


def test_verifying_from_scratch_trains_fresh_weights(digits_supernet, tmp_path):
    from nas.job.schema import JobSpec
    from nas.search.cluster import settle_tune_settings
    from nas.search.verification import Subject, run_verification
    from search_spaces import get_space

    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = job_reusing_supernet(store, digits_spec(verify={"top_k": 1, "epochs": 2, "init": "scratch"}), digits_supernet, tmp_path)
    checkpoint = store.artifacts(job.id, ArtifactKind.SUPERNET_CHECKPOINT)[0].path
    claim = store.claim_job("test", job_id=job.id).claim
    arch = get_space("vit-resnas", "small-images").sample(random.Random(3))
    (candidate,) = store.add_candidates(job.id, [(arch.arch_id, arch.to_dict())], claim=claim)
    store.start_candidate(candidate.id, "test", claim=claim)
    store.record_result(candidate.id, {"accuracy": 0.5, "params": 1e5}, claim=claim)
    spec = JobSpec.from_stored(store.get_job(job.id).spec)
    settle_tune_settings()  # as a coordinator does when it starts
    interrupt_handler = signal.getsignal(signal.SIGINT)
    subject = Subject("candidate", candidate.id, f"candidate {candidate.seq}", candidate.arch, spec.seed, keeps_weights=True)
    count = run_verification(store, job.id, claim, spec, checkpoint, JobFiles(), str(tmp_path / "verified"), [subject], tmp_path / "verify", int(ray.cluster_resources()["CPU"]), lambda: False, early_stop=False)
    assert signal.getsignal(signal.SIGINT) is interrupt_handler  # Ctrl-C still stops whoever ran it
    (verification,) = store.verifications(job.id)
    assert count == 1 and verification.init == "scratch" and verification.epochs_trained == 2 and verification.candidate_id == candidate.id
    assert Path(verification.weights).is_file() and 0.0 <= verification.test_accuracy <= 1.0


class CrashingEvaluator(SupernetEvaluator):
    """Kills its own worker process on a quarter of the architectures (first hex digit 0-3)."""

    def evaluate_many(self, arch_datas, measure_latency=True):
        if any(self.space.validate(arch_data).arch_id[0] in "0123" for arch_data in arch_datas):
            os._exit(1)
        return super().evaluate_many(arch_datas, measure_latency)


def test_dead_workers_candidates_are_retried_then_failed(digits_supernet, tmp_path):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import tests/
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = job_reusing_supernet(store, digits_spec(strategy="random", budget={"candidates": 10}), digits_supernet, tmp_path)
    finished = Coordinator(store, evaluator=CrashingEvaluator, max_attempts=2).run_next(job.id)
    assert finished.status == "succeeded", finished.error
    candidates = store.candidates(job.id)
    failed = [c for c in candidates if c.status == "failed"]
    assert len(candidates) == 10 and failed, "no architecture hit the crash rule"
    for candidate in candidates:
        crashes = candidate.arch_id[0] in "0123"
        assert candidate.status == ("failed" if crashes else "done")
        if crashes:
            assert candidate.attempt == 2 and "Actor" in candidate.error


class CrashingTable(BenchmarkEvaluator):
    """Benchmark mode, killing its worker process on a call that holds an architecture whose id
    starts with "0" (about one in sixteen), a moment into the call as a crash in an evaluation
    would: an exit at the call's very first instruction can also lose the reply to the actor's
    previous call, still on its way out, which then reads as unfinished."""

    def evaluate_many(self, arch_datas, measure_latency=True):
        if any(self.space.validate(arch_data).arch_id[0] == "0" for arch_data in arch_datas):
            time.sleep(0.5)
            os._exit(1)
        return super().evaluate_many(arch_datas, measure_latency)


def test_a_crash_in_a_call_of_several_candidates_is_pinned_on_the_one_that_crashes(tmp_path, monkeypatch):
    """A large budget of cheap scores goes to the evaluators several candidates per call (here
    from a budget of 48: a call per 16 of it). When an actor dies in such a call, none of its
    candidates is charged: each goes alone from then on, so only the one that kills its actor
    alone is charged, and fails after max_attempts."""
    import ray.cloudpickle

    import nas.search.coordinator

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.setattr(nas.search.coordinator, "BUDGET_PER_CALL_CANDIDATE", 16)
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = submit_job(store, benchmark_spec(strategy="random", budget={"candidates": 48}))
    finished = Coordinator(store, evaluator=CrashingTable, max_attempts=2).run_next(job.id)
    assert finished.status == "succeeded", finished.error
    (started,) = [e for e in store.events(job.id) if e.kind == EventKind.SEARCH_STARTED]
    assert started.data["per_call"] == 3 and "in calls of 3" in started.message
    candidates = store.candidates(job.id)
    crashers = [c for c in candidates if c.arch_id[0] == "0"]
    assert len(candidates) == 48 and crashers
    for candidate in candidates:
        if candidate in crashers:
            assert candidate.status == "failed" and candidate.attempt == 2 and "Actor" in candidate.error
        else:
            assert candidate.status == "done" and candidate.attempt == 1, candidate


def test_a_latency_predictor_takes_over_after_its_calibration_and_the_front_is_measured(digits_supernet, tmp_path, monkeypatch):
    """latency.predict_after: the first 8 candidates measured, a predictor calibrated on them and
    stored, the rest predicted (scored several per call, but one per call while calibrating, so
    that few more than 8 are measured: calls of 2 here, a call per 12 candidates of the budget);
    the front's predicted members measured at the end; a second job on the same machine predicts
    from the stored predictor after its first measurement."""
    import nas.search.coordinator
    from nas.search.dispatch import SLOTS_PER_ACTOR
    from nas.search.latency_plan import PREDICTED, PREDICTION

    monkeypatch.setattr(nas.search.coordinator, "BUDGET_PER_CALL_CANDIDATE", 12)
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    fast = {"epochs": 1, "archs_per_step": 2, "batch_size": 64, "max_train": 300, "check": False, "score_finetune_steps": 0}  # scored as inherited: quick
    spec = digits_spec(strategy="random", budget={"candidates": 24}, supernet=fast, objectives=[{"metric": "accuracy"}, {"metric": "latency_ms"}], latency={"predict_after": 8, "max_seconds": 2})
    first = job_reusing_supernet(store, spec, digits_supernet, tmp_path / "first")
    assert Coordinator(store).run_next(first.id).status == "succeeded"
    (started,) = [e for e in store.events(first.id) if e.kind == EventKind.SEARCH_STARTED]
    assert started.data["per_call"] == 2
    done = sorted(store.candidates(first.id, "done"), key=lambda c: c.seq)
    assert len(done) == 24 and not any(c.metrics.get(PREDICTED) for c in done[:8])  # measured: the calibration
    assert sum(1 for c in done if PREDICTED not in c.metrics and PREDICTION not in c.metrics) <= 8 + SLOTS_PER_ACTOR  # and those in flight as it ended
    assert all(c.metrics["latency_ms"] > 0 and c.metrics["latency_machine"] for c in done)
    front = pareto_candidates(store, first.id, [("accuracy", True), ("latency_ms", False)])
    assert front and not any(c.metrics.get(PREDICTED) for c in front)  # the front holds measured latencies only
    (artifact,) = store.artifacts(first.id, ArtifactKind.LATENCY_PREDICTOR)
    assert artifact.meta["predictor"]["calibrated_on"] == 8 and -1 <= artifact.meta["cross_validated"]["kendall_tau"] <= 1
    said = [e.message for e in store.events(first.id) if e.kind == EventKind.LATENCY_PREDICTOR]
    assert said[0].startswith("latency: a predictor calibrated on the first 8 measured candidates (cross-validated Kendall tau ")
    def predicted(candidate: CandidateRecord) -> bool:  # predicted, and measured since where it is on the front
        return bool(candidate.metrics.get(PREDICTED)) or PREDICTION in candidate.metrics

    assert any(predicted(c) for c in done[8:])  # what came after the calibration (less any dispatched before it) was predicted
    assert all(f.metrics[PREDICTION] > 0 for f in front if PREDICTION in f.metrics)

    second = job_reusing_supernet(store, {**spec, "seed": 1, "budget": {"candidates": 4}}, digits_supernet, tmp_path / "second")
    assert Coordinator(store).run_next(second.id).status == "succeeded"
    later = sorted(store.candidates(second.id, "done"), key=lambda c: c.seq)
    assert not predicted(later[0]) and any(predicted(c) for c in later[1:])
    assert any(e.message.startswith(f"latency: predicting from the predictor job {first.id} calibrated on 8") for e in store.events(second.id))


def test_a_supernet_that_did_not_learn_fails_the_job_before_the_search(tmp_path):
    # Steps enough to learn (submission refuses fewer), at a learning rate far too low to learn
    # anything in them: 300 steps of one example, one subnet each, the cheapest such supernet.
    supernet = {"epochs": 1, "batch_size": 1, "archs_per_step": 1, "max_train": 300, "warmup_epochs": 0, "lr": 1e-7}
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = submit_job(store, digits_spec(supernet=supernet, budget={"candidates": 8}))
    finished = Coordinator(store, jobs_dir=tmp_path / "jobs").run_next(job.id)
    assert finished.status == "failed" and finished.error.startswith("supernet did not learn: its largest subnet scores")
    assert "train it longer (supernet.epochs, now 1) or change supernet.lr (now 1e-07)" in finished.error
    assert store.candidates(job.id) == []  # no search budget spent
    health = job_summary(store, store.get_job(job.id))["supernet"]["health"]
    assert not health["learned"] and 0.09 < health["majority_rate"] < 0.12 and health["threshold"] > health["majority_rate"]


class DiesWhileStarting(SupernetEvaluator):
    """Its actors die in __init__, before evaluating anything."""

    def __init__(self, *args, **kwargs):
        os._exit(1)


def test_actors_dying_while_starting_cost_no_attempts_and_fail_the_job_clearly(digits_supernet, tmp_path):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = job_reusing_supernet(store, digits_spec(strategy="random", budget={"candidates": 4}), digits_supernet, tmp_path)
    finished = Coordinator(store, evaluator=DiesWhileStarting).run_next(job.id)
    assert finished.status == "failed" and finished.error.startswith("EvaluatorsCannotStart: 3 evaluator actors in a row died while starting")
    # No actor ever started, so nothing was sent to one: nothing ran, nothing was charged.
    assert all(c.status == "proposed" and c.attempt == 0 for c in store.candidates(job.id))


class NeverFinishes(SupernetEvaluator):
    """Holds every candidate until its actor is killed."""

    def evaluate_many(self, arch_datas, measure_latency=True):
        time.sleep(3600)


def test_the_time_budget_ends_a_job_with_evaluations_in_flight(digits_supernet, tmp_path, clock: ManualClock):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}", clock=clock)
    job = job_reusing_supernet(store, digits_spec(strategy="random", budget={"candidates": 10, "max_minutes": 0.5}), digits_supernet, tmp_path)

    mover = advance_once_evaluating(store, job.id, clock, 31)
    finished = Coordinator(store, evaluator=NeverFinishes).run_next(job.id)
    mover.join(timeout=1)
    # Had the loop waited for the evaluations in flight, it would never have ended.
    assert finished.status == "failed" and finished.error.startswith("budget.max_minutes: 0.5 min were spent")
    spent = [e for e in store.events(job.id) if e.kind == EventKind.TIME_BUDGET]
    assert len(spent) == 1 and spent[0].data["dropped"] >= 1
    assert store.counts(job.id)["running"] == 0  # the dropped evaluations' candidates were released


def test_a_time_budget_spent_before_any_result_fails_the_job(tmp_path, clock: ManualClock):
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}", clock=clock)
    job = submit_job(store, benchmark_spec(budget={"candidates": 8, "max_minutes": 1}))
    coordinator = Coordinator(store, worker="w")
    claimed = store.claim_job("w", job_id=job.id)
    clock.advance(61)  # the minute went on starting up
    finished = coordinator.run_job(claimed)
    assert finished.status == "failed" and finished.error.startswith("budget.max_minutes: 1.0 min were spent starting up before any candidate")
    assert store.counts(job.id).get("done", 0) == 0 and [e.kind for e in store.events(job.id)].count("time_budget") == 1


def test_a_resumed_job_keeps_the_time_budget_of_its_first_start(tmp_path, clock: ManualClock):
    """A job taken over after its coordinator died does not get a fresh budget: it is counted from
    the first claim."""
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}", clock=clock)
    job = submit_job(store, benchmark_spec(budget={"candidates": 8, "max_minutes": 2}))
    store.claim_job("dead", job_id=job.id)
    clock.advance(150)  # the first coordinator fell silent long ago; 2.5 of the 2 minutes are gone
    coordinator = Coordinator(store, worker="w", stale_after_s=120)
    finished = coordinator.run_next(job.id)
    assert finished.status == "failed" and "budget.max_minutes: 2.0 min were spent" in finished.error
    assert [e.kind for e in store.events(job.id)][:3] == ["created", "claimed", "resumed"]


def test_more_workers_than_cpus_runs_as_many_evaluators_as_fit(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    cpus = int(ray.cluster_resources()["CPU"])
    job = submit_job(store, benchmark_spec(workers=cpus + 2, budget={"candidates": 12}))
    finished = Coordinator(store).run_next(job.id)
    assert finished.status == "succeeded" and store.counts(job.id)["done"] == 12
    (note,) = [e for e in store.events(job.id) if e.kind == EventKind.RESOURCES]
    assert note.data["evaluators"] == note.data["fit"] == cpus < note.data["asked"]
    assert note.data["each"] == {"CPU": 1.0} and "(resources.evaluator); running" in note.message


def test_fractional_evaluators_share_a_cpu(tmp_path):
    """resources.evaluator.cpus: 0.5 puts two evaluators on each CPU: the job runs all it asked for."""
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    workers = 2 * int(ray.cluster_resources()["CPU"])
    job = submit_job(store, benchmark_spec(workers=workers, budget={"candidates": 12}, resources={"evaluator": {"cpus": 0.5}}))
    finished = Coordinator(store).run_next(job.id)
    assert finished.status == "succeeded" and store.counts(job.id)["done"] == 12
    assert not [e for e in store.events(job.id) if e.kind == EventKind.RESOURCES]  # all `workers` fitted


@pytest.mark.parametrize(
    ("resources", "field", "asked"),
    [
        ({"evaluator": {"gpus": 1}}, "resources.evaluator", "CPU 1, GPU 1"),
        ({"evaluator": {"custom": {"gpu_node": 1}}}, "resources.evaluator", "CPU 1, gpu_node 1"),
        ({"evaluator": {"cpus": 1024}}, "resources.evaluator", "CPU 1024"),
    ],
)
def test_asking_for_what_no_node_has_fails_the_job_at_once(tmp_path, resources, field, asked):
    """Not a job that waits forever for Ray to place its actors (the test's timeout would end
    that): it fails at its start, naming the field, what it asked and what the cluster's nodes
    have, before proposing anything."""
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = submit_job(store, benchmark_spec(budget={"candidates": 4}, resources=resources))
    finished = Coordinator(store).run_next(job.id)
    assert finished.status == "failed"
    assert finished.error.startswith(f"ResourcesUnavailable: {field}: asks {asked} per task, and no node of the Ray cluster has that (node 1: CPU ")
    assert store.candidates(job.id) == []


def test_ctrl_c_on_nas_run_cancels_the_job(tmp_path):
    # `nas run` in a process of its own (it ends with os._exit), interrupted right after its
    # coordinator claimed the job: the KeyboardInterrupt a Ctrl-C raises, delivered deterministically.
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(benchmark_spec()))
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    script = (
        "import sys\n"
        "from nas.search.coordinator import Coordinator\n"
        "def interrupted(self, job_id=None):\n"
        "    self.store.claim_job(self.worker, job_id=job_id)\n"
        "    raise KeyboardInterrupt\n"
        "Coordinator.run_next = interrupted\n"
        "from nas.cli import main\n"
        f"sys.argv = ['nas', 'run', {str(spec)!r}, '--db', {db!r}, '--no-progress']\n"
        "main()\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env_for(tmp_path))
    store = Store(db)
    (job,) = store.list_jobs()
    assert run.returncode == 130 and f"job {job.id} cancelled (interrupted)" in run.stderr, run.stderr
    assert job.status == "cancelled" and job.error == "interrupted (Ctrl-C in nas run)" and store.counts(job.id)["running"] == 0


def test_benchmark_job_through_the_cli(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(benchmark_spec(workers=2)))
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    result = cli("run", str(spec), "--json", "--db", db)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["status"] == "succeeded" and summary["candidates_done"] == 12
    store = Store(db)
    done = store.candidates(summary["job_id"], "done")
    assert summary["best"]["metrics"]["accuracy"] == max(c.metrics["accuracy"] for c in done)
    assert_non_dominated(summary["pareto"], done, [("accuracy", True), ("params", False)])
    assert "INFO nas." not in result.stderr  # the service logs at INFO only with --verbose
    # Not a terminal: progress comes as lines, the job's events and the candidates done.
    assert "claimed: claimed by" in result.stderr and "candidates: 12 of 12 done, best GLUE score" in result.stderr, result.stderr
    verbose = cli("--verbose", "run", str(spec), "--json", "--db", db)
    assert verbose.exit_code == 0 and "INFO nas.search.coordinator: job 2 (" in verbose.stderr and "claimed by" in verbose.stderr
    version = cli("--version")
    assert version.exit_code == 0 and version.stdout.startswith("transformer-nas ")
    human = cli("status", str(summary["job_id"]), "--db", db)
    assert "candidates: 12 done, 0 failed" in human.stdout and "{" not in human.stdout
    best = summary["best"]["metrics"]
    assert f"GLUE score {best['accuracy']:.2f}, params {metric('params').format(best['params'])}" in human.stdout  # GLUE points, not a percentage
    candidates_table = cli("candidates", str(summary["job_id"]), "--db", db).stdout
    assert "GLUE score" in candidates_table and f"{best['accuracy']:.2f}" in candidates_table and "%" not in candidates_table
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(benchmark_spec(strategy="simulated-annealing", budget={"candidates": -1})))
    rejected = cli("run", str(bad), "--db", db)
    assert rejected.exit_code == 2 and "strategy" in rejected.stderr and "budget.candidates" in rejected.stderr
    assert len(store.list_jobs()) == 2  # nothing written for the rejected spec

    # The candidates as CSV (one row each, a column per metric), then deleting the job.
    job_id = str(summary["job_id"])
    table = list(csv.DictReader(io.StringIO(cli("candidates", job_id, "--format", "csv", "--db", db).stdout)))
    assert len(table) == 12 and {float(row["accuracy"]) for row in table} == {c.metrics["accuracy"] for c in done}
    assert all(row["status"] == "done" and json.loads(row["arch"]) for row in table)
    assert len(json.loads(cli("candidates", job_id, "--format", "json", "--status", "failed", "--db", db).stdout)) == 0
    wrong_format = cli("candidates", job_id, "--format", "xml", "--db", db)
    assert wrong_format.exit_code == 2 and "--format: 'xml' not one of table, json, csv" in wrong_format.stderr
    unconfirmed = cli("delete", job_id, "--db", db)
    assert unconfirmed.exit_code == 2 and "--yes" in unconfirmed.stderr and store.get_job(summary["job_id"])
    deleted = cli("delete", job_id, "--yes", "--db", db)
    assert deleted.exit_code == 0 and deleted.stdout.startswith(f"deleted job {job_id} ("), deleted.stderr
    again = cli("delete", job_id, "--yes", "--db", db)
    assert again.exit_code == 2 and "Traceback" not in again.stderr and [j.id for j in store.list_jobs()] == [2]


def test_a_local_run_keeps_rays_notices_off_the_terminal(tmp_path):
    """`nas run` in a process of its own starts its own local Ray (bounded by --ray-cpus): Ray's
    token notice stays off the user's terminal. --ray-cpus with --ray-address is refused."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(benchmark_spec(budget={"candidates": 3})))
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    result = subprocess.run([*NAS, "run", str(spec), "--json", "--db", db, "--ray-cpus", "1"], capture_output=True, text=True, timeout=300, env=env_for(tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["candidates_done"] == 3
    assert "Token authentication" not in result.stderr and "INFO nas." not in result.stderr, result.stderr
    both = cli("run", str(spec), "--db", db, "--ray-cpus", "1", "--ray-address", "127.0.0.1:1")
    assert both.exit_code == 2 and "--ray-cpus: bounds the local Ray cluster" in both.stderr and len(Store(db).list_jobs()) == 1
    zero = cli("run", str(spec), "--db", db, "--ray-cpus", "0")
    assert zero.exit_code == 2 and "--ray-cpus" in zero.stderr and len(Store(db).list_jobs()) == 1


def test_benchmark_job_on_postgresql(postgres_url):
    store = Store(postgres_url)
    job = submit_job(store, benchmark_spec(strategy="boshnas", budget={"candidates": 8}))
    finished = Coordinator(store).run_next(job.id)
    assert finished.status == "succeeded", finished.error
    assert store.counts(job.id) == {"proposed": 0, "running": 0, "done": 8, "failed": 0}


def test_a_job_failing_on_an_error_keeps_its_traceback(tmp_path, monkeypatch, caplog):
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = submit_job(store, benchmark_spec())
    monkeypatch.setenv("NAS_BENCH_BERT", str(tmp_path / "missing" / "BERT_benchmark.json"))  # the table vanished after submission
    with caplog.at_level(logging.ERROR, logger="nas"):
        finished = Coordinator(store).run_next(job.id)
    assert finished.status == "failed" and "BERT_benchmark.json: no such file" in finished.error
    error = [e for e in store.events(job.id) if e.kind == EventKind.ERROR]
    assert len(error) == 1 and error[0].message == finished.error
    assert "Traceback (most recent call last)" in error[0].data["traceback"] and "NasBenchBertTable" in error[0].data["traceback"]
    assert any(r.name == "nas.search.coordinator" and f"job {job.id} failed" in r.getMessage() for r in caplog.records)


def test_a_heartbeat_that_breaks_fails_the_job_saying_so(tmp_path, monkeypatch):
    """Not a lost claim (nobody took the job over): the coordinator cannot keep its claim fresh,
    so it stops and fails the job with the reason instead of running on unclaimed."""
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = submit_job(store, benchmark_spec(strategy="random", budget={"candidates": 400}))

    def broken(job_id: int, worker: str, epoch: int | None = None) -> bool:
        raise TypeError("a fault of ours")

    monkeypatch.setattr(store, "heartbeat", broken)
    finished = Coordinator(store, stale_after_s=0.4).run_next(job.id)
    assert finished.status == "failed" and finished.error == "the coordinator's heartbeat broke: TypeError: a fault of ours"
    assert store.counts(job.id).get("done", 0) < 400


def test_cancel_stops_a_running_job_and_keeps_results(tmp_path):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    store = Store(db)
    job = submit_job(store, benchmark_spec(strategy="random", budget={"candidates": 400}))
    outcome: list = []
    running = threading.Thread(target=lambda: outcome.append(Coordinator(store).run_next(job.id)), daemon=True)
    running.start()
    poll(lambda: store.counts(job.id).get("done", 0) >= 3, 180, "3 results")
    cancelled = cli("cancel", str(job.id), "--db", db)
    assert cancelled.exit_code == 0, cancelled.stderr
    running.join(timeout=60)
    assert not running.is_alive() and outcome[0].status == "cancelled"
    final = store.get_job(job.id)
    assert final.status == "cancelled" and 3 <= store.counts(job.id)["done"] < 400
    assert store.counts(job.id)["running"] == 0


def test_flexibert_search_on_reviews_exports_onnx(tmp_path):
    """The FlexiBERT example's job on a user's CSV of 400 review snippets (a masked-LM epoch, a
    supervised one, three candidates), its first candidate exported as ONNX and run by its own
    loader in a fresh process."""
    reviews_csv(tmp_path / "reviews.csv", 400)
    spec = yaml.safe_load((EXAMPLES / "rotten-tomatoes-flexibert.yaml").read_text())
    spec.update({
        "task": {"csv": str(tmp_path / "reviews.csv")}, "budget": {"candidates": 3}, "verify": {"top_k": 0},
        "supernet": {"epochs": 1, "mlm_epochs": 1, "archs_per_step": 2, "batch_size": 64, "lr": 0.001, "check": False},
    })  # fmt: skip
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = submit_job(store, spec)
    finished = Coordinator(store, jobs_dir=tmp_path / "jobs").run_next(job.id)
    assert finished.status == "succeeded", finished.error
    done = store.candidates(job.id, "done")
    assert len(done) == 3 and all(0.0 <= c.metrics["accuracy"] <= 1.0 for c in done)
    out = tmp_path / "onnx"
    exported = export_candidate(store, job.id, done[0].seq, "onnx", out)
    assert "model.onnx" in exported["files"]
    (tmp_path / "reviews.txt").write_text("a warm, funny and moving film\nlifeless, dull and far too long\n")
    fresh = subprocess.run([sys.executable, str(out / "loader.py"), str(out), str(tmp_path / "reviews.txt")], capture_output=True, text=True, timeout=120, env=env_for(tmp_path))
    assert fresh.returncode == 0, fresh.stderr
    assert [json.loads(line)["class"] in ("fresh", "rotten") for line in fresh.stdout.splitlines()] == [True, True]


def test_a_job_that_evaluates_nothing_fails_naming_the_constraints(tmp_path, monkeypatch):
    # A constraint no architecture of the pool meets, as a too-tight params_max in a space
    # whose smallest models are rare: the strategy proposes nothing; that is no success.
    import nas.search.strategies as strategies

    monkeypatch.setattr(strategies, "feasibility", lambda spec, space, shape: lambda arch: False)
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = submit_job(store, benchmark_spec(constraints={"params_max": 5_000_000}))
    finished = Coordinator(store, jobs_dir=tmp_path / "jobs").run_next(job.id)
    assert finished.status == "failed" and store.counts(job.id)["done"] == 0
    assert "found no architecture that meets the constraints (params_max 5,000,000)" in finished.error, finished.error


# ---- reproducibility ----


def _proposed(store: Store, job_id: int) -> list[tuple[int, str]]:
    return [(c.seq, c.arch_id) for c in store.candidates(job_id)]


def test_the_benchmark_example_proposes_the_same_candidates_twice(tmp_path):
    """The README's benchmark-mode example (BOSHNAS, 50 candidates, two evaluators' worth of
    proposals ahead) run twice: the same candidates in the same order, the same result."""
    spec = yaml.safe_load((EXAMPLES / "nas-bench-bert.yaml").read_text())
    runs = []
    for run in range(2):
        store = Store(f"sqlite:///{tmp_path / f'run-{run}.db'}")
        job = submit_job(store, spec)
        assert Coordinator(store).run_next(job.id).status == "succeeded"
        runs.append((_proposed(store, job.id), [(c.seq, c.metrics) for c in store.candidates(job.id)], job_summary(store, store.get_job(job.id))["best"]))
    assert len(runs[0][0]) == 50
    assert runs[0] == runs[1]


def test_a_digits_job_with_the_same_seed_trains_the_same_supernet_and_proposes_the_same_candidates(tmp_path):
    from safetensors.numpy import load_file

    spec = digits_spec(workers=2, budget={"candidates": 8})
    runs = []
    for run in range(2):
        store = Store(f"sqlite:///{tmp_path / f'run-{run}.db'}")
        job = submit_job(store, spec)
        assert Coordinator(store, jobs_dir=tmp_path / f"jobs-{run}", artifact_root=tmp_path / f"artifacts-{run}").run_next(job.id).status == "succeeded"
        checkpoint = Path(store.artifacts(job.id, ArtifactKind.SUPERNET_CHECKPOINT)[-1].path)
        # Latency (and its interval) is measured, so it differs between runs; every other metric is computed.
        scores = [(c.seq, {k: v for k, v in c.metrics.items() if not k.startswith("latency_")}) for c in store.candidates(job.id)]
        runs.append((_proposed(store, job.id), scores, load_file(checkpoint / "supernet.safetensors")))
    (first, first_scores, first_weights), (second, second_scores, second_weights) = runs
    assert len(first) == 8 and first == second and first_scores == second_scores
    assert first_weights.keys() == second_weights.keys()
    for name, tensor in first_weights.items():
        np.testing.assert_array_equal(tensor, second_weights[name], err_msg=name)
