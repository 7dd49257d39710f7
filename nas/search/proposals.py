"""Asking the strategy ahead of need, in a thread of its own, in an order that does not depend on
timing.

A strategy's `ask` can take longer than an evaluation (BOSHNAS fits its surrogate on every ask:
about 1 s against 6 ms per benchmark-mode evaluation). Asked inside the dispatch loop, the
actors would idle while it runs. The Proposer asks in the background while evaluations run, so
that when an actor frees up its next candidate is already stored. Only the proposer's thread
touches the strategy once the job is running.

Reproducibility: what the strategy proposes depends on what it was told and in which order, so
neither may depend on when results arrive. The proposal for candidate n (its number in the job)
is asked once candidates 1 … n − lag have finished, after telling the strategy exactly their
results, in candidate order; the candidates after those are `pending`. `lag` is how many
candidates the job keeps evaluating or queued (two calls per evaluator, each of `per_ask`
candidates), so one evaluator never waits for a proposal while its queued call runs. The first
`lag` candidates are asked together, knowing nothing; every later ask is for `per_ask`
candidates (one call's worth), which know the same results. With the same spec, seed and evaluator
count, a job proposes the same candidates in the same order on any machine, under any load
(results that are measured, such as latency, can still differ between runs).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from search_spaces import Architecture
from surrogates.base import Strategy

logger = logging.getLogger(__name__)


def known_before(seq: int, lag: int) -> int:
    """The last candidate whose result the strategy knows when candidate `seq` is proposed (0: none)."""
    return max(0, seq - lag)


def batch_from(seq: int, lag: int, per_ask: int = 1) -> int:
    """How many candidates one ask proposes, from candidate `seq` on: those that know the same
    results (the first `lag` know none, then `per_ask` at a time), so that batches do not depend
    on timing either."""
    return lag - seq + 1 if seq <= lag else per_ask


class Proposer:
    def __init__(self, strategy: Strategy, lag: int, per_ask: int = 1):
        if lag < 1 or per_ask < 1:
            raise ValueError(f"lag: {lag} and per_ask: {per_ask} must be >= 1")
        self.strategy, self.lag, self.per_ask = strategy, lag, per_ask
        self._results: dict[int, tuple[Architecture, dict[str, float]]] = {}  # by candidate number, until told
        self._told_through = 0  # the strategy knows the results of candidates up to this one
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="proposer")
        self._asking: Future[list[Architecture]] | None = None

    @property
    def space(self) -> Any:
        return self.strategy.space

    @property
    def asking(self) -> bool:
        return self._asking is not None

    def tell(self, seq: int, arch: Architecture, metrics: dict[str, float]) -> None:
        """Candidate `seq`'s result: told to the strategy before the first ask that may know it
        (never blocks on an ask in progress). A failed candidate is never told: it stays pending."""
        with self._lock:
            if seq <= self._told_through:  # cannot happen while asks wait for `ready`; told at the next ask
                logger.warning("proposer: candidate %d's result came after an ask that should have known it", seq)
            self._results[seq] = (arch, metrics)

    def ready(self, next_seq: int, finished_through: int) -> bool:
        """Whether candidate `next_seq` may be asked for now: every candidate it must know of
        (up to `known_before`) has finished (`finished_through`: the last candidate up to which
        all have)."""
        return known_before(next_seq, self.lag) <= finished_through

    def ask(self, next_seq: int, remaining: int, pending: Sequence[Architecture]) -> int:
        """Start asking for the candidates from `next_seq` on (at most `remaining`), unless an ask
        is under way; `take` collects them. `pending`: the archs of the job's candidates after
        `known_before(next_seq)` and of those that failed. Returns how many were asked."""
        if self._asking is not None:
            return 0
        n = min(batch_from(next_seq, self.lag, self.per_ask), remaining)
        if n > 0:
            self._asking = self._executor.submit(self._ask, n, known_before(next_seq, self.lag), list(pending))
        return max(n, 0)

    def take(self, timeout: float = 0.0) -> list[Architecture] | None:
        """The proposals of the last ask once it has finished (within `timeout` seconds), else
        None. An ask that raised re-raises here."""
        if self._asking is None:
            return None
        try:
            proposed = self._asking.result(timeout=timeout)
        except FutureTimeout:
            return None
        finally:
            if self._asking is not None and self._asking.done():
                self._asking = None
        return proposed

    def wait(self, timeout: float | None) -> None:
        """Until the ask under way finishes, or `timeout` seconds."""
        if self._asking is not None:
            try:
                self._asking.exception(timeout=timeout)
            except FutureTimeout:
                pass

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _ask(self, n: int, through: int, pending: list[Architecture]) -> list[Architecture]:
        with self._lock:
            due = sorted(seq for seq in self._results if seq <= through)
            told = [self._results.pop(seq) for seq in due]
            self._told_through = max(self._told_through, through)
        for arch, metrics in told:
            self.strategy.tell(arch, metrics)
        started = time.perf_counter()
        proposed = self.strategy.ask(n, pending=pending)
        logger.debug("proposer: %d asked knowing candidates up to %d, %d proposed in %.3f s", n, through, len(proposed), time.perf_counter() - started)
        return proposed
