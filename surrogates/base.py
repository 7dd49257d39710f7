"""The ask/tell interface every search strategy implements.

A strategy proposes architectures (`ask`) and learns from results (`tell`). It never proposes an
architecture already evaluated or pending. It searches an open space (new candidates are sampled)
or a finite pool (tabular replay). Its randomness is derived from (seed, what it has observed,
what is pending), not from a generator advanced by earlier calls: a fresh strategy that is told
the stored results of a job proposes exactly what the original would have, which is how a job
resumes after a crash.

The lifetime of a candidate, as a job runs it (`nas.search.coordinator` with its
`nas.search.proposals.Proposer`, the only caller once the job runs; one thread touches the
strategy, so a strategy needs no locking):

1. **Built fresh** when a coordinator starts or resumes the job, then **told** every stored
   result in candidate order (`tell`, one call per done candidate). Nothing else is replayed: a
   strategy's whole state is what it has been told, plus its seed.
2. **Asked** for the next candidates (`ask(n, pending)`) once the results it must know of are in
   (`Proposer.ready`), with `pending` = every candidate proposed but not told: those still being
   evaluated or queued, **and every candidate that failed**. A failed candidate is never told
   (it has no metrics to learn from) and stays pending for the rest of the job, so it is never
   proposed again. Model-based strategies also steer by it: BOSHNAS keeps its picks away from
   pending points, the BoTorch proposer passes them to its acquisition as `X_pending`.
3. The proposals are stored as candidates (`proposed`), evaluated on the job's actors
   (`running`), and each result is **told** (`tell(arch, metrics)`) before the first ask that
   may know it, in candidate order: `metrics` holds the objective's metric and every other metric
   the evaluator recorded (params, flops, latency_ms, ...), all floats.
4. `state_dict()` / `load_state_dict()` carry the same state (the told results) across processes;
   the service itself rebuilds from the store instead.

`ask` may return fewer than `n`: a finite pool with fewer free architectures, or an open space
where sampling under a constraint found fewer feasible ones. When it returns none and nothing is
being evaluated, the job's search ends there (event `exhausted`).
"""

from __future__ import annotations

import hashlib
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from search_spaces import Architecture, SearchSpace


@dataclass(frozen=True)
class Objective:
    metric: str = "accuracy"
    maximize: bool = True

    def score(self, metrics: dict[str, float]) -> float:
        """The metric as a value to maximise."""
        value = float(metrics[self.metric])
        return value if self.maximize else -value


