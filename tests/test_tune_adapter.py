"""Our strategies drive a real (local) Ray Tune experiment through the Searcher adapter."""

from __future__ import annotations

from ray import tune

from surrogates.baselines import RegularizedEvolution
from surrogates.tabular import NasBenchBertTable
from surrogates.tune_adapter import StrategySearcher


def test_tune_runs_trials_proposed_by_the_strategy(nas_bench_bert_path, tmp_path, ray_address):
    table = NasBenchBertTable(nas_bench_bert_path)
    strategy = RegularizedEvolution(table.space, pool=table.pool, seed=0, population=4, sample_size=2)
    searcher = StrategySearcher(strategy, max_concurrent=2)

    def trainable(config, table):
        return table.evaluate(table.space.validate(config["arch"]))  # the trial's final result

    # The table travels once through the object store; reused actors skip a worker start per trial.
    tuner = tune.Tuner(
        tune.with_parameters(trainable, table=table),
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=8, metric="accuracy", mode="max", reuse_actors=True, max_concurrent_trials=2),
        run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0),
    )
    results = tuner.fit()
    assert len(results) == 8 and not results.errors
    ids = [r.config["arch_id"] for r in results]
    assert len(set(ids)) == 8  # never the same arch twice
    assert set(ids) == set(strategy.observed)  # every result reached the strategy
    best = results.get_best_result()
    assert best.metrics["accuracy"] == max(table.glue[i] for i in ids)
    state = searcher.get_state()
    restored = StrategySearcher(RegularizedEvolution(table.space, pool=table.pool, seed=0, population=4, sample_size=2))
    restored.set_state(state)
    assert set(restored.strategy.observed) == set(strategy.observed)
