"""The states a job and a candidate move through. StrEnums: they are stored, compared and sent as
their plain string values.

job:       queued -> running -> succeeded | failed | cancelled (a stale running job is re-claimed)
candidate: proposed -> running -> done | failed (a crashed attempt goes back to proposed)
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED_JOB_STATUSES


class CandidateStatus(StrEnum):
    PROPOSED = "proposed"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


JOB_STATUSES: tuple[str, ...] = tuple(JobStatus)
FINISHED_JOB_STATUSES: tuple[str, ...] = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
CANDIDATE_STATUSES: tuple[str, ...] = tuple(CandidateStatus)
