"""The service end to end: jobs run by the coordinator on real Ray against real databases,
crash recovery with real process kills, cancel, and export of what a search found."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import ray
import yaml

from nas.search.cluster import init_ray
from nas.artifacts import ArtifactRoot, JobFiles
from nas.search.coordinator import Coordinator
from nas.search.evaluation import SupernetEvaluator
from nas.service import export_candidate, job_summary, pareto_rows, submit_job
from nas.store import ArtifactKind, EventKind, Store
from tests.conftest import poll

pytestmark = pytest.mark.slow  # every test runs real jobs on Ray (supernet training, process kills)

REPO = Path(__file__).resolve().parents[1]
STALE_AFTER_S = 2.0  # the coordinators these tests start take a job over after this long without a heartbeat
NAS = [sys.executable, "-m", "nas.cli"]


def benchmark_spec(**changes) -> dict:
    spec = yaml.safe_load((REPO / "examples" / "nas-bench-bert.yaml").read_text())
    spec.update({"strategy": "evolution", "budget": {"candidates": 12}, **changes})
    return spec


def digits_spec(**changes) -> dict:
    spec = yaml.safe_load((REPO / "examples" / "digits-vit.yaml").read_text())
    # A supernet far too small to learn (the machinery is under test here), so its check is off;
    # so is the verified stage, except where a test asks for it.
    spec.update({"budget": {"candidates": 4}, "supernet": {"epochs": 1, "archs_per_step": 2, "batch_size": 64, "max_train": 300, "check": False}, "verify": {"top_k": 0}, **changes})
    return spec


def env_for(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "NAS_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}


def assert_non_dominated(front: list[dict], done, objectives: list[tuple[str, bool]]) -> None:
    """`front` is exactly the set of done candidates no other done candidate dominates."""

    def as_max(c) -> np.ndarray:
        return np.array([c.metrics[m] if up else -c.metrics[m] for m, up in objectives])

    points = {c.id: as_max(c) for c in done}
    expected = {i for i, p in points.items() if not any(np.all(q >= p) and np.any(q > p) for q in points.values())}
    assert {row["candidate_id"] for row in front} == expected


def heartbeat_stale(store: Store, job_id: int, stale_after_s: float = STALE_AFTER_S) -> bool:
    """Whether a coordinator started with --stale-after `stale_after_s` may take the job over."""
    beat = store.get_job(job_id).heartbeat_at
    return beat is not None and (datetime.now(timezone.utc) - beat).total_seconds() > stale_after_s


@pytest.fixture(scope="module")
def digits_job(tmp_path_factory):
    """One real digits search (supernet trained as a Ray task), shared by the tests that read it."""
    root = tmp_path_factory.mktemp("digits")
    store = Store(f"sqlite:///{root / 'nas.db'}")
    job = submit_job(store, digits_spec(verify={"top_k": 2, "epochs": 3}))
    finished = Coordinator(store, jobs_dir=root / "jobs").run_next(job.id)
    return store, finished, root


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
    export_candidate(store, job.id, front[0]["candidate_id"], "pytorch", out)
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


def test_the_verified_stage_trains_the_top_of_the_front_and_exports_its_weights(digits_job, tmp_path):
    from safetensors.torch import load_file

    from nas.tasks.data import load_task
    from nas.training.standalone import evaluate
    from search_spaces import get_space

    store, job, _ = digits_job
    from nas.service import verification_order

    order = verification_order(store, job.id)
    verifications = store.verifications(job.id)
    # The first two of the front, then by accuracy (a front may hold one); each trained once
    # (ASHA may stop the one that trails after epoch 1).
    assert order[: len(pareto_rows(store, job.id))] == pareto_rows(store, job.id)
    assert sorted(v.candidate_id for v in verifications) == sorted(row["candidate_id"] for row in order[:2])
    for v in verifications:
        assert v.init == "inherited" and v.epochs == 3 and 1 <= v.best_epoch <= v.epochs_trained <= 3 and v.seconds > 0
        assert 0.0 <= v.val_accuracy <= 1.0 and 0.0 <= v.test_accuracy <= 1.0 and Path(v.weights).is_file()
    summary = job_summary(store, job)
    asked = 2
    assert summary["verify"]["state"] == "done" and summary["verify"]["verified"] == asked
    assert summary["chance_accuracy"] == summary["supernet"]["health"]["majority_rate"] == pytest.approx(18 / 179)  # digits: 18 of each class
    assert [e.kind for e in store.events(job.id)].count(EventKind.VERIFIED) == asked
    verified_front = pareto_rows(store, job.id, verified=True)
    by_id = {v.candidate_id: v for v in verifications}
    assert verified_front and all(row["metrics"]["accuracy"] == by_id[row["candidate_id"]].val_accuracy for row in verified_front)
    assert summary["best_verified"]["candidate_id"] == verified_front[0]["candidate_id"]

    # Export defaults to the verified weights; the model written is the verified one, and its
    # reported test accuracy is what it scores on the test split.
    chosen = by_id[verified_front[0]["candidate_id"]]
    exported = export_candidate(store, job.id, chosen.candidate_id, "pytorch", tmp_path / "verified")
    metrics = exported["metrics"]
    assert metrics["weights"] == "verified" and metrics["test_accuracy"] == pytest.approx(chosen.test_accuracy)
    assert metrics["val_accuracy"] == pytest.approx(chosen.val_accuracy) and metrics["verified"]["test_accuracy"] == chosen.test_accuracy
    assert load_file(tmp_path / "verified" / "model.safetensors").keys() == load_file(chosen.weights).keys()
    spec = job_summary(store, job)
    task = load_task("digits", seed=0, max_train=300)
    model = get_space("vit-resnas", spec["preset"]).build(get_space("vit-resnas", spec["preset"]).validate(store.get_candidate(chosen.candidate_id).arch), task.shape)
    model.load_state_dict(load_file(tmp_path / "verified" / "model.safetensors"))
    assert evaluate(model.eval(), task.test) == pytest.approx(chosen.test_accuracy)
    inherited = export_candidate(store, job.id, chosen.candidate_id, "pytorch", tmp_path / "inherited", weights="inherited")
    assert inherited["metrics"]["weights"] == "inherited"


def test_verifying_from_scratch_trains_fresh_weights(digits_job, tmp_path):
    from nas.job.schema import JobSpec
    from nas.search.verification import run_verification

    store, trained, root = digits_job
    checkpoint = store.artifacts(trained.id, ArtifactKind.SUPERNET_CHECKPOINT)[0].path
    job = submit_job(store, digits_spec(verify={"top_k": 1, "epochs": 2, "init": "scratch"}))
    claim = store.claim_job("test", job_id=job.id).claim
    source = store.candidates(trained.id, "done")[0]
    (candidate,) = store.add_candidates(job.id, [(source.arch_id, source.arch)], claim=claim)
    store.start_candidate(candidate.id, "test", claim=claim)
    store.record_result(candidate.id, source.metrics, claim=claim)
    init_ray(None)
    spec = JobSpec.from_stored(store.get_job(job.id).spec)
    interrupt_handler = signal.getsignal(signal.SIGINT)
    count = run_verification(store, job.id, claim, spec, checkpoint, JobFiles(), str(tmp_path / "verified"), [store.get_candidate(candidate.id)], tmp_path / "verify", int(ray.cluster_resources()["CPU"]), lambda: False)
    assert signal.getsignal(signal.SIGINT) is interrupt_handler  # Ctrl-C still stops whoever ran it
    (verification,) = store.verifications(job.id)
    assert count == 1 and verification.init == "scratch" and verification.epochs_trained == 2 and verification.candidate_id == candidate.id
    assert Path(verification.weights).is_file() and 0.0 <= verification.test_accuracy <= 1.0


class CrashingEvaluator(SupernetEvaluator):
    """Kills its own worker process on a quarter of the architectures (first hex digit 0-3)."""

    def evaluate(self, arch_data):
        if self.space.validate(arch_data).arch_id[0] in "0123":
            os._exit(1)
        return super().evaluate(arch_data)


def test_dead_workers_candidates_are_retried_then_failed(digits_job):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import tests/
    store, trained, _ = digits_job
    job = submit_job(store, digits_spec(strategy="random", budget={"candidates": 10}))
    checkpoint = store.artifacts(trained.id, ArtifactKind.SUPERNET_CHECKPOINT)[0].path
    store.add_artifact(job.id, ArtifactKind.SUPERNET_CHECKPOINT, checkpoint)  # reuse: no second training
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


def test_a_supernet_that_did_not_learn_fails_the_job_before_the_search(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = submit_job(store, digits_spec(supernet={"epochs": 1, "batch_size": 256, "lr": 1e-5}, budget={"candidates": 8}))
    finished = Coordinator(store, jobs_dir=tmp_path / "jobs").run_next(job.id)
    assert finished.status == "failed" and finished.error.startswith("supernet did not learn: its largest subnet scores")
    assert "train it longer (supernet.epochs, now 1) or change supernet.lr (now 1e-05)" in finished.error
    assert store.candidates(job.id) == []  # no search budget spent
    health = job_summary(store, store.get_job(job.id))["supernet"]["health"]
    assert not health["learned"] and 0.09 < health["majority_rate"] < 0.12 and health["threshold"] > health["majority_rate"]


class DiesWhileStarting(SupernetEvaluator):
    """Its actors die in __init__, before evaluating anything."""

    def __init__(self, *args, **kwargs):
        os._exit(1)


def test_actors_dying_while_starting_cost_no_attempts_and_fail_the_job_clearly(digits_job):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    store, trained, _ = digits_job
    job = submit_job(store, digits_spec(strategy="random", budget={"candidates": 4}))
    store.add_artifact(job.id, ArtifactKind.SUPERNET_CHECKPOINT, store.artifacts(trained.id, ArtifactKind.SUPERNET_CHECKPOINT)[0].path)
    finished = Coordinator(store, evaluator=DiesWhileStarting).run_next(job.id)
    assert finished.status == "failed" and finished.error.startswith("EvaluatorsCannotStart: 3 evaluator actors in a row died while starting")
    # No actor ever started, so nothing was sent to one: nothing ran, nothing was charged.
    assert all(c.status == "proposed" and c.attempt == 0 for c in store.candidates(job.id))


class SlowEvaluator(SupernetEvaluator):
    """Takes far longer than the job's time budget for every candidate."""

    def evaluate(self, arch_data):
        time.sleep(60)
        return super().evaluate(arch_data)


