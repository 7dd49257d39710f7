"""Our strategies as a Ray Tune `Searcher`: Tune runs the trials, the strategy picks the
architectures. A trial's config is {"arch": <arch JSON>, "arch_id": ...}; the trainable reports
the strategy's objective metric. Searcher state (observations and running trials) is saved and
restored, so a restored Tune experiment keeps what the strategy learned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ray.tune.search import Searcher

from search_spaces import Architecture
from surrogates.base import Strategy


class StrategySearcher(Searcher):
    def __init__(self, strategy: Strategy, max_concurrent: int | None = None):
        objective = strategy.objective
        super().__init__(metric=objective.metric, mode="max" if objective.maximize else "min")
        self.strategy = strategy
        self.max_concurrent = max_concurrent
        self.running: dict[str, Architecture] = {}

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.max_concurrent is not None and len(self.running) >= self.max_concurrent:
            return None
        proposals = self.strategy.ask(1, pending=list(self.running.values()))
        if not proposals:
            return Searcher.FINISHED  # a finite pool is exhausted
        arch = proposals[0]
        self.running[trial_id] = arch
        return {"arch": arch.to_dict(), "arch_id": arch.arch_id}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        arch = self.running.pop(trial_id, None)
        if arch is None or error or not result or self.strategy.objective.metric not in result:
            return  # a failed trial teaches nothing; its arch may be proposed again
        metrics = {k: float(v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        self.strategy.tell(arch, metrics)

    def get_state(self) -> dict[str, Any]:
        return {"strategy": self.strategy.state_dict(), "running": {t: a.to_dict() for t, a in self.running.items()}}

    def set_state(self, state: dict[str, Any]) -> None:
        self.strategy.load_state_dict(state["strategy"])
        self.running = {t: self.strategy.space.validate(a) for t, a in state["running"].items()}

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(json.dumps(self.get_state()))

    def restore(self, checkpoint_path: str) -> None:
        self.set_state(json.loads(Path(checkpoint_path).read_text()))
