"""The model-based strategies' building blocks and the BoTorch multi-objective strategy."""

from __future__ import annotations

import random

import numpy as np
import pytest

from search_spaces import get_space
from surrogates.base import Objective
from surrogates.baselines import RandomSearch
from surrogates.boshnas import Boshnas
from surrogates.botorch_mo import BotorchMultiObjective
from surrogates.embedding import GraphEmbedding
from surrogates.encoding import OneHotEncoder, flat_choices
from surrogates.features import SurrogateFeatures, clip_low_outliers
from surrogates.forest import RandomForestSearch, fit_forest, tree_mean_and_spread
from surrogates.judging import hypervolume_2d, near_full_data_ceiling, queries_until_hit, random_draw_quartiles, reference_queries
from surrogates.tabular import NAS_BENCH_BERT_TASK, NasBenchBertTable


@pytest.fixture(scope="module")
def table(nas_bench_bert_path):
    return NasBenchBertTable(nas_bench_bert_path)


def test_clip_low_outliers_raises_only_far_low_values():
    values = np.array([70.0, 71.0, 72.0, 73.0, 71.5, 50.0, 90.0])
    clipped = clip_low_outliers(values)
    assert clipped[5] > 60 and clipped[6] == 90.0  # a diverged run is lifted; a high one stays
    assert np.array_equal(clipped[:5], values[:5])
    assert np.array_equal(clip_low_outliers(np.ones(4)), np.ones(4))


def test_features_append_exact_costs():
    space = get_space("flexibert", "nas-bench-bert")
    features = SurrogateFeatures(space, GraphEmbedding(space, landmarks=40, seed=0), NAS_BENCH_BERT_TASK)
    archs = [space.sample(random.Random(i)) for i in range(3)]
    rows = features(archs)
    assert rows.shape == (3, features.dim)
    for arch, row in zip(archs, rows):
        assert np.isclose(np.exp(row[features.column("log_params")]), space.cost(arch, NAS_BENCH_BERT_TASK).params)


def test_features_without_the_graph_start_at_the_costs():
    space = get_space("flexibert", "nas-bench-bert")
    encoder = OneHotEncoder.for_space(space, None, seed=5, samples=300)
    features = SurrogateFeatures(space, task=NAS_BENCH_BERT_TASK, one_hot=encoder, graph=False)
    assert features.embedding is None and features.column("log_params") == 0
    arch = space.sample(random.Random(2))
    row = features([arch])[0]
    assert len(row) == features.dim == 2 + encoder.dim
    assert np.isclose(np.exp(row[0]), space.cost(arch, NAS_BENCH_BERT_TASK).params)


def test_forest_spread_shrinks_where_it_has_data_and_it_searches_an_open_space():
    space = get_space("flexibert", "flexibert")
    strategy = RandomForestSearch(space, seed=0, initial=8, candidates=300, trees=50)
    rng = random.Random(0)
    for _ in range(8):
        for arch in strategy.ask(2):
            assert space.contains(arch) and arch.arch_id not in strategy.observed
            # Accuracy grows with size, as on real tasks.
            strategy.tell(arch, {"accuracy": float(np.log(space.cost(arch, strategy.features.task).params)) + rng.gauss(0, 0.1)})
    observed = [a for a, _ in strategy.observed.values()]
    x = strategy.features(observed)
    forest = fit_forest(x, np.array([m["accuracy"] for _, m in strategy.observed.values()]), seed=0, trees=50)
    fresh = strategy.features([space.sample(random.Random(100 + i)) for i in range(50)])
    assert tree_mean_and_spread(forest, x)[1].mean() < tree_mean_and_spread(forest, fresh)[1].mean()
    picks = strategy.ask(3)
    assert len({a.arch_id for a in picks}) == 3 and all(space.contains(a) for a in picks)


