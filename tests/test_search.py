"""The search package's parts on their own: the strategy registry, the heartbeat, the loader file."""

from __future__ import annotations

import ast
import logging
import random
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from nas.job.parse import parse_spec
from nas.search.heartbeat import Heartbeat
from nas.search.strategies import make_strategy
from nas.store import Store
from search_spaces import get_space
from surrogates.registry import STRATEGY_NAMES
from surrogates.tabular import NAS_BENCH_BERT_TASK, NasBenchBertTable
from tests.helpers import poll


@pytest.fixture(scope="module")
def table() -> NasBenchBertTable:
    return NasBenchBertTable()


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_every_registered_strategy_builds_from_a_spec_and_proposes(name: str, table: NasBenchBertTable) -> None:
    spec = parse_spec({"name": "s", "space": "flexibert", "task": "nas-bench-bert", "strategy": name, "objectives": [{"metric": "accuracy"}, {"metric": "params"}]})
    strategy = make_strategy(spec, table.space, NAS_BENCH_BERT_TASK, table.pool)
    asked = strategy.ask(3)
    pool_ids = {a.arch_id for a in table.pool}
    assert len({a.arch_id for a in asked}) == 3 and all(a.arch_id in pool_ids for a in asked)


def test_heartbeat_logs_a_failed_beat_and_keeps_beating(tmp_path, monkeypatch, caplog) -> None:
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    store.create_job({}, "j")
    claim = store.claim_job("w1").claim
    real_beat, calls = store.heartbeat, []

    def flaky(job_id: int, worker: str, epoch: int | None = None) -> bool:  # the database drops the first beat
        calls.append(job_id)
        if len(calls) == 1:
            raise OperationalError("UPDATE jobs", {}, Exception("database is locked"))
        return real_beat(job_id, worker, epoch)

    monkeypatch.setattr(store, "heartbeat", flaky)
    beat = Heartbeat(store, claim, interval=0.01)
    with caplog.at_level(logging.WARNING, logger="nas"):
        beat.start()
        poll(lambda: len(calls) >= 3, 60, "two beats after the failed one")
        beat.stop.set()
    assert not beat.lost.is_set()
    assert any("heartbeat failed" in r.getMessage() and r.exc_info for r in caplog.records)


def test_the_export_loader_is_a_standalone_module() -> None:
    from nas.export import loader
    from nas.export.exporter import LOADER_FILE

    assert LOADER_FILE.is_file() and LOADER_FILE.resolve() == Path(loader.__file__).resolve()
    imported = {n.module if isinstance(n, ast.ImportFrom) else a.name for n in ast.walk(ast.parse(LOADER_FILE.read_text())) if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}
    assert not any(str(name).startswith("nas") for name in imported)  # runs where the service is not installed
    assert callable(loader.load) and callable(loader.main)


@pytest.mark.parametrize("strategy", ["random", "boshnas"])
def test_a_tight_params_budget_still_gets_feasible_proposals(strategy: str) -> None:
    # Under 1 M parameters on Fashion-MNIST the space's smallest models are rare: about one plain
    # draw in a few hundred meets the budget, yet the strategies propose only architectures that do.
    from nas.tasks.catalog import BUILTIN_TASKS
    from surrogates.base import Objective
    from surrogates.registry import StrategyRequest, build_strategy

    space, shape, limit = get_space("vit-resnas"), BUILTIN_TASKS["fashion-mnist"], 1_000_000
    rng = random.Random(0)
    assert sum(space.cost(space.sample(rng), shape).params <= limit for _ in range(300)) <= 3
    chosen = build_strategy(strategy, StrategyRequest(space, [Objective()], seed=0, task=shape, feasible=lambda a: space.cost(a, shape).params <= limit))
    for _ in range(12):  # past BOSHNAS's random start, into its model-based picks
        (arch,) = chosen.ask(1)
        params = space.cost(arch, shape).params
        assert params <= limit, params
        chosen.tell(arch, {"accuracy": 1 - params / 2e6, "params": params})


def test_the_proposer_asks_in_the_background_and_tells_before_the_next_ask() -> None:
    import threading

    from nas.search.proposals import Proposer
    from surrogates.baselines import RandomSearch

    release = threading.Event()

    class HeldRandomSearch(RandomSearch):  # an ask that takes as long as the test says
        def propose(self, n, taken, pending, rng):
            release.wait(timeout=30)
            return super().propose(n, taken, pending, rng)

    space = get_space("flexibert", "nas-bench-bert")
    strategy = HeldRandomSearch(space, seed=0)
    proposer = Proposer(strategy)
    try:
        proposer.ask(3, pending=[])
        assert proposer.asking and proposer.take() is None  # under way: nothing yet, and no wait
        first = space.sample(random.Random(1))
        proposer.tell(first, {"accuracy": 0.5})  # does not wait for the ask
        assert first.arch_id not in strategy.observed
        release.set()
        proposed = proposer.take(timeout=30)
        assert proposed is not None and len(proposed) == 3 and not proposer.asking
        proposer.ask(2, pending=proposed)
        again = proposer.take(timeout=30)
        # The result told during the first ask reached the strategy before the second.
        assert first.arch_id in strategy.observed and len(again) == 2
        assert not {a.arch_id for a in again} & {a.arch_id for a in proposed}
    finally:
        release.set()
        proposer.close()
