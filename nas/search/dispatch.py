"""The pool of Ray evaluator actors a job's candidates run on.

Each actor holds the job's supernet (or benchmark table) and has `SLOTS_PER_ACTOR` calls at a
time: one evaluating, one queued behind it, so it never waits for the coordinator's commits. A
call carries one candidate, or several when scoring is cheap (`candidates_per_call`): their
results come back together, and an actor scores them together where it can.
An actor gets candidates only once its `ready()` has answered, so one that dies is known to have
died starting up (nothing ran on it) or not, without guessing from how its replies arrived.
The pool knows nothing of the store: `wait` reports what happened and the coordinator records it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nas.store import CandidateRecord

logger = logging.getLogger(__name__)

SLOTS_PER_ACTOR = 2
SETTLE_S = 10.0  # the longest wait for a dead actor's other calls to settle (Ray settles them at once)


@dataclass
class Flight:
    """Candidates sent to an actor in one call."""

    candidates: list[CandidateRecord]
    slot: int  # index of the actor in the pool
    handle: Any  # the actor it was sent to (a replacement actor has a new handle)
    order: int  # dispatch order: an actor runs its calls first in, first out


@dataclass
class Evaluated:
    candidate: CandidateRecord
    metrics: dict[str, Any]
    seconds: float  # its share of the call's time inside the actor


@dataclass
class Raised:
    """The evaluation raised inside the actor; the actor lives on."""

    candidate: CandidateRecord
    reason: str


@dataclass
class Died:
    """The actor died. `running`: the candidate whose evaluation it died in, which counts an
    attempt; `released`: those that never started, or shared a call with others when it died
    (which of them killed it is unknown: each is sent alone from then on), none charged."""

    running: CandidateRecord | None
    released: list[CandidateRecord]
    reason: str


class EvaluatorsCannotStart(RuntimeError):
    """Evaluator actors keep dying while they start (a missing checkpoint, too little memory)."""


MAX_FAILED_STARTS = 3  # consecutive actor start-ups that fail before the job does


Outcome = Evaluated | Raised | Died


def one_line(exc: BaseException) -> str:
    """'Type: first line of the message': what a candidate's error keeps (Ray's own messages run
    to a traceback)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


