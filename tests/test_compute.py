"""A job's compute in CPU-minutes (nas.search.compute) and the `budget.cpu_minutes` limit: each
stage's figure from the job's events, the search's end on a coordinator, successive halving cut
where the budget ends, and the wrong values a spec may give."""

from __future__ import annotations

import sys
import time
from datetime import timedelta

import pytest

from nas.job.errors import SpecError
from nas.job.parse import parse_spec
from nas.job.schema import JobSpec
from nas.results.promotion import top_rung_accuracies
from nas.search.compute import RUNGS_SHARE, CpuBudget, stage_compute
from nas.search.evaluation import SupernetEvaluator
from nas.search.rungs import SuccessiveHalving
from nas.store import EventKind, Store
from tests.helpers import advance_once_evaluating, benchmark_spec, digits_spec, job_reusing_supernet


@pytest.mark.parametrize(
    ("budget", "message"),
    [({"cpu_minutes": 0}, "budget.cpu_minutes: 0 must be > 0"), ({"cpu_minutes": "lots"}, "budget.cpu_minutes: expected a number, got str 'lots'")],
)
def test_a_wrong_cpu_budget_is_refused_naming_the_field(budget, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(digits_spec(budget=budget))


def test_a_cpu_budget_does_not_apply_in_benchmark_mode():
    with pytest.raises(SpecError, match=r"budget.cpu_minutes: does not apply in benchmark mode .*use budget.candidates"):
        parse_spec(benchmark_spec(budget={"candidates": 5, "cpu_minutes": 10}))


def test_each_stage_counts_the_cpus_it_holds_times_its_minutes(tmp_path, clock):
    from nas import service

    store = Store(f"sqlite:///{tmp_path / 'nas.db'}", clock=clock)
    spec = digits_spec(resources={"supernet": {"cpus": 2}, "evaluator": {"cpus": 1.5}}, budget={"candidates": 4, "cpu_minutes": 30})
    job = store.claim_job("test", job_id=service.submit_job(store, spec).id)
    store.add_event(job.id, EventKind.SUPERNET_STARTED, "training")
    clock.advance(180)
    store.add_event(job.id, EventKind.SUPERNET_TRAINED, "trained")
    clock.advance(30)  # the evaluators start: held, so counted
    store.add_event(job.id, EventKind.SEARCH_STARTED, "search", {"evaluators": 4})
    clock.advance(90)
    stages = stage_compute(JobSpec.from_stored(job.spec), store.events(job.id), [], job.started_at, clock.now())
    # Supernet: 2 CPUs for 3 minutes; search: 4 evaluators of 1.5 CPUs for 2 minutes, still running.
    assert [(s.stage, s.cpus, round(s.minutes, 6), round(s.cpu_minutes, 6), s.running) for s in stages] == [("supernet", 2, 3.0, 6.0, False), ("search", 6.0, 2.0, 12.0, True)]
    store.add_event(job.id, EventKind.VERIFY_STARTED, "verify")
    clock.advance(600)
    compute = service.job_summary(store, store.get_job(job.id))["compute"]
    assert [s["stage"] for s in compute["stages"]] == ["supernet", "search"] and compute["cpu_minutes"] == pytest.approx(18.0)
    assert compute["budget"] == 30


def test_the_search_ends_where_the_budget_left_by_the_supernet_is_spent():
    from datetime import datetime, timezone

    began = datetime(2026, 1, 1, tzinfo=timezone.utc)
    # 20 CPU-minutes, 8 spent on the supernet: 12 left, on 3 CPUs of evaluators, is 4 minutes.
    assert CpuBudget(20, rungs=False).search_end(began, 8, 3) == began + timedelta(minutes=4)
    # With rungs, a quarter of the 12 is left for them.
    assert CpuBudget(20, rungs=True).search_end(began, 8, 3) == began + timedelta(minutes=12 * (1 - RUNGS_SHARE) / 3)
    assert CpuBudget(20, rungs=False).search_end(began, 25, 3) == began  # the supernet spent it all
    assert CpuBudget(20, rungs=True).rungs_end(began, 17, 2) == began + timedelta(minutes=1.5)


class NeverFinishes(SupernetEvaluator):
    """Holds every candidate until its actor is killed."""

    def evaluate_many(self, arch_datas, measure_latency=True):
        time.sleep(3600)


@pytest.mark.usefixtures("ray_address")
def test_a_cpu_budget_spent_before_any_result_fails_the_job_naming_it(digits_supernet, tmp_path, clock):
    import ray.cloudpickle

    from nas.search.coordinator import Coordinator

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}", clock=clock)
    job = job_reusing_supernet(store, digits_spec(strategy="random", budget={"candidates": 10, "cpu_minutes": 2}), digits_supernet, tmp_path)

    mover = advance_once_evaluating(store, job.id, clock, 121)  # one evaluator, one CPU: 2 CPU-minutes are 2 minutes
    finished = Coordinator(store, evaluator=NeverFinishes).run_next(job.id)
    mover.join(timeout=1)
    assert finished.status == "failed" and finished.error.startswith("budget.cpu_minutes: 2.0 CPU-minutes were spent")
    spent = [e for e in store.events(job.id) if e.kind == EventKind.TIME_BUDGET]
    assert len(spent) == 1 and spent[0].data["limit"] == "cpu_minutes" and spent[0].message.startswith("cpu_minutes=2.0 spent after 0 candidates")


def test_rungs_stop_where_the_budget_ends_and_the_verified_stage_picks_from_what_they_scored(digits_supernet, tmp_path):
    from tests.test_rungs import _scored_job

    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job, claim, evaluator = _scored_job(store, digits_supernet, tmp_path, {"eta": 2, "finetune_steps": 2, "train_epochs": 1}, 8)
    spec = JobSpec.from_stored(job.spec).model_copy(update={"budget": JobSpec.from_stored(job.spec).budget.model_copy(update={"cpu_minutes": 5.0})})
    scored: list[int] = []

    def score(archs, rung):
        for i, arch in enumerate(archs):
            scored.append(rung.number)
            yield i, evaluator.rung_score(arch, rung)

    # The budget runs out after rung 1's fourth score and the first of rung 2.
    assert SuccessiveHalving(store, job.id, claim, spec).run(score, should_stop=lambda: False, budget_spent=lambda: len(scored) >= 5) is True
    assert scored == [1, 1, 1, 1, 2]
    (spent,) = [e for e in store.events(job.id) if e.kind == EventKind.TIME_BUDGET]
    assert spent.data == {"limit": "cpu_minutes", "rung": 2, "scored": 1} and "spent at rung 2 (trained 1 epoch) after 1 of its candidates" in spent.message
    scores = store.rung_scores(job.id)
    # Rung 2 holds one score, fewer than the verified stage's two: it picks from rung 1.
    assert set(top_rung_accuracies(scores, at_least=2)) == {s.candidate_id for s in scores if s.rung == 1}
    assert set(top_rung_accuracies(scores)) == {s.candidate_id for s in scores if s.rung == 2}