class Strategy(ABC):
    name: str = "strategy"

    def __init__(
        self,
        space: SearchSpace,
        pool: Sequence[Architecture] | None = None,
        objective: Objective = Objective(),
        seed: int = 0,
        feasible: Callable[[Architecture], bool] | None = None,
    ):
        """`feasible`: a constraint known before evaluation (e.g. a parameter budget); infeasible
        architectures are left out of the pool and of sampled candidates."""
        self.space, self.objective, self.seed = space, objective, seed
        self.feasible = feasible or (lambda arch: True)
        self.constrained = feasible is not None
        self.pool = [a for a in {a.arch_id: a for a in pool}.values() if self.feasible(a)] if pool is not None else None
        self.observed: dict[str, tuple[Architecture, dict[str, float]]] = {}  # in the order told

    # ---- the interface ----
    def ask(self, n: int = 1, pending: Iterable[Architecture] = ()) -> list[Architecture]:
        """`n` distinct architectures, none evaluated or in `pending`."""
        if n < 1:
            raise ValueError(f"n: {n} must be >= 1")
        pending = list(pending)
        taken = set(self.observed) | {a.arch_id for a in pending}
        rng = self.rng("ask", *sorted(taken))
        proposals = self.propose(n, taken, pending, rng)
        if len(proposals) < n and self.pool is not None and len(proposals) < len(self.pool) - len(taken):
            raise RuntimeError(f"{self.name} proposed {len(proposals)} of {n} architectures")
        return proposals

    def tell(self, arch: Architecture, metrics: dict[str, float]) -> None:
        """One evaluated architecture's metrics (the objective's metric must be among them)."""
        if self.objective.metric not in metrics:
            raise ValueError(f"metrics: {self.objective.metric!r} missing; got {sorted(metrics)}")
        self.observed[arch.arch_id] = (arch, dict(metrics))
        self.update(arch, metrics)

    @abstractmethod
    def propose(self, n: int, taken: set[str], pending: list[Architecture], rng: random.Random) -> list[Architecture]:
        """Up to `n` distinct architectures whose ids are not in `taken` (the evaluated ones and
        `pending`, which model-based strategies also condition on)."""

    def update(self, arch: Architecture, metrics: dict[str, float]) -> None:
        """Hook for strategies that learn incrementally (most refit in `propose`)."""

    # ---- state ----
    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "observed": [{"arch": a.to_dict(), "metrics": m} for a, m in self.observed.values()]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replays the observations into this (fresh) strategy."""
        if state.get("name") != self.name:
            raise ValueError(f"state of strategy {state.get('name')!r} given to {self.name!r}")
        self.seed = state["seed"]
        self.observed.clear()
        for item in state["observed"]:
            self.tell(self.space.validate(item["arch"]), item["metrics"])

    # ---- helpers ----
    def rng(self, *where: Any) -> random.Random:
        digest = hashlib.sha256(":".join(map(str, (self.seed, len(self.observed), *where))).encode()).hexdigest()
        return random.Random(digest)

    def scores(self) -> list[tuple[Architecture, float]]:
        return [(a, self.objective.score(m)) for a, m in self.observed.values()]

    def fit_set(self, limit: int, rng: random.Random) -> list[tuple[Architecture, float]]:
        """At most `limit` scored observations for fitting a model: all of them, or the best half
        of the limit plus a random rest (exact models grow cubically; the best ones matter most)."""
        scored = self.scores()
        if len(scored) <= limit:
            return scored
        order = sorted(range(len(scored)), key=lambda i: -scored[i][1])
        keep = set(order[: limit // 2]) | set(rng.sample(order[limit // 2 :], limit - limit // 2))
        return [scored[i] for i in sorted(keep)]

    def candidate_pool(self, n: int, taken: set[str], rng: random.Random, mutants: float = 0.25) -> list[Architecture]:
        """What a model-based strategy scores: the free pool members, or for an open space up to
        `n` free architectures: mutants of the best observed ones (a `mutants` share) and the rest
        from a reservoir sampled once from the seed. The reservoir stays the same between asks, so
        the features of its members are computed once; the mutants search near what works."""
        if self.pool is not None:
            return [a for a in self.pool if a.arch_id not in taken]
        if len(getattr(self, "_reservoir", ())) < n:
            reservoir_rng = random.Random(f"{self.seed}:reservoir")
            if self.constrained:  # feasible members only, also where few are
                self._reservoir = self.sample_feasible(n, set(), reservoir_rng, max_tries=3)
            else:
                self._reservoir = [self.space.sample(reservoir_rng) for _ in range(n)]
        out: dict[str, Architecture] = {}
        parents = [a for a, _ in sorted(self.scores(), key=lambda item: -item[1])[:10]]
        for _ in range(int(n * mutants) if parents else 0):
            child = self.space.mutate(rng.choice(parents), rng)
            if child.arch_id not in taken:
                out.setdefault(child.arch_id, child)
        for arch in self._reservoir:
            if len(out) >= n:
                break
            if arch.arch_id not in taken:
                out.setdefault(arch.arch_id, arch)
        return [a for a in out.values() if self.feasible(a)]

    def fresh_random(self, n: int, taken: set[str], rng: random.Random, max_tries: int = 100) -> list[Architecture]:
        """Up to n random architectures not in `taken`: from the pool, or sampled from the space."""
        if self.pool is not None:
            free = [a for a in self.pool if a.arch_id not in taken]
            return rng.sample(free, min(n, len(free)))
        return self.sample_feasible(n, taken, rng, max_tries)

    def sample_feasible(self, n: int, taken: set[str], rng: random.Random, max_tries: int = 100) -> list[Architecture]:
        """Up to n distinct feasible architectures not in `taken`, sampled from the space (up to
        `max_tries` draws per architecture wanted). Under a constraint that few architectures meet
        (a params budget near the space's smallest models) plain draws find none, so the draws
        then move to the space cut ever closer to its smallest choices, where the cheapest lie."""
        spaces = [self.space] + ([self.space.narrowed(keep, largest=False) for keep in TOWARDS_SMALLEST] if self.constrained else [])
        out: dict[str, Architecture] = {}
        for space in spaces:
            tries = 0
            while len(out) < n and tries < max_tries * n:
                arch = space.sample(rng)
                tries += 1
                if arch.arch_id not in taken and self.feasible(arch):
                    out.setdefault(arch.arch_id, arch)
            if len(out) >= n:
                break
        return list(out.values())


# The shares of each ordered choice kept, smallest first, when feasible architectures are rare.
TOWARDS_SMALLEST = (0.5, 0.25, 0.0)


class ModelBasedStrategy(Strategy):
    """A strategy that fits a model to the results and scores candidates with it: random picks
    until `initial` results are in, then `pick` among `candidates` free architectures (all of them
    when there are no more than `n`)."""

    def __init__(self, space: SearchSpace, pool: Sequence[Architecture] | None = None, *, initial: int = 10, candidates: int = 1000, **common: Any):
        super().__init__(space, pool, **common)
        self.initial, self.candidates = initial, candidates

    def propose(self, n: int, taken: set[str], pending: list[Architecture], rng: random.Random) -> list[Architecture]:
        if len(self.observed) < self.initial:
            return self.fresh_random(n, taken, rng)
        free = self.scoring_candidates(taken, rng)
        return free if len(free) <= n else self.pick(n, free, pending, rng)

    def scoring_candidates(self, taken: set[str], rng: random.Random) -> list[Architecture]:
        return self.candidate_pool(self.candidates, taken, rng)

    @abstractmethod
    def pick(self, n: int, free: list[Architecture], pending: list[Architecture], rng: random.Random) -> list[Architecture]:
        """`n` of the `free` candidates (more than `n` of them), given the pending evaluations."""