def test_the_time_budget_ends_a_job_with_evaluations_in_flight(digits_job):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    store, trained, _ = digits_job
    # 30 s: long enough for the actor to start on a loaded machine, far short of an evaluation (60 s).
    job = submit_job(store, digits_spec(strategy="random", budget={"candidates": 10, "max_minutes": 0.5}))
    store.add_artifact(job.id, ArtifactKind.SUPERNET_CHECKPOINT, store.artifacts(trained.id, ArtifactKind.SUPERNET_CHECKPOINT)[0].path)
    finished = Coordinator(store, evaluator=SlowEvaluator).run_next(job.id)
    # Had the loop waited for the evaluations in flight, they would have finished and counted.
    assert finished.status == "failed" and finished.error.startswith("budget.max_minutes: 0.5 min were spent")
    spent = [e for e in store.events(job.id) if e.kind == EventKind.TIME_BUDGET]
    assert len(spent) == 1 and spent[0].data["dropped"] >= 1
    assert store.counts(job.id)["running"] == 0  # the dropped evaluations' candidates were released


def test_more_workers_than_cpus_runs_as_many_evaluators_as_fit(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = submit_job(store, benchmark_spec(workers=(os.cpu_count() or 1) + 2, budget={"candidates": 12, "max_minutes": 5}))
    finished = Coordinator(store).run_next(job.id)
    assert finished.status == "succeeded" and store.counts(job.id)["done"] == 12
    (note,) = [e for e in store.events(job.id) if e.kind == EventKind.RESOURCES]
    assert note.data["evaluators"] == note.data["fit"] == int(ray.cluster_resources()["CPU"]) < note.data["asked"]
    assert note.data["each"] == {"CPU": 1.0} and "(resources.evaluator); running" in note.message


def test_fractional_evaluators_share_a_cpu(tmp_path):
    """resources.evaluator.cpus: 0.5 puts two evaluators on each CPU: the job runs all it asked for."""
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    init_ray(None)
    workers = 2 * int(ray.cluster_resources()["CPU"])
    job = submit_job(store, benchmark_spec(workers=workers, budget={"candidates": 12, "max_minutes": 5}, resources={"evaluator": {"cpus": 0.5}}))
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
    """Not a job that waits forever for Ray to place its actors: it fails at its start, naming the
    field, what it asked and what the cluster's nodes have."""
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = submit_job(store, benchmark_spec(budget={"candidates": 4}, resources=resources))
    started = time.monotonic()
    finished = Coordinator(store).run_next(job.id)
    assert finished.status == "failed" and time.monotonic() - started < 60
    assert finished.error.startswith(f"ResourcesUnavailable: {field}: asks {asked} per task, and no node of the Ray cluster has that (node 1: CPU ")
    assert store.candidates(job.id) == []


def test_ctrl_c_on_nas_run_cancels_the_job(tmp_path):
    # `nas run` in a process of its own, interrupted right after its coordinator claimed the job:
    # the KeyboardInterrupt a Ctrl-C raises, delivered deterministically.
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
    result = subprocess.run([*NAS, "run", str(spec), "--json", "--db", db], capture_output=True, text=True, timeout=300, env=env_for(tmp_path))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["status"] == "succeeded" and summary["candidates_done"] == 12
    store = Store(db)
    done = store.candidates(summary["job_id"], "done")
    assert summary["best"]["metrics"]["accuracy"] == max(c.metrics["accuracy"] for c in done)
    assert_non_dominated(summary["pareto"], done, [("accuracy", True), ("params", False)])
    assert "Token authentication" not in result.stderr  # Ray's notice stays off a local run's terminal
    assert "claimed by" not in result.stderr  # the service logs at INFO only with --verbose
    verbose = subprocess.run([*NAS, "--verbose", "run", str(spec), "--json", "--db", db], capture_output=True, text=True, timeout=300, env=env_for(tmp_path))
    assert verbose.returncode == 0 and "INFO nas.search.coordinator: job 2 (" in verbose.stderr and "claimed by" in verbose.stderr
    version = subprocess.run([*NAS, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("transformer-nas ")
    human = subprocess.run([*NAS, "status", str(summary["job_id"]), "--db", db], capture_output=True, text=True, timeout=120, env=env_for(tmp_path))
    assert "candidates: 12 done, 0 failed" in human.stdout and "{" not in human.stdout
    best = summary["best"]["metrics"]
    assert f"accuracy {best['accuracy']:.2f}, params {best['params'] / 1e6:.3g} M" in human.stdout  # GLUE points, not a percentage
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(benchmark_spec(strategy="simulated-annealing", budget={"candidates": -1})))
    rejected = subprocess.run([*NAS, "run", str(bad), "--db", db], capture_output=True, text=True, timeout=120, env=env_for(tmp_path))
    assert rejected.returncode == 2 and "strategy" in rejected.stderr and "budget.candidates" in rejected.stderr
    assert len(store.list_jobs()) == 2  # nothing written for the rejected spec

    # The candidates as CSV (one row each, a column per metric), then deleting the job.
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*NAS, *args, "--db", db], capture_output=True, text=True, timeout=120, env=env_for(tmp_path), stdin=subprocess.DEVNULL)

    job_id = str(summary["job_id"])
    table = list(csv.DictReader(io.StringIO(cli("candidates", job_id, "--format", "csv").stdout)))
    assert len(table) == 12 and {float(row["accuracy"]) for row in table} == {c.metrics["accuracy"] for c in done}
    assert all(row["status"] == "done" and json.loads(row["arch"]) for row in table)
    assert len(json.loads(cli("candidates", job_id, "--format", "json", "--status", "failed").stdout)) == 0
    wrong_format = cli("candidates", job_id, "--format", "xml")
    assert wrong_format.returncode == 2 and "--format: 'xml' not one of table, json, csv" in wrong_format.stderr
    unconfirmed = cli("delete", job_id)
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr and store.get_job(summary["job_id"])
    deleted = cli("delete", job_id, "--yes")
    assert deleted.returncode == 0 and json.loads(deleted.stdout)["deleted"] is True, deleted.stderr
    again = cli("delete", job_id, "--yes")
    assert again.returncode == 2 and "Traceback" not in again.stderr and [j.id for j in store.list_jobs()] == [2]


