"""The verdict: the verified candidates against the plain family at equal test accuracy, with the
uncertainty of both accuracy (seeds, test-split size) and latency (the measurement's interval)."""

from __future__ import annotations

import pytest

from nas.results.verdict import TrainedModel, compare, cost_metric, matches, verdict
from nas.store import Store


def model(label: str, accuracy: float | tuple[float, ...], latency: float, params: float, reference: bool = False, spread: float = 0.02, n: int = 10_000) -> TrainedModel:
    accuracies = accuracy if isinstance(accuracy, tuple) else (accuracy,)
    metrics = {"latency_ms": latency, "latency_low_ms": latency * (1 - spread), "latency_high_ms": latency * (1 + spread), "params": params, "flops": params * 10}
    return TrainedModel(label, reference, accuracies, n, metrics, None if reference else int(label.split()[-1]))


def test_the_uncertainty_of_a_test_accuracy_combines_seeds_and_the_split_size():
    one = model("plain-S", 0.9, 1.0, 1e6, reference=True, n=10_000)
    assert one.half_width == pytest.approx(1.96 * (0.9 * 0.1 / 10_000) ** 0.5, rel=1e-3)
    seeds = model("plain-S", (0.88, 0.90, 0.92), 1.0, 1e6, reference=True, n=10_000)
    assert seeds.accuracy == pytest.approx(0.90) and seeds.half_width > one.half_width
    assert model("candidate 1", 0.9, 1.0, 1e6, n=100).half_width > one.half_width  # a small test split knows less
    assert seeds.accuracy_text() == f"90.0 ± {100 * seeds.half_width:.1f}%"


def test_a_candidate_matches_a_reference_unless_significantly_less_accurate():
    reference = model("plain-L", 0.900, 2.0, 2e6, reference=True, n=1000)
    assert matches(model("candidate 1", 0.895, 1.0, 1e6, n=1000), reference)  # within noise
    assert matches(model("candidate 2", 0.950, 1.0, 1e6, n=1000), reference)
    assert not matches(model("candidate 3", 0.850, 1.0, 1e6, n=1000), reference)
    # Wide intervals (few test examples) do not let a much less accurate model match.
    assert not matches(model("candidate 4", 0.85, 1.0, 1e6, n=50), model("plain-L", 0.90, 2.0, 2e6, reference=True, n=50))


def test_the_cheapest_matching_candidate_is_compared_with_its_interval():
    reference = model("plain-L", 0.90, 2.0, 2e6, reference=True, spread=0.05)
    fast, faster_but_worse = model("candidate 4", 0.905, 1.0, 1.5e6, spread=0.05), model("candidate 5", 0.80, 0.5, 0.5e6)
    found = compare([fast, faster_but_worse], reference, "latency_ms")
    assert (found.candidate, found.ratio) == ("candidate 4", pytest.approx(2.0))
    assert found.ratio_low == pytest.approx(1.9 / 1.05) and found.ratio_high == pytest.approx(2.1 / 0.95) and found.cheaper
    exact = compare([fast], reference, "params")
    assert exact.ratio_low == exact.ratio_high == pytest.approx(2e6 / 1.5e6)


def test_the_verdict_says_the_search_beat_the_plain_family_when_it_is_faster_at_equal_accuracy():
    models = [
        model("plain-S", 0.85, 0.8, 0.7e6, reference=True), model("plain-L", 0.90, 2.6, 2e6, reference=True),
        model("candidate 12", 0.902, 1.1, 0.6e6), model("candidate 3", 0.86, 0.5, 0.3e6),
    ]  # fmt: skip
    found = verdict(models, ["accuracy", "latency_ms"], "onnxruntime, batch 1, 1 thread")
    assert found.beat is True and found.cost == "latency_ms"
    assert found.text.startswith("at the test accuracy of plain-L (90.0 ± 0.6%), candidate 12 (90.2 ± 0.6%) is 2.36× faster (1.10 ms against 2.60 ms; onnxruntime, batch 1, 1 thread")
    assert "at plain-S's, candidate 3 is 1.60× faster" in found.text and "the search beat the plain family; front against front, the candidates' hypervolume of (test accuracy, latency) is " in found.text
    assert [c.reference for c in found.comparisons] == ["plain-L", "plain-S"]


def test_the_verdict_says_so_when_no_candidate_matches_or_none_is_cheaper():
    worse = verdict([model("plain-L", 0.95, 2.0, 2e6, reference=True), model("candidate 7", 0.80, 0.5, 0.5e6)], ["accuracy", "params"])
    assert worse.beat is False and worse.cost == "params"
    assert worse.text.startswith("no verified candidate matches plain-L's test accuracy (95.0 ± 0.4%; the most accurate, candidate 7, has 80.0 ± 0.8%): the search did not beat the plain family; ")
    assert worse.hypervolume is not None and not worse.hypervolume.above  # a trade-off: each front dominates its own corner
    # Faster, but within the measurements' uncertainty: no claim.
    close = verdict([model("plain-L", 0.90, 1.0, 2e6, reference=True, spread=0.05), model("candidate 2", 0.90, 0.97, 1e6, spread=0.05)], ["accuracy", "latency_ms"])
    assert close.beat is False and "1.03× faster" in close.text and "did not beat the plain family" in close.text
    slower = verdict([model("plain-L", 0.90, 1.0, 2e6, reference=True), model("candidate 2", 0.90, 1.5, 1e6)], ["accuracy", "latency_ms"])
    assert slower.beat is False and "1.50× slower" in slower.text and "; but " not in slower.text  # said once


