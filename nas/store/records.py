"""What the store hands out: frozen snapshots of rows (never live ORM objects) and its errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nas.job.metrics import METRICS
from nas.statuses import JobStatus


class StoreError(Exception):
    """Base of the store's errors."""


class ArtifactNotFound(StoreError, KeyError):
    def __init__(self, artifact_id: int):
        self.artifact_id = artifact_id
        super().__init__(artifact_id)

    def __str__(self) -> str:
        return f"artifact {self.artifact_id} not found"


class JobNotFound(StoreError, KeyError):
    def __init__(self, job_id: int):
        self.job_id = job_id
        super().__init__(job_id)

    def __str__(self) -> str:  # KeyError's own str would only repr the id
        return f"job {self.job_id} not found"


class CandidateNotFound(StoreError, KeyError):
    """No such candidate: by its row id, or by its number in `job_id` (which has `count`)."""

    def __init__(self, candidate_id: int, job_id: int | None = None, count: int | None = None):
        self.candidate_id, self.job_id, self.count = candidate_id, job_id, count
        super().__init__(candidate_id)

    def __str__(self) -> str:
        if self.job_id is None:
            return f"candidate {self.candidate_id} not found"
        numbered = f"its candidates are numbered 1 to {self.count}" if self.count else "it has no candidates yet"
        return f"job {self.job_id} has no candidate {self.candidate_id} ({numbered})"


class DuplicateArchitecture(StoreError, ValueError):
    """Architectures already in the job (or repeated in one batch): a job never evaluates one twice."""

    def __init__(self, job_id: int, arch_ids: list[str]):
        self.job_id, self.arch_ids = job_id, arch_ids
        super().__init__(f"job {job_id}: architecture(s) already proposed in this job: {', '.join(arch_ids)}")


class InvalidTransition(StoreError, ValueError):
    """A status change the lifecycle does not allow (e.g. recording a result of a finished candidate)."""


class ClaimLost(StoreError):
    """The job is claimed by another worker now (this one was presumed dead and replaced)."""


@dataclass(frozen=True)
class JobRecord:
    id: int
    name: str
    spec: dict[str, Any]
    status: str  # queued | running | succeeded | failed | cancelled
    cancel_requested: bool
    claimed_by: str | None
    claim_epoch: int
    heartbeat_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    owner: str | None  # the submitting user's name (API keys); None: the server's token or the CLI

    @property
    def finished(self) -> bool:
        return JobStatus(self.status).finished

    @property
    def claim(self) -> Claim | None:
        """The claim this snapshot shows (None before the first claim)."""
        return Claim(self.id, self.claimed_by, self.claim_epoch) if self.claimed_by is not None else None


@dataclass(frozen=True)
class Claim:
    """Who holds a running job, and which of its claims this is: the fencing token that every
    write on the holder's behalf carries."""

    job_id: int
    worker: str
    epoch: int


@dataclass(frozen=True)
class CandidateRecord:
    id: int
    job_id: int
    seq: int  # proposal order within the job
    arch_id: str
    arch: dict[str, Any]
    status: str  # proposed | running | done | failed
    accuracy: float | None
    params: float | None
    flops: float | None
    latency_ms: float | None
    extra_metrics: dict[str, Any]  # reported values beyond the METRICS columns
    attempt: int
    worker: str | None
    error: str | None
    proposed_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    eval_seconds: float | None

    @property
    def metrics(self) -> dict[str, Any]:
        """Everything the evaluation reported: the metric columns that are set, and the rest."""
        columns = {name: getattr(self, name) for name in METRICS if getattr(self, name) is not None}
        return {**self.extra_metrics, **columns}


@dataclass(frozen=True)
class ArtifactRecord:
    id: int
    job_id: int
    kind: str  # e.g. supernet_checkpoint, export
    path: str
    meta: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class EventRecord:
    id: int
    job_id: int
    at: datetime
    kind: str
    message: str
    data: dict[str, Any]


@dataclass(frozen=True)
class VerificationRecord:
    """A candidate's standalone training in the verified stage (the second fidelity)."""

    id: int
    job_id: int
    candidate_id: int
    init: str  # inherited | scratch
    val_accuracy: float  # best epoch's
    test_accuracy: float  # the same epoch's
    best_epoch: int
    epochs_trained: int
    epochs: int
    seconds: float
    weights: str | None
    finished_at: datetime

    @property
    def stopped_early(self) -> bool:
        return self.epochs_trained < self.epochs


@dataclass(frozen=True)
class ReferenceRecord:
    """A plain-family member trained beside a job's candidates (never a search candidate)."""

    id: int
    job_id: int
    name: str  # plain-XS … plain-XL
    arch_id: str
    arch: dict[str, Any]
    metrics: dict[str, Any]  # accuracy (inherited), params, flops, latency_ms and its details
    created_at: datetime


@dataclass(frozen=True)
class TrainingRecord:
    """One standalone training of the verified stage: of a candidate or of a reference, one seed."""

    id: int
    job_id: int
    candidate_id: int | None
    reference_id: int | None
    seed: int
    init: str
    val_accuracy: float
    test_accuracy: float
    test_examples: int
    best_epoch: int
    epochs_trained: int
    epochs: int
    seconds: float
    finished_at: datetime


@dataclass(frozen=True)
class RungScoreRecord:
    """A candidate's accuracy at a rung of successive halving above its inherited score, or why
    scoring it failed (`accuracy` None)."""

    id: int
    job_id: int
    candidate_id: int
    rung: int  # 1, 2, ...: the job's `rungs` section says what each is
    fidelity: str  # e.g. "fine-tuned 50 steps"
    accuracy: float | None
    error: str | None
    seconds: float
    finished_at: datetime


@dataclass(frozen=True)
class CoordinatorRecord:
    """A coordinator that announced itself; alive while `heartbeat_at` is recent."""

    name: str
    started_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class UserRecord:
    name: str
    admin: bool
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None
