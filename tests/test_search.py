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
from search_spaces import Architecture, get_space
from surrogates.registry import STRATEGY_NAMES
from surrogates.tabular import NAS_BENCH_BERT_TASK, NasBenchBertTable
from tests.helpers import benchmark_spec, poll


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


def test_a_heartbeat_that_breaks_stops_the_job_instead_of_retrying(tmp_path, monkeypatch, caplog) -> None:
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    store.create_job({}, "j")
    claim = store.claim_job("w1").claim
    calls = []

    def broken(job_id: int, worker: str, epoch: int | None = None) -> bool:  # a fault of ours, not the database's
        calls.append(job_id)
        raise TypeError("heartbeat() got an unexpected keyword argument")

    monkeypatch.setattr(store, "heartbeat", broken)
    beat = Heartbeat(store, claim, interval=0.01)
    with caplog.at_level(logging.ERROR, logger="nas"):
        beat.start()
        poll(beat.lost.is_set, 60, "the heartbeat to give up")
    assert isinstance(beat.broken, TypeError) and len(calls) == 1
    assert any("heartbeat broke" in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_process_on_one_ray_cluster_refuses_to_join_another(ray_address: str) -> None:
    from nas.search.cluster import RayUnavailable, init_ray

    init_ray(ray_address)  # the cluster it is on: nothing changes
    init_ray(None)
    with pytest.raises(RayUnavailable, match=r"already connected to the Ray cluster at .*cannot join 127\.0\.0\.1:1 as well"):
        init_ray("127.0.0.1:1")


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


def test_the_proposer_asks_in_the_background_and_tells_results_in_candidate_order() -> None:
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
    proposer = Proposer(strategy, lag=2)
    try:
        assert proposer.ask(1, remaining=10, pending=[]) == 2  # the first `lag` candidates, knowing nothing
        assert proposer.asking and proposer.take() is None  # under way: nothing yet, and no wait
        first, second = space.sample(random.Random(1)), space.sample(random.Random(2))
        proposer.tell(2, second, {"accuracy": 0.6})  # results in any order; neither waits for the ask
        proposer.tell(1, first, {"accuracy": 0.5})
        assert not strategy.observed
        release.set()
        proposed = proposer.take(timeout=30)
        assert proposed is not None and len(proposed) == 2 and not proposer.asking
        assert not proposer.ready(4, finished_through=1)  # candidate 4 must know candidate 2's result
        assert proposer.ready(3, finished_through=1)
        assert proposer.ask(3, remaining=8, pending=proposed) == 1
        third = proposer.take(timeout=30)
        # Candidate 3 was asked knowing candidate 1 only, though candidate 2's result had come too.
        assert list(strategy.observed) == [first.arch_id] and len(third) == 1
        proposer.ask(4, remaining=7, pending=[*proposed[1:], *third])
        proposer.take(timeout=30)
        assert list(strategy.observed) == [first.arch_id, second.arch_id]
        assert proposer.ask(5, remaining=0, pending=[]) == 0 and not proposer.asking  # no budget left: no ask
    finally:
        release.set()
        proposer.close()


def test_proposals_do_not_depend_on_the_order_results_arrive_in() -> None:
    """Two runs of one seeded strategy whose evaluations finish in different orders propose the
    same candidates, in the same order."""
    from nas.search.proposals import Proposer, known_before

    space = get_space("flexibert", "nas-bench-bert")
    table = NasBenchBertTable()

    def run(finish_order: random.Random) -> list[str]:
        proposer = Proposer(make_strategy(parse_spec(benchmark_spec()), space, NAS_BENCH_BERT_TASK, table.pool), lag=4)
        archs: dict[int, Architecture] = {}
        unfinished: set[int] = set()
        try:
            while len(archs) < 24:
                next_seq = len(archs) + 1
                while not proposer.ready(next_seq, min(unfinished, default=next_seq) - 1):
                    seq = finish_order.choice(sorted(unfinished))  # any unfinished candidate may finish next
                    unfinished.discard(seq)
                    proposer.tell(seq, archs[seq], table.evaluate(archs[seq]))
                through = known_before(next_seq, proposer.lag)
                proposer.ask(next_seq, remaining=24 - len(archs), pending=[a for seq, a in archs.items() if seq > through])
                for arch in proposer.take(timeout=60) or []:
                    archs[len(archs) + 1] = arch
                    unfinished.add(len(archs))
        finally:
            proposer.close()
        return [a.arch_id for a in archs.values()]

    assert run(random.Random(1)) == run(random.Random(2))
