"""Successive halving between the search and the verified stage (the spec's `rungs`): which
candidates each rung takes, their scores in the store, a stage stopped half-way and resumed, and a
whole job on the coordinator whose verified stage picks from the top rung."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from nas.job.errors import SpecError
from nas.job.parse import parse_spec
from nas.job.schema import JobSpec, RungsSpec
from nas.results.promotion import promotion_order, top_rung_accuracies
from nas.search.rungs import Rung, SuccessiveHalving, rung_size, rungs_of
from nas.store import ArtifactKind, EventKind, InvalidTransition, Store
from search_spaces import get_space
from tests.helpers import DIGITS_SPEC, digits_spec, job_reusing_supernet


def test_the_section_lists_its_rungs_in_order_and_skips_empty_ones():
    assert rungs_of(RungsSpec()) == [Rung(1, finetune_steps=50), Rung(2, train_epochs=2)]
    assert rungs_of(RungsSpec(finetune_steps=0, train_epochs=3, lr=5e-4)) == [Rung(1, train_epochs=3, lr=5e-4)]
    assert [r.fidelity for r in rungs_of(RungsSpec(finetune_steps=20, train_epochs=1))] == ["fine-tuned 20 steps", "trained 1 epoch"]
    with pytest.raises(ValueError, match="exactly one"):
        Rung(1, finetune_steps=5, train_epochs=1)


@pytest.mark.parametrize(("below", "eta", "at_least", "size"), [(24, 3, 3, 8), (8, 3, 3, 3), (2, 3, 3, 2), (100, 4, 1, 25), (0, 3, 3, 0)])
def test_a_rung_keeps_one_in_eta_but_at_least_what_the_verified_stage_picks(below, eta, at_least, size):
    assert rung_size(below, eta, at_least) == size


@pytest.mark.parametrize(
    ("rungs", "message"),
    [
        ({"finetune_steps": 0, "train_epochs": 0}, "rungs: finetune_steps and train_epochs are both 0"),
        ({"eta": 1}, "rungs.eta: 1 must be >= 2"),
        ({"train_epochs": -1}, "rungs.train_epochs"),
        ({"halving": True}, "rungs.halving: unknown field"),
    ],
)
def test_a_wrong_rungs_section_is_refused_naming_the_field(rungs, message):
    with pytest.raises(SpecError, match=message):
        parse_spec({**DIGITS_SPEC, "rungs": rungs})


def test_rungs_do_not_apply_in_benchmark_mode():
    with pytest.raises(SpecError, match="rungs: does not apply in benchmark mode"):
        parse_spec({"name": "b", "space": "flexibert", "task": "nas-bench-bert", "rungs": {}})


def test_the_store_keeps_one_score_per_candidate_and_rung(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = store.create_job(DIGITS_SPEC, "rungs")
    first, second = store.add_candidates(job.id, [("a" * 64, {}), ("b" * 64, {})])
    with pytest.raises(InvalidTransition):  # not done yet: nothing to promote
        store.record_rung_score(first.id, 1, "fine-tuned 5 steps", 0.5, 1.0)
    for candidate in (first, second):
        store.start_candidate(candidate.id, "test")
        store.record_result(candidate.id, {"accuracy": 0.3})
    store.record_rung_score(second.id, 1, "fine-tuned 5 steps", 0.6, 2.0)
    store.record_rung_score(first.id, 1, "fine-tuned 5 steps", None, 0.5, error="RuntimeError: out of memory")
    store.record_rung_score(second.id, 2, "trained 1 epoch", 0.8, 9.0)
    with pytest.raises(InvalidTransition, match="rung 1 already"):
        store.record_rung_score(second.id, 1, "fine-tuned 5 steps", 0.7, 2.0)
    for wrong, match in [({"rung": 0}, "rung: 0"), ({"accuracy": 1.5}, "accuracy: 1.5"), ({"error": "x"}, "exactly one")]:
        with pytest.raises(ValueError, match=match):
            store.record_rung_score(first.id, **{"rung": 3, "fidelity": "f", "accuracy": 0.5, "seconds": 1.0, **wrong})
    scores = store.rung_scores(job.id)
    assert [(s.candidate_id, s.rung, s.accuracy, s.error) for s in scores] == [
        (second.id, 1, 0.6, None), (first.id, 1, None, "RuntimeError: out of memory"), (second.id, 2, 0.8, None),
    ]  # fmt: skip
    assert top_rung_accuracies(scores) == {second.id: 0.8}
    store.delete_job(job.id)  # its scores go with it
    assert Store(f"sqlite:///{tmp_path / 'nas.db'}").list_jobs() == []


def _scored_job(store: Store, checkpoint: Path, tmp_path: Path, rungs: dict, count: int):
    """A job reusing the digits supernet whose `count` random candidates the evaluator scored
    (inherited weights), as the search leaves them; and the evaluator."""
    from nas.artifact_root import JobFiles
    from nas.search.evaluation import SupernetEvaluator

    job = job_reusing_supernet(store, digits_spec(rungs=rungs, verify={"top_k": 2, "epochs": 1, "references": 0}), checkpoint, tmp_path)
    claim = store.claim_job("test", job_id=job.id).claim
    evaluator = SupernetEvaluator(store.artifacts(job.id, ArtifactKind.SUPERNET_CHECKPOINT)[0].path, JobFiles(), latency=None)
    space, rng = get_space("vit-resnas", "small-images"), random.Random(0)
    limit = JobSpec.from_stored(job.spec).constraints.params_max or float("inf")
    fitting = (a for a in iter(lambda: space.sample(rng), None) if space.cost(a).params <= limit)  # all feasible: each rung is 1/eta of them
    archs = list({a.arch_id: a for a in (next(fitting) for _ in range(count))}.values())
    candidates = store.add_candidates(job.id, [(a.arch_id, a.to_dict()) for a in archs], claim=claim)
    store.start_candidates([c.id for c in candidates], "test", claim=claim)
    store.record_results([(c.id, m, 0.1) for c, m in zip(candidates, evaluator.evaluate_many([a.to_dict() for a in archs], measure_latency=False), strict=True)], claim=claim)
    return store.get_job(job.id), claim, evaluator


def test_a_stage_stopped_half_way_resumes_with_the_same_choice_and_scores_only_what_is_left(digits_supernet, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job, claim, evaluator = _scored_job(store, digits_supernet, tmp_path, {"eta": 2, "finetune_steps": 2, "train_epochs": 1}, 8)
    spec = JobSpec.from_stored(job.spec)
    calls: list[tuple[int, str]] = []

    def score(archs, rung):
        for i, arch in enumerate(archs):
            calls.append((rung.number, get_space("vit-resnas", "small-images").validate(arch).arch_id))
            yield i, evaluator.rung_score(arch, rung)

    assert SuccessiveHalving(store, job.id, claim, spec).run(score, should_stop=lambda: len(calls) == 1) is False
    assert len(store.rung_scores(job.id)) == 1
    assert SuccessiveHalving(store, job.id, claim, spec).run(score, should_stop=lambda: False) is True
    scores = store.rung_scores(job.id)
    # Rung 1: the best 4 of 8 by (accuracy, params), promoted by non-dominated rank and
    # hypervolume contribution; rung 2: the best 2 of those on their rung-1 accuracy.
    done = store.candidates(job.id, "done")
    order = promotion_order(np.array([[c.metrics["accuracy"], c.metrics["params"]] for c in done]), [True, False])
    rung1 = [s for s in scores if s.rung == 1]
    assert {s.candidate_id for s in rung1} == {done[i].id for i in order[:4]}
    by_id = {c.id: c for c in done}
    rung1_order = promotion_order(np.array([[s.accuracy, by_id[s.candidate_id].metrics["params"]] for s in rung1]), [True, False])
    rung2 = [s for s in scores if s.rung == 2]
    assert {s.candidate_id for s in rung2} == {rung1[i].candidate_id for i in rung1_order[:2]}
    assert all(0.0 <= s.accuracy <= 1.0 and s.seconds > 0 for s in scores)
    assert [s.fidelity for s in rung1 + rung2] == ["fine-tuned 2 steps"] * 4 + ["trained 1 epoch"] * 2
    assert len(calls) == len(set(calls)) == 6  # the resumed stage scored nothing twice
    events = [e for e in store.events(job.id) if e.kind in (EventKind.RUNG_STARTED, EventKind.RUNG_DONE)]
    assert "(1 scored before a restart)" in events[1].message and events[-1].message.startswith("rung 2 (trained 1 epoch): 2 candidates scored")


@pytest.mark.usefixtures("ray_address")
def test_a_job_with_rungs_verifies_candidates_of_its_top_rung(digits_supernet, tmp_path):
    from nas.results.front import verification_choice
    from nas.search.coordinator import Coordinator
    from nas.service import job_summary

    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    spec = digits_spec(strategy="random", budget={"candidates": 9}, rungs={"eta": 3, "finetune_steps": 3, "train_epochs": 1}, verify={"top_k": 2, "epochs": 1, "references": 0, "early_stop": False})
    job = job_reusing_supernet(store, spec, digits_supernet, tmp_path)
    finished = Coordinator(store, jobs_dir=tmp_path / "jobs", artifact_root=tmp_path / "artifacts").run_next(job.id)
    assert finished.status == "succeeded", finished.error
    scores = store.rung_scores(job.id)
    assert [s.rung for s in scores].count(1) == 3 and [s.rung for s in scores].count(2) == 2  # 9 // 3, then at least top_k
    top = top_rung_accuracies(scores)
    verified = {v.candidate_id for v in store.verifications(job.id)}
    assert verified == set(top) and {store.candidate_number(job.id, row["candidate"]).id for row in verification_choice(store, job.id, 2)} == verified
    kinds = [e.kind for e in store.events(job.id)]
    assert kinds.index(EventKind.RUNG_DONE) < kinds.index(EventKind.VERIFY_STARTED) and kinds.count(EventKind.RUNG_DONE) == 2
    shown = job_summary(store, finished)["rungs"]
    assert [(r["rung"], r["fidelity"], r["scored"], r["failed"]) for r in shown] == [(1, "fine-tuned 3 steps", 3, 0), (2, "trained 1 epoch", 2, 0)]
    assert shown[1]["best_accuracy"] == max(top.values()) and all(r["seconds"] > 0 for r in shown)
    # Its compute: the search and the rungs on one evaluator's CPU, the verified stage's trainings (it reused its supernet).
    compute = job_summary(store, finished)["compute"]
    assert [(s["stage"], s["running"]) for s in compute["stages"]] == [("search", False), ("rungs", False), ("verify", False)]
    assert all(s["cpu_minutes"] > 0 for s in compute["stages"]) and compute["budget"] is None


def test_the_running_rung_has_its_own_pace(tmp_path, clock):
    from nas import service

    store = Store(f"sqlite:///{tmp_path / 'nas.db'}", clock=clock)
    job = service.submit_job(store, digits_spec(rungs={"eta": 2, "finetune_steps": 5}))
    job = store.claim_job("test", job_id=job.id)
    candidates = store.add_candidates(job.id, [(f"{i:064x}", {}) for i in range(6)], claim=job.claim)
    store.start_candidates([c.id for c in candidates], "test", claim=job.claim)
    store.record_results([(c.id, {"accuracy": 0.5, "params": 1e5}, 0.1) for c in candidates], claim=job.claim)
    clock.advance(60)
    scored_before = store.record_rung_score(candidates[0].id, 1, "fine-tuned 5 steps", 0.6, 3.0)  # before a restart
    clock.advance(60)
    store.add_event(job.id, EventKind.RUNG_STARTED, "rung 1", {"rung": 1, "chosen": [c.seq for c in candidates[:4]], "of": 6})
    clock.advance(10)
    store.record_rung_score(candidates[1].id, 1, "fine-tuned 5 steps", 0.7, 9.0)
    store.heartbeat(job.id, "test", job.claim.epoch)
    summary = service.job_summary(store, store.get_job(job.id))
    # One of the three left in 10 s: two more at that pace (the one scored before the restart is not this run's pace).
    assert summary["eta"] == {"stage": "rung 1", "seconds": 20.0} and scored_before.rung == 1
    assert summary["rungs"] == [
        {"rung": 1, "fidelity": "fine-tuned 5 steps", "scored": 2, "failed": 0, "best_accuracy": 0.7, "seconds": 12.0},
        {"rung": 2, "fidelity": "trained 2 epochs", "scored": 0, "failed": 0, "best_accuracy": None, "seconds": 0},
    ]  # fmt: skip


def test_a_candidate_without_a_limited_metric_is_not_promoted(tmp_path):
    """As on the service's front: a latency limit with no latency measured is not met."""
    from nas import service

    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    spec = digits_spec(constraints={"params_max": 2_000_000, "latency_ms_max": 5.0}, rungs={"eta": 2, "finetune_steps": 1, "train_epochs": 0}, verify={"top_k": 1, "references": 0})
    job = store.claim_job("test", job_id=service.submit_job(store, spec).id)
    candidates = store.add_candidates(job.id, [(f"{i:064x}", {"i": i}) for i in range(4)], claim=job.claim)
    store.start_candidates([c.id for c in candidates], "test", claim=job.claim)
    measured = {candidates[0].id, candidates[2].id}
    store.record_results([(c.id, {"accuracy": 0.5 + c.seq / 10, "params": 1e5, **({"latency_ms": 1.0} if c.id in measured else {})}, 0.1) for c in candidates], claim=job.claim)
    scored: list[dict] = []

    def score(archs, rung):
        scored.extend(archs)
        yield from ((i, {"accuracy": 0.9, "seconds": 1.0}) for i in range(len(archs)))

    assert SuccessiveHalving(store, job.id, job.claim, JobSpec.from_stored(job.spec)).run(score, should_stop=lambda: False)
    # Of the two with a latency, the more accurate (candidate 3); candidate 4, more accurate
    # still but with no latency, is not promotable, and one in eta of two is one.
    assert scored == [{"i": 2}]
