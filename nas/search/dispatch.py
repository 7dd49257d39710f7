"""The pool of Ray evaluator actors a job's candidates run on.

Each actor holds the job's supernet (or benchmark table) and has `SLOTS_PER_ACTOR` candidates
at a time: one evaluating, one queued behind it, so it never waits for the coordinator's commits.
The pool knows nothing of the store: `wait` reports what happened and the coordinator records it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nas.store import CandidateRecord

logger = logging.getLogger(__name__)

SLOTS_PER_ACTOR = 2


@dataclass
class Flight:
    """A candidate sent to an actor."""

    candidate: CandidateRecord
    slot: int  # index of the actor in the pool
    handle: Any  # the actor it was sent to (a replacement actor has a new handle)
    order: int  # dispatch order: an actor runs its candidates first in, first out


@dataclass
class Evaluated:
    flight: Flight
    metrics: dict[str, float]
    seconds: float


@dataclass
class Raised:
    """The evaluation raised inside the actor; the actor lives on."""

    flight: Flight
    reason: str


@dataclass
class Died:
    """The actor died: `running` had started and counts an attempt (None when the actor died
    while starting up: then nothing ran); `queued` never started."""

    running: Flight | None
    queued: list[Flight]
    reason: str


class EvaluatorsCannotStart(RuntimeError):
    """Evaluator actors keep dying while they start (a missing checkpoint, too little memory)."""


MAX_FAILED_STARTS = 3  # consecutive actor start-ups that fail before the job does
READY_REPLY_GRACE_S = 10.0


Outcome = Evaluated | Raised | Died


def one_line(exc: BaseException) -> str:
    """'Type: first line of the message': what a candidate's error keeps (Ray's own messages run
    to a traceback)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


class EvaluatorPool:
    def __init__(self, evaluator: type, args: Sequence[Any], size: int):
        import ray

        self._remote = ray.remote(num_cpus=1, max_restarts=0)(evaluator)
        self._args = tuple(args)
        self.actors: list[Any] = []
        self._ready: dict[int, Any] = {}  # slot -> the ref of its actor's `ready()`
        for slot in range(size):
            self._start(slot)
        self.idle: list[int] = list(range(size)) * SLOTS_PER_ACTOR
        self.in_flight: dict[Any, Flight] = {}
        self._order = itertools.count()
        self._failed_starts = 0
        self.broken: str | None = None  # why actors cannot start, once MAX_FAILED_STARTS in a row did not

    def _start(self, slot: int) -> None:
        actor = self._remote.remote(*self._args)
        if slot < len(self.actors):
            self.actors[slot] = actor
        else:
            self.actors.append(actor)
        self._ready[slot] = actor.ready.remote()  # runs first: actor tasks run in order

    def _died_starting(self, slot: int) -> bool:
        import ray

        try:
            # Not timeout=0: on a loaded machine the answer of `ready()` (sent before the task
            # that crashed the actor) can still be on its way, and an actor that died in its
            # first task read as one that never started. A dead actor's unanswered ref fails at once.
            ray.get(self._ready[slot], timeout=READY_REPLY_GRACE_S)
        except Exception:  # the actor's constructor never returned
            return True
        return False

    def flying_ids(self) -> set[int]:
        return {f.candidate.id for f in self.in_flight.values()}

    def send(self, candidate: CandidateRecord) -> None:
        """Evaluate `candidate` on the next idle slot (there must be one)."""
        slot = self.idle.pop(0)
        ref = self.actors[slot].timed.remote(candidate.arch)
        self.in_flight[ref] = Flight(candidate, slot, self.actors[slot], next(self._order))

    def wait(self, timeout: float) -> list[Outcome]:
        """What finished within `timeout` seconds (at least one result, unless time ran out)."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        ready, _ = ray.wait(list(self.in_flight), num_returns=1, timeout=timeout)
        outcomes: list[Outcome] = []
        for ref in ready:
            if ref not in self.in_flight:  # settled with an earlier failure of its actor
                continue
            flight = self.in_flight.pop(ref)
            try:
                metrics, seconds = ray.get(ref)
            except RayActorError as exc:
                outcomes.extend(self._actor_died(flight, one_line(exc)))
                continue
            except RayTaskError as exc:
                logger.info("candidate %d raised in its actor: %s", flight.candidate.id, one_line(exc))
                outcomes.append(Raised(flight, one_line(exc)))
            else:
                self._failed_starts = 0
                outcomes.append(Evaluated(flight, metrics, seconds))
            self.idle.append(flight.slot)
        return outcomes

    def _actor_died(self, flight: Flight, reason: str) -> list[Outcome]:
        """Everything sent to the dead actor, settled: what it finished before it died keeps its
        result (stored before the next candidate started); of the others, the earliest sent was
        running and counts an attempt, those behind it never started. The actor is replaced once."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        others = {ref: f for ref, f in self.in_flight.items() if f.handle is flight.handle}
        for ref in others:
            del self.in_flight[ref]
        outcomes: list[Outcome] = []
        unfinished = [flight]
        for ref, other in others.items():
            if not ray.wait([ref], timeout=0)[0]:
                unfinished.append(other)
                continue
            try:
                metrics, seconds = ray.get(ref)
            except RayActorError:  # lost with the actor
                unfinished.append(other)
            except RayTaskError as exc:
                outcomes.append(Raised(other, one_line(exc)))
            else:
                outcomes.append(Evaluated(other, metrics, seconds))
        unfinished.sort(key=lambda f: f.order)
        starting = self.actors[flight.slot] is flight.handle and self._died_starting(flight.slot)
        if starting:  # it died in __init__: none of its candidates ran, none loses an attempt
            self._failed_starts += 1
            if self._failed_starts >= MAX_FAILED_STARTS:
                self.broken = f"{self._failed_starts} evaluator actors in a row died while starting: {reason}"
        if self.actors[flight.slot] is flight.handle and self.broken is None:
            logger.warning("evaluator actor %d died%s (%s); starting a replacement", flight.slot, " while starting" if starting else "", reason)
            self._start(flight.slot)
        self.idle.extend(f.slot for f in [flight, *others.values()])
        outcomes.append(Died(None, unfinished, reason) if starting else Died(unfinished[0], unfinished[1:], reason))
        return outcomes

    def check(self) -> None:
        """EvaluatorsCannotStart once actors keep dying at start-up (after their candidates were
        handed back through `wait`)."""
        if self.broken is not None:
            raise EvaluatorsCannotStart(self.broken)

    def shutdown(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)