def test_features_end_with_the_one_hot_choices():
    space = get_space("flexibert", "nas-bench-bert")
    encoder = OneHotEncoder.for_space(space, None, seed=5, samples=300)
    assert OneHotEncoder.for_space(space, None, seed=5, samples=300).index == encoder.index  # seeded vocabulary
    features = SurrogateFeatures(space, GraphEmbedding(space, landmarks=40, seed=0), NAS_BENCH_BERT_TASK, one_hot=encoder)
    arch = space.sample(random.Random(11))
    row = features([arch])[0]
    assert len(row) == features.dim == features.column("log_flops") + 1 + encoder.dim
    chosen = row[features.column("log_flops") + 1 :]
    # One column set per choice the arch makes (every flat path's value was seen in 300 samples).
    assert set(np.flatnonzero(chosen)) == {encoder.index[(path, repr(value))] for path, value in flat_choices(arch).items()}


def test_candidate_pool_of_an_open_space_is_stable_and_free():
    space = get_space("vit-resnas", "small-images")
    strategy = RandomSearch(space, seed=3)
    rng = random.Random(0)
    for arch in strategy.ask(4):
        strategy.tell(arch, {"accuracy": rng.random()})
    taken = set(strategy.observed)
    first = strategy.candidate_pool(50, taken, random.Random(1))
    again = strategy.candidate_pool(50, taken, random.Random(1))
    assert [a.arch_id for a in first] == [a.arch_id for a in again]
    assert len({a.arch_id for a in first}) == len(first) > 40 and not ({a.arch_id for a in first} & taken)


@pytest.mark.parametrize("name", ["boshnas", "botorch", "forest"])
def test_model_based_contract_batch_and_replay(table, name):
    """Batches are distinct and avoid pending archs; replaying the results into a fresh strategy
    gives the same next proposals."""
    embedding = GraphEmbedding(table.space, landmarks=64, seed=0)

    def fresh():
        if name == "boshnas":
            return Boshnas(table.space, pool=table.pool, seed=1, embedding=embedding, initial=6, candidates=200, task=NAS_BENCH_BERT_TASK)
        if name == "forest":
            return RandomForestSearch(table.space, pool=table.pool, seed=1, initial=6, trees=50, task=NAS_BENCH_BERT_TASK)
        return BotorchMultiObjective(table.space, pool=table.pool, seed=2, initial=6, embedding=embedding, task=NAS_BENCH_BERT_TASK,
                                     secondary=[Objective("params", maximize=False)])  # fmt: skip

    strategy = fresh()
    for _ in range(4):
        for arch in strategy.ask(2):
            strategy.tell(arch, table.evaluate(arch))
    pending = strategy.ask(3)
    assert len({a.arch_id for a in pending}) == 3 and not ({a.arch_id for a in pending} & set(strategy.observed))
    more = strategy.ask(2, pending=pending)
    assert not ({a.arch_id for a in more} & {a.arch_id for a in pending})
    replayed = fresh()
    replayed.load_state_dict(strategy.state_dict())
    assert [a.arch_id for a in replayed.ask(2)] == [a.arch_id for a in strategy.ask(2)]


def test_botorch_rejects_repeated_objectives():
    with pytest.raises(ValueError, match="objectives: metrics must be distinct"):
        BotorchMultiObjective(get_space("flexibert", "nas-bench-bert"), secondary=[Objective("accuracy")])


def test_hypervolume_2d(table):
    """The benchmark's hypervolume: the whole benchmark dominates more than a subset of it."""
    every = np.array([[table.glue[a.arch_id], -float(table.costs[a.arch_id].params)] for a in table.pool])
    reference = every.min(0) - 1e-9
    assert hypervolume_2d(every, reference) > hypervolume_2d(every[:10], reference) > 0
    assert hypervolume_2d(np.array([[0.0, 0.0]]), np.array([1.0, 1.0])) == 0.0


def test_random_draw_quartiles_match_simulation():
    """The exact quartiles of draws-until-first-target agree with shuffled pools."""
    rng = np.random.default_rng(0)
    for size, hits in [(133, 5), (491, 5), (10, 1)]:
        draws = [int(np.argmax(rng.permutation(size) < hits)) + 1 for _ in range(20000)]
        exact = random_draw_quartiles(size, hits)
        simulated = np.percentile(draws, [25, 50, 75])
        assert abs(exact["median"] - simulated[1]) <= 1
        assert np.allclose(exact["iqr"], simulated[[0, 2]], atol=max(1, 0.05 * simulated[2]))
    assert random_draw_quartiles(4, 4) == {"median": 1.0, "iqr": [1.0, 1.0]}


