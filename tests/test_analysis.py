"""The search analysis the dashboard draws: hypervolume over candidates, what matters for the
primary objective, the supernet's training curve."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from nas import service
from nas.results.analysis import choice_importance, hypervolume_history, supernet_curve
from nas.store import Store
from surrogates.tabular import NasBenchBertTable
from tests.helpers import BENCH_SPEC, DIGITS_SPEC


def test_hypervolume_of_two_objectives_is_the_dominated_area():
    # Maximise both; the box spans 0..1 on each: (1, 0) and (0, 1) alone dominate nothing of it.
    points = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.75, 0.75], [0.2, 0.2]])
    history = hypervolume_history(points, [True, True], [1, 2, 3, 4, 5])
    assert [p.candidate for p in history] == [1, 2, 3, 4, 5]
    assert [p.hypervolume for p in history] == pytest.approx([0.0, 0.0, 0.25, 0.5625, 0.5625])  # a dominated point adds nothing


def test_minimised_objectives_and_three_of_them():
    accuracy_params = np.array([[0.9, 2e6], [0.8, 1e6], [0.7, 3e6]])  # the last is dominated
    (*_, last) = hypervolume_history(accuracy_params, [True, False], [1, 2, 3])
    # Scaled: (1, 0.5) and (0.5, 1): areas 0.5 + 0.5 * 0.5.
    assert last.hypervolume == pytest.approx(0.75)
    cube = np.array([[1.0, 0.5, 0.5], [0.0, 0.0, 0.0], [0.5, 1.0, 1.0]])
    (*_, estimate) = hypervolume_history(cube, [True, True, True], [1, 2, 3])
    exact = 0.25 + 0.5 - 0.25 * 0.5  # the two boxes, less their overlap
    assert estimate.hypervolume == pytest.approx(exact, abs=0.01)


def test_a_long_search_keeps_two_hundred_points_and_its_last():
    values = np.random.default_rng(0).random((1000, 2))
    history = hypervolume_history(values, [True, False], list(range(1, 1001)))
    assert len(history) == 200 and history[-1].candidate == 1000 and history[0].candidate == 1
    assert all(a.hypervolume <= b.hypervolume + 1e-12 for a, b in itertools.pairwise(history))  # a front only grows


def test_the_feature_that_decides_the_target_matters_most():
    rng = random.Random(0)
    features = [{"layers": rng.randint(2, 12), "heads": rng.randint(1, 8), "width": rng.choice([128, 256])} for _ in range(60)]
    target = [0.5 + 0.04 * f["layers"] + rng.gauss(0, 0.005) for f in features]
    ranked = choice_importance(features, target)
    assert ranked[0].feature == "layers" and ranked[0].importance > 0.8 and sum(r.importance for r in ranked) == pytest.approx(1.0)
    assert choice_importance(features[:5], target[:5]) == []  # too few to say
    assert choice_importance([{"layers": 4}] * 10, target[:10]) == []  # nothing varies


def test_the_job_analysis_from_the_store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = service.submit_job(store, BENCH_SPEC)
    table_rows = NasBenchBertTable().pool[:12]
    for arch in table_rows:
        (record,) = store.add_candidates(job.id, [(arch.arch_id, arch.to_dict())])
        store.start_candidate(record.id, "test")
        store.record_result(record.id, {"accuracy": 60 + len(arch.to_dict()["layers"]), "params": 1e6 * (1 + record.seq), "flops": 1e8})
    analysis = service.job_analysis(store, job.id)
    assert analysis["objectives"] == ["accuracy", "params"] and [p["candidate"] for p in analysis["hypervolume"]] == list(range(1, 13))
    assert analysis["importance"]["target"] == "accuracy" and analysis["importance"]["features"][0]["feature"] == "layers"
    assert analysis["supernet"] == []  # benchmark mode trains none

    trained = service.submit_job(store, DIGITS_SPEC)
    for step, loss, health in ((12, 2.1, None), (24, 1.7, {"largest": 0.4, "smallest": 0.3, "majority_rate": 0.1})):
        store.add_event(trained.id, "supernet_progress", f"step {step}", {"step": step, "loss": loss, "health": health})
    store.add_event(trained.id, "supernet_trained", "trained", {"step": 36, "loss": 1.2, "phase": "done"})
    store.add_event(trained.id, "supernet_health", "learned", {"largest": 0.6, "smallest": 0.5, "majority_rate": 0.1, "learned": True})
    curve = service.job_analysis(store, trained.id)["supernet"]
    assert [(p["step"], p["loss"], p["largest"]) for p in curve] == [(12, 2.1, None), (24, 1.7, 0.4), (36, 1.2, 0.6)]


def test_supernet_curve_keeps_one_point_per_step():
    assert [p.step for p in supernet_curve([{"step": 5, "loss": 1.0}, {"step": 2, "loss": 2.0}, {"step": 5, "loss": 0.9}])] == [2, 5]
