"""The service's SQL store (SQLAlchemy 2 + Alembic): jobs, candidates, artifacts and events."""

from nas.statuses import CANDIDATE_STATUSES, FINISHED_JOB_STATUSES, JOB_STATUSES, CandidateStatus, JobStatus
from nas.store.artifacts import ArtifactKind
from nas.store.engine import resolve_db_url
from nas.store.events import EventKind
from nas.store.records import (
    ArtifactNotFound,
    ArtifactRecord,
    CandidateNotFound,
    CandidateRecord,
    Claim,
    ClaimLost,
    CoordinatorRecord,
    DuplicateArchitecture,
    EventRecord,
    InvalidTransition,
    JobNotFound,
    JobRecord,
    ReferenceRecord,
    RungScoreRecord,
    StoreError,
    TrainingRecord,
    UserRecord,
    VerificationRecord,
)
from nas.store.store import COORDINATOR_ALIVE_S, DEFAULT_MAX_ATTEMPTS, DEFAULT_STALE_AFTER_S, Store

__all__ = [
    "CANDIDATE_STATUSES",
    "COORDINATOR_ALIVE_S",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_STALE_AFTER_S",
    "FINISHED_JOB_STATUSES",
    "JOB_STATUSES",
    "ArtifactKind",
    "ArtifactNotFound",
    "ArtifactRecord",
    "CandidateNotFound",
    "CandidateRecord",
    "CandidateStatus",
    "Claim",
    "ClaimLost",
    "CoordinatorRecord",
    "DuplicateArchitecture",
    "EventKind",
    "EventRecord",
    "InvalidTransition",
    "JobNotFound",
    "JobRecord",
    "JobStatus",
    "Store",
    "StoreError",
    "UserRecord",
    "ReferenceRecord",
    "RungScoreRecord",
    "TrainingRecord",
    "VerificationRecord",
    "resolve_db_url",
]