def test_reference_group_holds_the_top_architectures(table):
    reference = reference_queries(table, table.kth_best(5))["random_in_best_group"]
    assert reference["group"] == {"layers": 4, "hidden": 256}
    assert reference["top5_in_group"] == 5 and reference["size"] < len(table.pool)


def test_queries_until_hit_evaluates_the_design_first_and_skips_repeats():
    hit = np.array([False, False, True, False])
    assert queries_until_hit([0, 1], [1, 3, 2], hit) == 4  # 0, 1, 3, then 2
    assert queries_until_hit([2, 0], [0, 1], hit) == 1
    assert queries_until_hit([], [3, 1], hit) == 3  # none hits: one past the end


def test_ceiling_models_trained_on_most_of_the_pool_rank_held_out_archs(table):
    """Every ceiling model, trained on two thirds of the pool, ranks the rest far better than
    parameter count alone (tau 0.49), and its evaluation order reaches a top-5 arch."""
    features = SurrogateFeatures(table.space, task=NAS_BENCH_BERT_TASK, seed=0)
    ceiling = near_full_data_ceiling(table, features, folds=3, repeats=1, designs=20)
    assert ceiling["training_archs"] == 327 and ceiling["designs"] == 20
    for name, row in ceiling["models"].items():
        assert row["tau"] > 0.65, name
        assert 1 <= row["greedy_queries"]["median"] <= len(table.pool), name
        assert row["after_random_design"]["iqr"][0] <= row["after_random_design"]["median"] <= row["after_random_design"]["iqr"][1]
    # All five top archs are in the 133-arch group: some design or group draw hits within it.
    assert 1 <= ceiling["random_in_best_group_after_random_design"]["median"] <= 10 + 133


def test_boshnas_fits_independent_networks_in_one_loop_as_if_alone():
    import torch

    from surrogates.boshnas import fit, mlp

    x, y = torch.randn(40, 5, generator=torch.Generator().manual_seed(0)), torch.randn(40, generator=torch.Generator().manual_seed(1))

    def networks() -> tuple[torch.nn.Module, torch.nn.Module]:
        torch.manual_seed(0)
        return mlp(5, 1, hidden=8, dropout=0.2), mlp(5, 2, hidden=8)

    def mse(m: torch.nn.Module) -> torch.Tensor:
        return ((m(x).squeeze(-1) - y) ** 2).mean()

    def first_output(m: torch.nn.Module) -> torch.Tensor:
        return ((m(x)[:, 0] - y) ** 2).mean()

    alone_a, alone_b = networks()
    torch.manual_seed(5)
    fit([(alone_a, mse)], epochs=20)
    fit([(alone_b, first_output)], epochs=20)
    together_a, together_b = networks()
    torch.manual_seed(5)
    fit([(together_a, mse), (together_b, first_output)], epochs=20)
    for alone, together in ((alone_a, together_a), (alone_b, together_b)):
        for p, q in zip(alone.parameters(), together.parameters()):
            assert torch.allclose(p, q, atol=1e-6)
    assert not torch.allclose(next(alone_a.parameters()), next(networks()[0].parameters()))  # it did train


def test_boshnas_epistemic_sigma_is_on_the_scale_of_the_teacher_spread():
    import torch

    from surrogates.boshnas import BoshnasSurrogate

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(60, 6, generator=generator)
    y = x[:, 0] - 0.5 * x[:, 1] + 0.1 * torch.randn(60, generator=generator)
    probe = torch.cat([x, 3 * torch.randn(200, 6, generator=generator)])  # far points: larger spread
    torch.manual_seed(0)
    surrogate = BoshnasSurrogate(6)
    surrogate.fit(x, (y - y.mean()) / y.std(), probe)
    spread = surrogate.mc_spread(probe)
    with torch.no_grad():
        _, epistemic, _ = surrogate.parts(probe)
    # The student reproduces the spread itself, not a monotone transform of it.
    assert (epistemic - spread).abs().mean() < 0.25 * spread.mean()
    assert np.corrcoef(epistemic.numpy(), spread.numpy())[0, 1] > 0.8
