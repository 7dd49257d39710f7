"""The states a job and a candidate move through, defined once for the store, the service and
the client (light: no database library). StrEnums: they are stored, compared and sent as their
plain string values.

job:       queued -> running -> succeeded | failed | cancelled (a stale running job is re-claimed)
candidate: proposed -> running -> done | failed (a crashed attempt goes back to proposed)
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Succeeded, failed or cancelled: nothing runs it any more."""
        return self in FINISHED_JOB_STATUSES


class CandidateStatus(StrEnum):
    PROPOSED = "proposed"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def candidates_finished(counts: Mapping[str, int]) -> int:
    """How many candidates are done or failed, of a job's counts by status: what its budget counts."""
    return counts.get(CandidateStatus.DONE, 0) + counts.get(CandidateStatus.FAILED, 0)


JOB_STATUSES: tuple[str, ...] = tuple(JobStatus)
FINISHED_JOB_STATUSES: tuple[str, ...] = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
CANDIDATE_STATUSES: tuple[str, ...] = tuple(CandidateStatus)