def test_a_smaller_plain_member_as_accurate_and_as_fast_takes_the_win_away():
    # Faster than the most accurate member, but a smaller member ties with it within noise and
    # is faster still: a user picking that member would lose nothing (the Fashion-MNIST run of 2026-12-07).
    models = [
        model("plain-S", 0.823, 1.12, 1.5e6, reference=True), model("plain-M", 0.824, 1.63, 2.6e6, reference=True),
        model("candidate 15", 0.823, 1.20, 2.5e6),
    ]  # fmt: skip
    found = verdict(models, ["accuracy", "latency_ms"])
    assert found.beat is False and found.comparisons[0].cheaper  # faster than plain-M, beyond its interval
    assert "is 1.36× faster" in found.text and "; but plain-S (82.3 ± 0.7%) is as accurate as candidate 15 and 1.07× faster: the search did not beat" in found.text
    # A smaller member that is clearly less accurate takes nothing away.
    models[0] = model("plain-S", 0.80, 1.12, 1.5e6, reference=True)
    assert verdict(models, ["accuracy", "latency_ms"]).beat is True


def test_a_verdict_on_loosely_known_accuracies_asks_for_more_seeds():
    loose = verdict([model("plain-L", 0.90, 2.0, 2e6, reference=True, n=200), model("candidate 2", 0.905, 1.0, 1e6, n=200)], ["accuracy", "latency_ms"])
    assert " (test accuracies known to ±4.2 points at worst, plain-L's: a larger test split, or more seeds with verify.seeds, would narrow them); " in loose.text


def test_without_references_or_candidates_there_is_no_verdict():
    assert verdict([model("candidate 1", 0.9, 1.0, 1e6)], ["accuracy"]).beat is None
    assert "no candidate" in verdict([model("plain-S", 0.9, 1.0, 1e6, reference=True)], ["accuracy"]).text
    assert cost_metric(["accuracy", "flops"], [model("plain-S", 0.9, 1.0, 1e6, reference=True)]) == "flops"
    assert cost_metric(["accuracy"], [model("plain-S", 0.9, 1.0, 1e6, reference=True)]) == "latency_ms"


def test_the_store_keeps_references_and_every_training_by_seed(tmp_path):
    from nas.store import InvalidTransition

    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    job = store.create_job({"name": "t"}, "t")
    first = store.add_reference(job.id, "plain-S", {"depth": 1}, "a" * 64, {"accuracy": 0.5, "params": 1e6, "latency_ms": 1.0})
    assert store.add_reference(job.id, "plain-S", {"depth": 2}, "b" * 64, {}) == first  # once per job: a resumed job keeps it
    figures = {"init": "inherited", "val_accuracy": 0.9, "test_accuracy": 0.88, "test_examples": 180, "best_epoch": 2, "epochs_trained": 3, "epochs": 3, "seconds": 4.0}
    for seed in (0, 1):
        store.record_training(job.id, figures, seed=seed, reference_id=first.id)
    with pytest.raises(InvalidTransition, match="seed 1 already"):
        store.record_training(job.id, figures, seed=1, reference_id=first.id)
    with pytest.raises(ValueError, match="exactly one"):
        store.record_training(job.id, figures, seed=2)
    assert [(t.reference_id, t.seed) for t in store.trainings(job.id)] == [(first.id, 0), (first.id, 1)]
    store.delete_job(job.id)
    other = store.create_job({"name": "u"}, "u")
    assert store.references(other.id) == [] and store.trainings(other.id) == []


def test_the_hypervolume_ratio_says_which_front_dominates_more_with_an_interval():
    from nas.results.verdict import hypervolume_ratio

    references = [model("plain-S", 0.85, 0.8, 0.7e6, reference=True), model("plain-L", 0.90, 2.6, 2e6, reference=True)]
    better = hypervolume_ratio([model("candidate 1", 0.91, 0.7, 0.6e6), model("candidate 2", 0.87, 0.4, 0.3e6)], references, "latency_ms", draws=300)
    assert better.ratio > 1 and better.low <= better.ratio <= better.high and better.above
    same = hypervolume_ratio([model("candidate 1", 0.85, 0.8, 0.7e6), model("candidate 2", 0.90, 2.6, 2e6)], references, "latency_ms", draws=300)
    assert same.ratio == pytest.approx(1.0) and same.low < 1 < same.high and not same.above


def test_a_done_candidates_result_can_be_amended_with_better_figures(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    job = store.create_job({"name": "t"}, "t")
    (candidate,) = store.add_candidates(job.id, [("a" * 64, {"depth": 1})])
    store.start_candidate(candidate.id, "w")
    store.record_result(candidate.id, {"accuracy": 0.9, "latency_ms": 1.0, "latency_predicted": 1.0})
    amended = store.amend_result(candidate.id, {"latency_ms": 1.3, "latency_low_ms": 1.2, "latency_high_ms": 1.4}, drop=("latency_predicted",))
    assert amended.latency_ms == 1.3 and amended.accuracy == 0.9 and "latency_predicted" not in amended.metrics and amended.metrics["latency_low_ms"] == 1.2