class EvaluatorPool:
    def __init__(self, evaluator: type, settings: Mapping[str, Any], size: int, options: Mapping[str, Any] | None = None, start_at_once: int | None = None):
        """`size` actors of `evaluator(**settings)` (its constructor's keywords), each asking Ray for `options` (num_cpus,
        num_gpus, resources; default one CPU). At most `start_at_once` of them start at a time
        (None: all at once): an actor's start (imports, reading the supernet) is CPU-bound, so
        more of them starting than there are cores only delays the first one ready."""
        import ray

        self._remote = ray.remote(max_restarts=0, **(options or {"num_cpus": 1}))(evaluator)
        self._settings = dict(settings)
        self.size = size
        self.actors: list[Any] = [None] * size  # by slot; None until the slot's first actor starts
        self.starting: dict[Any, int] = {}  # the ref of an actor's `ready()` -> its slot, until it answers
        self.idle: list[int] = []  # one entry per free slot of a started actor
        self.in_flight: dict[Any, Flight] = {}
        self._alone: set[int] = set()  # candidate ids that shared a call with an actor's death
        self._order = itertools.count()
        self._failed_starts = 0
        self.broken: str | None = None  # why actors cannot start, once MAX_FAILED_STARTS in a row did not
        self.started: list[tuple[int, Any]] = []  # (slot, what its ready() answered: where it runs), for `take_started`
        self._unstarted = list(range(size))  # slots whose first actor waits for a turn to start
        self._start_at_once = max(1, start_at_once or size)
        self._start_next()

    def _start_next(self) -> None:
        while self._unstarted and len(self.starting) < self._start_at_once:
            self._start(self._unstarted.pop(0))

    def _start(self, slot: int) -> None:
        actor = self._remote.remote(**self._settings)
        self.actors[slot] = actor
        self.starting[actor.ready.remote()] = slot

    def _started(self, ref: Any) -> None:
        """The actor behind `ready()` ref `ref` answered: its slots take candidates. Or it died
        starting: replaced, until MAX_FAILED_STARTS in a row have."""
        import ray

        slot = self.starting.pop(ref)
        try:
            answer = ray.get(ref)
        except Exception as exc:  # its constructor raised, or its process died in it
            self._failed_starts += 1
            reason = one_line(exc)
            if self._failed_starts >= MAX_FAILED_STARTS:
                self.broken = f"{self._failed_starts} evaluator actors in a row died while starting: {reason}"
                return
            logger.warning("evaluator actor %d died while starting (%s); starting a replacement", slot, reason)
            self._start(slot)
            return
        self._failed_starts = 0
        self.started.append((slot, answer))
        self.idle.extend([slot] * SLOTS_PER_ACTOR)
        self._start_next()

    @property
    def slots(self) -> int:
        """Evaluations the pool runs at once, when all its actors are up."""
        return self.size * SLOTS_PER_ACTOR

    def take_started(self) -> list[tuple[int, Any]]:
        """The actors that finished starting since the last call, with their `ready()` answers."""
        started, self.started = self.started, []
        return started

    @property
    def busy(self) -> bool:
        """Something is under way: an evaluation, or an actor starting up."""
        return bool(self.in_flight or self.starting)

    def flying_ids(self) -> set[int]:
        return {c.id for f in self.in_flight.values() for c in f.candidates}

    def send(self, candidates: Sequence[CandidateRecord], measure_latency: bool = True) -> None:
        """Evaluate `candidates` in one call on the next idle slot (there must be one); without
        measuring their latency when a predictor gives it."""
        slot = self.idle.pop(0)
        ref = self.actors[slot].timed_many.remote([c.arch for c in candidates], measure_latency)
        self.in_flight[ref] = Flight(list(candidates), slot, self.actors[slot], next(self._order))

    def must_go_alone(self, candidate_id: int) -> bool:
        """The candidate was in a call whose actor died: it is sent alone until it has run."""
        return candidate_id in self._alone

    @property
    def in_flight_candidates(self) -> int:
        return sum(len(f.candidates) for f in self.in_flight.values())

    def wait(self, timeout: float) -> list[Outcome]:
        """What finished within `timeout` seconds (at least one result, unless time ran out or
        only actors finished starting)."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        ready, _ = ray.wait([*self.in_flight, *self.starting], num_returns=1, timeout=timeout)
        outcomes: list[Outcome] = []
        for ref in ready:
            if ref in self.starting:
                self._started(ref)
                continue
            if ref not in self.in_flight:  # settled with an earlier failure of its actor
                continue
            flight = self.in_flight.pop(ref)
            try:
                results, seconds = ray.get(ref)
            except RayActorError as exc:
                outcomes.extend(self._actor_died(flight, one_line(exc)))
                continue
            except RayTaskError as exc:
                logger.info("candidates %s raised in their actor: %s", [c.id for c in flight.candidates], one_line(exc))
                outcomes.extend(Raised(c, one_line(exc)) for c in flight.candidates)
            else:
                outcomes.extend(self._settled(flight, results, seconds))
            self.idle.append(flight.slot)
        return outcomes

    def _settled(self, flight: Flight, results: Sequence[dict[str, Any] | str], seconds: float) -> list[Outcome]:
        """A call's answer, one outcome per candidate (a string is why its evaluation failed)."""
        share = seconds / max(1, len(flight.candidates))
        outcomes: list[Outcome] = []
        for candidate, result in zip(flight.candidates, results, strict=True):
            self._alone.discard(candidate.id)
            outcomes.append(Raised(candidate, result) if isinstance(result, str) else Evaluated(candidate, result, share))
        return outcomes

    def _actor_died(self, flight: Flight, reason: str) -> list[Outcome]:
        """Everything sent to the dead actor, settled: what it finished before it died keeps its
        result (stored before the next call started); of the others, the earliest call sent was
        running: its candidate counts an attempt if it was alone, else all of its candidates are
        released to go alone (which one killed the actor is unknown); the calls behind it never
        started. The actor is replaced once."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        others = {ref: f for ref, f in self.in_flight.items() if f.handle is flight.handle}
        for ref in others:
            del self.in_flight[ref]
        # Every call to a dead actor settles soon, with its result or the actor's death: waited
        # for, so that a call that returned just before the death is not taken for the one running
        # (with quick calls, its result can arrive after the death is known).
        settled = set(ray.wait(list(others), num_returns=len(others), timeout=SETTLE_S)[0]) if others else set()
        outcomes: list[Outcome] = []
        unfinished = [flight]
        for ref, other in others.items():
            if ref not in settled:
                unfinished.append(other)
                continue
            try:
                results, seconds = ray.get(ref)
            except RayActorError:  # lost with the actor
                unfinished.append(other)
            except RayTaskError as exc:
                outcomes.extend(Raised(c, one_line(exc)) for c in other.candidates)
            else:
                outcomes.extend(self._settled(other, results, seconds))
        unfinished.sort(key=lambda f: f.order)
        if self.actors[flight.slot] is flight.handle:  # not replaced yet: its slots wait for the new one
            logger.warning("evaluator actor %d died (%s); starting a replacement", flight.slot, reason)
            self.idle = [slot for slot in self.idle if slot != flight.slot]
            self._start(flight.slot)
        running, *behind = unfinished
        released = [c for f in behind for c in f.candidates]
        if len(running.candidates) == 1:
            outcomes.append(Died(running.candidates[0], released, reason))
        else:
            self._alone.update(c.id for c in running.candidates)
            outcomes.append(Died(None, running.candidates + released, reason))
        return outcomes

    def evaluate_archs(self, archs: Sequence[Mapping[str, Any]], method: str = "evaluate", *args: Any) -> list[dict[str, Any] | str]:
        """`evaluate_as_completed`'s answers in the order of `archs`."""
        answers: list[dict[str, Any] | str] = ["not evaluated"] * len(archs)
        for index, answer in self.evaluate_as_completed(archs, method, *args):
            answers[index] = answer
        return answers

    def evaluate_as_completed(self, archs: Sequence[Mapping[str, Any]], method: str = "evaluate", *args: Any) -> Iterator[tuple[int, dict[str, Any] | str]]:
        """Architectures outside the search's loop (the plain family; the front's latencies; the
        rungs of successive halving), once no candidate is in flight: each passed to the actors'
        `method` (with `args`), one at a time per started actor, the next going to whichever
        finishes first; yields (index into `archs`, its answer or why it failed) as each finishes.
        Not retried: one that fails is left out; an actor that dies takes no more."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        assert not self.in_flight, "evaluate_as_completed runs after the search's evaluations"
        free = [actor for actor in self.actors if actor is not None]  # one still starting runs its first call once ready
        waiting = list(enumerate(archs))
        running: dict[Any, tuple[int, Any]] = {}
        while waiting or running:
            while free and waiting:
                index, arch = waiting.pop(0)
                actor = free.pop(0)
                running[getattr(actor, method).remote(dict(arch), *args)] = (index, actor)
            if not running:  # every actor has died
                for index, _ in waiting:
                    yield index, "no evaluator actor is running"
                return
            (ref,), _ = ray.wait(list(running), num_returns=1)
            index, actor = running.pop(ref)
            try:
                yield index, ray.get(ref)
                free.append(actor)
            except RayActorError as exc:
                yield index, one_line(exc)
            except RayTaskError as exc:
                free.append(actor)
                yield index, one_line(exc)

    def check(self) -> None:
        """EvaluatorsCannotStart once actors keep dying at start-up (after their candidates were
        handed back through `wait`)."""
        if self.broken is not None:
            raise EvaluatorsCannotStart(self.broken)

    def shutdown(self) -> None:
        import ray

        for actor in self.actors:
            if actor is not None:
                ray.kill(actor)
