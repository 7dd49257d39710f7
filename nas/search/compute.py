"""A job's compute in CPU-minutes, and the `budget.cpu_minutes` limit that spends it.

A stage's CPU-minutes are the CPUs it holds times the wall minutes it holds them, the way a
cluster bills them: the supernet's training task (`resources.supernet.cpus`) from its first start
to its last checkpoint; the search's evaluator actors (their count times
`resources.evaluator.cpus`) from the supernet's end (or the job's start, when it reused one) to
the next stage; successive halving on the same actors; the verified stage's trainings (each
trial's seconds times `resources.verify.cpus`: its trials may wait for CPUs, and waiting costs
nothing). Restarts count: a stage's span includes the time its job waited for a new coordinator.

`budget.cpu_minutes` bounds every stage before the verified one (whose cost `verify` sets: its
candidates, seeds and epochs). The supernet trains to its end; the search then stops where what
is left is spent, or with `rungs`, where RUNGS_SHARE of it is left for them; the rungs stop where
the rest is spent, and the verified stage picks from what they scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from nas.job.schema import JobSpec
from nas.store import EventKind, EventRecord, TrainingRecord

# With rungs, the share of the budget left after the supernet that the search leaves to them: the
# rungs measured on digits cost about a tenth of an 8-minute job (docs/benchmarks/results.md), a
# quarter leaves them room for larger eta or longer fidelities.
RUNGS_SHARE = 0.25

# What ends the search stage (the first of these after it began) and the rungs.
_AFTER_SEARCH = (EventKind.RUNG_STARTED, EventKind.REFERENCES_SCORED, EventKind.VERIFY_STARTED, EventKind.FINISHED, EventKind.CANCELLED)
_AFTER_RUNGS = _AFTER_SEARCH[1:]


@dataclass(frozen=True)
class StageCompute:
    """The CPU time one stage of a job held."""

    stage: str  # supernet | search | rungs | verify
    cpus: float  # held at once (verify: per trial)
    minutes: float  # wall minutes held (verify: the trials' minutes, summed)
    running: bool = False  # the stage has not ended yet

    @property
    def cpu_minutes(self) -> float:
        return self.cpus * self.minutes

    def to_dict(self) -> dict[str, object]:
        return {"stage": self.stage, "cpus": self.cpus, "minutes": self.minutes, "cpu_minutes": self.cpu_minutes, "running": self.running}


def search_cpus(spec: JobSpec, evaluators: int) -> float:
    return evaluators * spec.resources.evaluator.cpus


def _first(events: Sequence[EventRecord], kinds: Sequence[str], after: datetime | None = None) -> EventRecord | None:
    return next((e for e in events if e.kind in kinds and (after is None or e.at >= after)), None)


def _last(events: Sequence[EventRecord], kind: str) -> EventRecord | None:
    return next((e for e in reversed(events) if e.kind == kind), None)


def _minutes(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 60)


def search_began(events: Sequence[EventRecord], started_at: datetime | None) -> datetime | None:
    """When the job's evaluators began to be held: its supernet's end, or its start when it
    trained none (a reused checkpoint, benchmark mode)."""
    trained = _last(events, EventKind.SUPERNET_TRAINED)
    return trained.at if trained is not None else started_at


def stage_compute(
    spec: JobSpec, events: Sequence[EventRecord], trainings: Sequence[TrainingRecord], started_at: datetime | None, now: datetime, finished: bool = False
) -> list[StageCompute]:
    """Each stage the job has reached, in order, with the CPU time it held up to `now` (of a
    `finished` job, its end: no stage of it is running)."""
    stages = _stages(spec, events, trainings, started_at, now)
    return [StageCompute(s.stage, s.cpus, s.minutes, False) for s in stages] if finished else stages


def _stages(spec: JobSpec, events: Sequence[EventRecord], trainings: Sequence[TrainingRecord], started_at: datetime | None, now: datetime) -> list[StageCompute]:
    stages = []
    supernet_start, supernet_end = _first(events, (EventKind.SUPERNET_STARTED,)), _last(events, EventKind.SUPERNET_TRAINED)
    if supernet_start is not None:
        end = supernet_end.at if supernet_end is not None else now
        stages.append(StageCompute("supernet", spec.resources.supernet.cpus, _minutes(supernet_start.at, end), supernet_end is None))
    search = _last(events, EventKind.SEARCH_STARTED)
    began = search_began(events, started_at)
    if search is not None and began is not None:
        cpus = search_cpus(spec, int(search.data.get("evaluators", 1)))
        search_end = _first(events, _AFTER_SEARCH, after=began)
        stages.append(StageCompute("search", cpus, _minutes(began, search_end.at if search_end else now), search_end is None))
        rungs = _first(events, (EventKind.RUNG_STARTED,), after=began)
        if rungs is not None:
            rungs_end = _first(events, _AFTER_RUNGS, after=rungs.at)
            stages.append(StageCompute("rungs", cpus, _minutes(rungs.at, rungs_end.at if rungs_end else now), rungs_end is None))
    if trainings:
        verify = _last(events, EventKind.VERIFY_STARTED)
        ended = verify is not None and _first(events, (EventKind.FINISHED, EventKind.CANCELLED), after=verify.at) is not None
        stages.append(StageCompute("verify", spec.resources.verify.cpus, sum(t.seconds for t in trainings) / 60, not ended))
    return stages


@dataclass(frozen=True)
class CpuBudget:
    """`budget.cpu_minutes` turned into wall-clock ends for the search and the rungs, from what the
    job has spent before them."""

    cpu_minutes: float
    rungs: bool

    def search_end(self, began: datetime, supernet_cpu_minutes: float, cpus: float) -> datetime:
        """When the search has spent its share: from `began`, what the supernet left (less the
        rungs' share) over the CPUs the search holds."""
        share = (self.cpu_minutes - supernet_cpu_minutes) * (1 - RUNGS_SHARE if self.rungs else 1.0)
        return began + timedelta(minutes=max(0.0, share) / cpus)

    def rungs_end(self, began: datetime, spent_before: float, cpus: float) -> datetime:
        """When the rungs, begun at `began` after `spent_before` CPU-minutes, have spent the rest."""
        return began + timedelta(minutes=max(0.0, self.cpu_minutes - spent_before) / cpus)


def cpu_budget(spec: JobSpec) -> CpuBudget | None:
    if spec.budget.cpu_minutes is None:
        return None
    return CpuBudget(spec.budget.cpu_minutes, spec.rungs is not None)


def compute_summary(
    spec: JobSpec, events: Sequence[EventRecord], trainings: Sequence[TrainingRecord], started_at: datetime | None, finished_at: datetime | None, now: datetime
) -> dict[str, object]:
    """What a job's summary says of its compute: each stage's, the total, and the budget."""
    stages = stage_compute(spec, events, trainings, started_at, finished_at or now, finished=finished_at is not None)
    return {"stages": [s.to_dict() for s in stages], "cpu_minutes": sum(s.cpu_minutes for s in stages), "budget": spec.budget.cpu_minutes}