def test_benchmark_job_on_postgresql(postgres_url):
    store = Store(postgres_url)
    job = submit_job(store, benchmark_spec(strategy="boshnas", budget={"candidates": 8}))
    finished = Coordinator(store).run_next(job.id)
    assert finished.status == "succeeded", finished.error
    assert store.counts(job.id) == {"proposed": 0, "running": 0, "done": 8, "failed": 0}


def test_job_whose_time_budget_runs_out_before_any_result_fails(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = submit_job(store, benchmark_spec(budget={"candidates": 8, "max_minutes": 0.001}))  # spent while Ray starts
    finished = Coordinator(store).run_next(job.id)
    assert finished.status == "failed" and finished.error.startswith("budget.max_minutes: 0.001 min were spent starting up before any candidate")
    assert store.counts(job.id).get("done", 0) == 0 and [e.kind for e in store.events(job.id)].count("time_budget") == 1


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


def start_coordinator(db: str, job_id: int, tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen([*NAS, "coordinator", "--db", db, "--job", str(job_id), "--stale-after", str(STALE_AFTER_S), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(tmp_path), start_new_session=True)  # fmt: skip


def kill_hard(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)  # the coordinator and its Ray processes, as a crash would
    process.wait(timeout=30)


@pytest.mark.slow
def test_one_coordinator_runs_several_jobs_at_once_and_hands_them_all_back(tmp_path):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    store = Store(db)
    jobs = [submit_job(store, benchmark_spec(budget={"candidates": 1000}, workers=1), owner=owner) for owner in ("alice", "alice", "bob")]
    coordinator = subprocess.Popen([*NAS, "coordinator", "--db", db, "--max-jobs", "2", "--no-progress"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(tmp_path), start_new_session=True)  # fmt: skip
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


def test_killed_coordinator_resumes_without_losing_or_repeating_work(tmp_path):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    store = Store(db)
    job = submit_job(store, benchmark_spec(strategy="tpe", budget={"candidates": 20}))
    first = start_coordinator(db, job.id, tmp_path)
    poll(lambda: store.counts(job.id).get("done", 0) >= 5, 180, "5 results before the kill")
    kill_hard(first)
    before = {c.id: (c.arch_id, c.metrics) for c in store.candidates(job.id, "done")}
    poll(lambda: heartbeat_stale(store, job.id), 60, "the dead coordinator's heartbeat to go stale")
    second = start_coordinator(db, job.id, tmp_path)
    assert second.wait(timeout=300) == 0, second.stderr.read()
    assert store.get_job(job.id).status == "succeeded"
    candidates = store.candidates(job.id)
    assert store.counts(job.id)["done"] == 20 and len(candidates) == 20
    assert len({c.arch_id for c in candidates}) == 20  # nothing evaluated twice
    assert all(store.get_candidate(i).metrics == metrics and store.get_candidate(i).arch_id == arch for i, (arch, metrics) in before.items())
    assert any(e.kind == "resumed" for e in store.events(job.id))


def test_a_coordinator_killed_while_verifying_leaves_the_rest_to_the_next(tmp_path):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    store = Store(db)
    job = submit_job(store, digits_spec(budget={"candidates": 6}, verify={"top_k": 3, "epochs": 4, "early_stop": False}))
    first = start_coordinator(db, job.id, tmp_path)
    poll(lambda: len(store.verifications(job.id)) >= 1, 300, "the first verification before the kill")
    kill_hard(first)
    verified_before = {v.candidate_id: v for v in store.verifications(job.id)}
    poll(lambda: heartbeat_stale(store, job.id), 60, "the dead coordinator's heartbeat to go stale")
    second = start_coordinator(db, job.id, tmp_path)
    assert second.wait(timeout=300) == 0, second.stderr.read()
    assert store.get_job(job.id).status == "succeeded" and store.counts(job.id)["done"] == 6
    verifications = store.verifications(job.id)
    from nas.service import verification_order

    chosen = verification_order(store, job.id)[:3]
    assert sorted(v.candidate_id for v in verifications) == sorted(row["candidate_id"] for row in chosen)  # each once
    assert all(verified_before[c] in verifications for c in verified_before)  # kept, not redone
    started = [e for e in store.events(job.id) if e.kind == EventKind.VERIFY_STARTED]
    assert len(started) == 2 and set(started[1].data["candidates"]).isdisjoint(verified_before)
    shown = subprocess.run([*NAS, "pareto", str(job.id), "--db", db, "--verified"], capture_output=True, text=True, timeout=60, env=env_for(tmp_path))
    assert shown.returncode == 0 and "Pareto front, verified" in shown.stdout and "chance (always the most frequent class)" in shown.stdout, shown.stdout + shown.stderr
    rows = json.loads(subprocess.run([*NAS, "pareto", str(job.id), "--db", db, "--verified", "--json"], capture_output=True, text=True, timeout=60, env=env_for(tmp_path)).stdout)
    by_id = {v.candidate_id: v for v in verifications}
    assert rows and all(row["verified"]["test_accuracy"] == by_id[row["candidate_id"]].test_accuracy for row in rows)


def pause_between_transactions(process: subprocess.Popen, sqlite_file: Path) -> None:
    """SIGSTOP `process` at a moment it holds no SQLite write lock. (Paused inside a write, it
    would block every writer of the file: SQLite has one writer at a time, which no fencing can
    change; PostgreSQL coordinators hold no lock between their short transactions either.)"""
    import sqlite3

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


def test_a_paused_coordinator_that_lost_its_job_stops_quietly(tmp_path):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    store = Store(db)
    budget = 300  # TPE's asks keep the job going for tens of seconds: the pause lands mid-search
    job = submit_job(store, benchmark_spec(strategy="tpe", budget={"candidates": budget}))
    first = start_coordinator(db, job.id, tmp_path)
    poll(lambda: store.counts(job.id)["done"] >= 3, 180, "3 results before the pause")
    pause_between_transactions(first, tmp_path / "nas.db")  # paused past its heartbeat, as a stalled VM would be
    try:
        poll(lambda: heartbeat_stale(store, job.id), 60, "the paused coordinator's heartbeat to go stale")
        second = start_coordinator(db, job.id, tmp_path)
        poll(lambda: any(e.kind == "resumed" for e in store.events(job.id)), 120, "the takeover")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0 and "Traceback" not in err, err  # it stops quietly
    assert json.loads(out.splitlines()[-1])["job_id"] == job.id
    assert second.wait(timeout=300) == 0, second.stderr.read()
    assert store.get_job(job.id).status == "succeeded"
    candidates = store.candidates(job.id)
    assert store.counts(job.id)["running"] == 0 and store.counts(job.id)["done"] == budget  # nothing left running, nothing lost
    assert len(candidates) == budget and len({c.arch_id for c in candidates}) == budget  # nothing evaluated twice


def test_killed_during_supernet_training_resumes_the_checkpoint(tmp_path):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    store = Store(db)
    job = submit_job(store, digits_spec(supernet={"epochs": 3, "archs_per_step": 2, "batch_size": 64, "max_train": 300, "check": False}, budget={"candidates": 2}))
    assert job_summary(store, job)["supernet"]["state"] == "pending"
    first = start_coordinator(db, job.id, tmp_path)
    checkpoint = Path(ArtifactRoot().supernet(job)) / "checkpoint.json"
    poll(lambda: job_summary(store, job)["supernet"]["state"] == "training", 180, "the first epoch's progress event")
    progress = job_summary(store, job)["supernet"]["progress"]
    assert progress["phase"] == "supervised" and progress["epochs"] == 3 and 1 <= progress["epochs_done"] < 3
    assert progress["total_steps"] == 3 * -(-300 // 64) and progress["loss"] > 0
    kill_hard(first)
    shown = subprocess.run([*NAS, "status", str(job.id), "--db", db], capture_output=True, text=True, timeout=60, env=env_for(tmp_path))
    assert shown.returncode == 0 and "supernet: training (supervised: epoch " in shown.stdout, shown.stdout + shown.stderr
    step_at_kill = json.loads(checkpoint.read_text())["position"]["global_step"]
    poll(lambda: heartbeat_stale(store, job.id), 60, "the dead coordinator's heartbeat to go stale")
    second = start_coordinator(db, job.id, tmp_path)
    assert second.wait(timeout=300) == 0, second.stderr.read()
    assert store.get_job(job.id).status == "succeeded"
    assert len(store.artifacts(job.id, ArtifactKind.SUPERNET_CHECKPOINT)) == 1 and store.counts(job.id)["done"] == 2
    assert json.loads(checkpoint.read_text())["position"]["phase"] == "done"
    resumed = [e for e in store.events(job.id) if e.kind == "supernet_resumed"]
    # Ray's workers can outlive the killed coordinator by a moment and save one more epoch.
    assert step_at_kill > 0 and len(resumed) == 1 and resumed[0].data["step"] >= step_at_kill


def test_cancel_stops_a_running_job_and_keeps_results(tmp_path):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    store = Store(db)
    job = submit_job(store, benchmark_spec(strategy="random", budget={"candidates": 400}))
    running = start_coordinator(db, job.id, tmp_path)
    poll(lambda: store.counts(job.id).get("done", 0) >= 3, 180, "3 results")
    cancelled = subprocess.run([*NAS, "cancel", str(job.id), "--db", db], capture_output=True, text=True, timeout=60, env=env_for(tmp_path))
    assert cancelled.returncode == 0, cancelled.stderr
    assert running.wait(timeout=30) == 0
    final = store.get_job(job.id)
    assert final.status == "cancelled" and 3 <= store.counts(job.id)["done"] < 400
    assert store.counts(job.id)["running"] == 0


def test_flexibert_search_on_reviews_exports_onnx(tmp_path):
    spec = yaml.safe_load((REPO / "examples" / "rotten-tomatoes-flexibert.yaml").read_text())
    spec.update({"budget": {"candidates": 3}, "supernet": {"epochs": 1, "mlm_epochs": 1, "archs_per_step": 2, "batch_size": 64, "max_train": 300, "lr": 0.001, "check": False}, "verify": {"top_k": 0}})
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = submit_job(store, spec)
    finished = Coordinator(store, jobs_dir=tmp_path / "jobs").run_next(job.id)
    assert finished.status == "succeeded", finished.error
    done = store.candidates(job.id, "done")
    assert len(done) == 3 and all(0.0 <= c.metrics["accuracy"] <= 1.0 for c in done)
    out = tmp_path / "onnx"
    exported = export_candidate(store, job.id, done[0].id, "onnx", out)
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
