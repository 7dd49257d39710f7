"""Asking the strategy ahead of need, in a thread of its own.

A strategy's `ask` can take longer than an evaluation (BOSHNAS fits its surrogate on every ask:
about 1 s against 6 ms per benchmark-mode evaluation). Asked inside the dispatch loop, the
actors would idle while it runs. The Proposer asks in the background while evaluations run, so
that when an actor frees up its next candidate is already stored; results reach the strategy
before its next ask. Only the proposer's thread touches the strategy once the job is running.
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


class Proposer:
    def __init__(self, strategy: Strategy):
        self.strategy = strategy
        self._told: list[tuple[Architecture, dict[str, float]]] = []
        self._told_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="proposer")
        self._asking: Future[list[Architecture]] | None = None

    @property
    def space(self) -> Any:
        return self.strategy.space

    @property
    def asking(self) -> bool:
        return self._asking is not None

    def tell(self, arch: Architecture, metrics: dict[str, float]) -> None:
        """A result, for the strategy before its next ask (never blocks on an ask in progress)."""
        with self._told_lock:
            self._told.append((arch, metrics))

    def ask(self, n: int, pending: Sequence[Architecture]) -> None:
        """Start asking for `n` proposals (`pending`: what is evaluating or queued), unless an
        ask is already under way; `take` collects them."""
        if self._asking is None:
            self._asking = self._executor.submit(self._ask, n, list(pending))

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

    def _ask(self, n: int, pending: list[Architecture]) -> list[Architecture]:
        with self._told_lock:
            told, self._told = self._told, []
        for arch, metrics in told:
            self.strategy.tell(arch, metrics)
        started = time.perf_counter()
        proposed = self.strategy.ask(n, pending=pending)
        logger.debug("proposer: %d asked, %d proposed in %.3f s", n, len(proposed), time.perf_counter() - started)
        return proposed
