"""Successive halving between the search and the verified stage (the job's `rungs` section).

Inherited-weight scores rank architectures worse than one standalone training does; a short
training from the inherited weights corrects much of that at a fraction of a full training's cost.
Once the search has scored every candidate (rung 0), the best 1/eta of the feasible ones by the
job's objectives (`nas.results.promotion`: non-dominated rank, then hypervolume contribution, with
each candidate's accuracy at the rung below) are scored at rung 1, the best 1/eta of those at rung
2, and the verified stage picks from the highest rung. Rungs are synchronous: a rung is chosen once
the rung below is complete, so the choice depends on the stored results only and a resumed job
chooses the same candidates and scores only those it had not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas.job.metrics import ACCURACY
from nas.job.schema import JobSpec, RungsSpec
from nas.results.promotion import promotion_order
from nas.search.references import over_limits
from nas.store import CandidateRecord, CandidateStatus, Claim, EventKind, RungScoreRecord, Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rung:
    """One fidelity above the inherited score: a fine-tune of `finetune_steps` steps from the
    inherited weights (scored on the job's scoring sample), or a standalone training of
    `train_epochs` epochs on the whole training split (its best epoch's whole-validation
    accuracy)."""

    number: int  # 1, 2, ...
    finetune_steps: int = 0
    train_epochs: int = 0
    lr: float = 1e-3  # of the standalone training

    def __post_init__(self) -> None:
        if (self.finetune_steps > 0) == (self.train_epochs > 0):
            raise ValueError(f"rung {self.number}: exactly one of finetune_steps and train_epochs is positive")

    @property
    def fidelity(self) -> str:
        """How the rung scores, for people and the store."""
        if self.finetune_steps:
            return f"fine-tuned {self.finetune_steps} steps"
        return f"trained {self.train_epochs} epoch{'s' * (self.train_epochs != 1)}"


def rungs_of(spec: RungsSpec) -> list[Rung]:
    """The section's rungs in order, numbered from 1 (a rung of 0 steps or epochs is left out)."""
    rungs: list[Rung] = []
    if spec.finetune_steps:
        rungs.append(Rung(len(rungs) + 1, finetune_steps=spec.finetune_steps))
    if spec.train_epochs:
        rungs.append(Rung(len(rungs) + 1, train_epochs=spec.train_epochs, lr=spec.lr))
    return rungs


def rung_size(below: int, eta: int, at_least: int) -> int:
    """How many of the `below` candidates of a rung the next one scores: 1/eta of them, but at
    least `at_least` (the verified stage's top_k, so that it can pick its k from the top rung)."""
    return min(below, max(below // eta, at_least))


def rung_states(spec: RungsSpec, scores: Sequence[RungScoreRecord]) -> list[dict[str, Any]]:
    """Each rung of the section as a job's summary shows it: what it does, how many candidates it
    has scored and how many failed, its best accuracy and the evaluator seconds it took."""
    states = []
    for rung in rungs_of(spec):
        mine = [s for s in scores if s.rung == rung.number]
        accuracies = [s.accuracy for s in mine if s.accuracy is not None]
        states.append({
            "rung": rung.number, "fidelity": rung.fidelity, "scored": len(accuracies), "failed": len(mine) - len(accuracies),
            "best_accuracy": max(accuracies) if accuracies else None, "seconds": sum(s.seconds for s in mine),
        })  # fmt: skip
    return states


# What scores a rung: (the architectures, the rung) -> (index into them, metrics or why it failed)
# as each finishes (EvaluatorPool.evaluate_as_completed with the actors' `rung_score`).
RungScorer = Callable[[Sequence[dict[str, Any]], Rung], Iterator[tuple[int, dict[str, Any] | str]]]


class SuccessiveHalving:
    """The job's rungs above rung 0, run once the search has finished."""

    def __init__(self, store: Store, job_id: int, claim: Claim | None, spec: JobSpec):
        assert spec.rungs is not None
        self.store, self.job_id, self.claim, self.spec = store, job_id, claim, spec
        self.rungs = rungs_of(spec.rungs)
        self.eta = spec.rungs.eta
        self.at_least = spec.verify.top_k if spec.verify is not None else 1

    def run(self, score: RungScorer, should_stop: Callable[[], bool], budget_spent: Callable[[], bool] = lambda: False) -> bool:
        """Score every rung in turn; False if `should_stop` said so before the last was done
        (what was scored is stored). Once `budget_spent()` (`budget.cpu_minutes`), no more is
        scored and the halving ends there, done: the verified stage picks from what it has."""
        for rung in self.rungs:
            if budget_spent() or not self._run_rung(rung, score, lambda: should_stop() or budget_spent()):
                if should_stop():
                    return False
                self._budget_spent(rung)
                return True
        return True

    def _budget_spent(self, rung: Rung) -> None:
        assert self.spec.rungs is not None
        state = next(s for s in rung_states(self.spec.rungs, self.store.rung_scores(self.job_id)) if s["rung"] == rung.number)
        message = f"cpu_minutes={self.spec.budget.cpu_minutes} spent at rung {rung.number} ({rung.fidelity}) after {state['scored']} of its candidates; the verified stage picks from the highest rung scored"
        self.store.add_event(self.job_id, EventKind.TIME_BUDGET, message, {"limit": "cpu_minutes", "rung": rung.number, "scored": state["scored"]})
        logger.info("job %d: %s", self.job_id, message)

    def _run_rung(self, rung: Rung, score: RungScorer, should_stop: Callable[[], bool]) -> bool:
        below = self._ranked_below(rung.number)
        chosen = below[: rung_size(len(below), self.eta, self.at_least)]
        done = {s.candidate_id for s in self.store.rung_scores(self.job_id) if s.rung == rung.number}
        todo = [c for c in chosen if c.id not in done]
        if not chosen:
            self.store.add_event(self.job_id, EventKind.RUNG_DONE, f"rung {rung.number} ({rung.fidelity}): no candidate to promote", {"rung": rung.number, "scored": 0})
            return True
        if todo:
            resumed = f" ({len(chosen) - len(todo)} scored before a restart)" if len(todo) < len(chosen) else ""
            message = f"rung {rung.number}: the best {len(chosen)} of {len(below)} candidates are {rung.fidelity} and scored again{resumed}"
            self.store.add_event(self.job_id, EventKind.RUNG_STARTED, message, {"rung": rung.number, "fidelity": rung.fidelity, "chosen": [c.seq for c in chosen], "of": len(below)})
            logger.info("job %d: %s", self.job_id, message)
        started = time.perf_counter()
        for index, answer in score([c.arch for c in todo], rung):
            candidate = todo[index]
            if isinstance(answer, str):
                logger.warning("job %d: candidate %d failed at rung %d: %s", self.job_id, candidate.seq, rung.number, answer)
                self.store.record_rung_score(candidate.id, rung.number, rung.fidelity, None, 0.0, error=answer, claim=self.claim)
            else:
                self.store.record_rung_score(candidate.id, rung.number, rung.fidelity, float(answer["accuracy"]), float(answer["seconds"]), claim=self.claim)
            if should_stop():
                return False
        assert self.spec.rungs is not None
        state = next(s for s in rung_states(self.spec.rungs, self.store.rung_scores(self.job_id)) if s["rung"] == rung.number)
        best = f"; best {ACCURACY.format(state['best_accuracy'])}" if state["best_accuracy"] is not None else ""
        failures = f"; {state['failed']} failed" if state["failed"] else ""
        message = f"rung {rung.number} ({rung.fidelity}): {state['scored']} candidates scored in {state['seconds']:.0f} s of evaluator time{best}{failures}"
        figures = {k: state[k] for k in ("rung", "scored", "failed", "seconds")}
        self.store.add_event(self.job_id, EventKind.RUNG_DONE, message, {**figures, "wall_seconds": time.perf_counter() - started})
        logger.info("job %d: %s", self.job_id, message)
        return True

    def _ranked_below(self, number: int) -> list[CandidateRecord]:
        """The feasible candidates with a result at rung `number - 1` (rung 0: the search's),
        best first for promotion: by the job's objectives with the accuracy of that rung."""
        candidates = self.store.candidates(self.job_id, CandidateStatus.DONE)
        accuracy = {c.id: c.metrics.get("accuracy") for c in candidates}
        if number > 1:
            accuracy = {s.candidate_id: s.accuracy for s in self.store.rung_scores(self.job_id) if s.rung == number - 1}
        pairs = self.spec.pareto_objectives()
        # As the service's front: a candidate must have every objective and every limited metric.
        needed = [name for name, _ in pairs] + list(self.spec.constraints.limits())
        rows: list[tuple[CandidateRecord, list[float]]] = []
        for candidate in candidates:
            metrics = {**candidate.metrics, "accuracy": accuracy.get(candidate.id)}
            if any(metrics.get(name) is None for name in needed) or over_limits(metrics, self.spec.constraints):
                continue
            rows.append((candidate, [float(metrics[name]) for name, _ in pairs]))
        if not rows:
            return []
        order = promotion_order(np.array([values for _, values in rows]), [up for _, up in pairs])
        return [rows[i][0] for i in order]
