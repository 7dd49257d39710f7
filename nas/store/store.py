"""The store: the service's source of truth for jobs, candidates, artifacts and events.

Every method is one transaction and returns frozen records. Lifecycles:
  job        queued -> running -> succeeded | failed | cancelled   (a queued job may be cancelled)
  candidate  proposed -> running -> done | failed                   (a failed attempt may go back
                                                                     to proposed for a retry)

Claiming: a coordinator claims the oldest claimable job: a queued one, or a running one whose
heartbeat is older than `stale_after_s` (its coordinator died; the new one resumes it). On
PostgreSQL the pick is `SELECT ... FOR UPDATE SKIP LOCKED`, so racing coordinators take different
jobs; on SQLite the write transaction holds the database lock and the update re-checks that the
row is still claimable. Either way exactly one claimer wins a job.

Cancelling: a queued job becomes `cancelled` at once; a running one gets `cancel_requested` (its
coordinator stops and finishes it as cancelled); a finished job is left as it is (idempotent: the
returned record tells what happened).
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import ColumnElement, LargeBinary, and_, delete, func, insert, literal, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from nas.clock import SYSTEM_CLOCK, Clock
from nas.job.metrics import METRICS
from nas.statuses import CANDIDATE_STATUSES, FINISHED_JOB_STATUSES, JOB_STATUSES, CandidateStatus, JobStatus
from nas.store.engine import WRITE, create_store_engine, resolve_db_url, upgrade_schema
from nas.store.events import EventKind
from nas.store.models import Artifact, Candidate, Coordinator, Event, Job, Reference, RungScore, Training, User, Verification
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
    TrainingRecord,
    UserRecord,
    VerificationRecord,
)

DEFAULT_STALE_AFTER_S = 120.0
COORDINATOR_ALIVE_S = 30.0  # a coordinator beats every few seconds; one silent this long is gone
DEFAULT_MAX_ATTEMPTS = 3
_IN_CHUNK = 5000  # ids per `IN (...)`: well under SQLite's bound-parameter limit

R = TypeVar("R")


class Store:
    """Jobs and their candidates in SQLite or PostgreSQL; see `resolve_db_url` for the default URL.

    Opening a store brings the schema up to date (`schema_upgraded` tells whether migrations ran).
    Every time it records or compares comes from `clock` (default: this machine's; coordinators on
    several machines need synchronised clocks, by NTP, for heartbeats to compare).
    """

    def __init__(self, url: str | None = None, clock: Clock = SYSTEM_CLOCK):
        self.url = resolve_db_url(url)
        self.clock = clock
        self._engine = create_store_engine(self.url)
        self._writer = self._engine.execution_options(**{WRITE: True})
        self.backend = self._engine.dialect.name
        self.schema_upgraded = upgrade_schema(self._engine)

    def __repr__(self) -> str:
        return f"Store({self._engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._engine) as session, session.begin():
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    # ---- jobs ----

    def create_job(self, spec: Mapping[str, Any], name: str, owner: str | None = None) -> JobRecord:
        """A queued job; `spec` is the validated spec's canonical dict (`JobSpec.to_dict()`);
        `owner`: the submitting user's name."""
        now = self.clock.now()
        with self._write() as s:
            job = Job(name=name, spec=dict(spec), status=JobStatus.QUEUED, cancel_requested=False, created_at=now, owner=owner)
            s.add(job)
            s.flush()
            self._event(s, job.id, EventKind.CREATED, f"job {name!r} queued", at=now)
            return _record(JobRecord, job)

    def get_job(self, job_id: int) -> JobRecord:
        with self._read() as s:
            return _record(JobRecord, self._job(s, job_id))

    def list_jobs(self, status: str | None = None, limit: int | None = None, after: int | None = None, owner: str | None = None) -> list[JobRecord]:
        """Jobs in id order, optionally one status or one `owner`'s; a page of at most `limit` with
        ids above `after`."""
        query = select(Job).order_by(Job.id)
        if owner is not None:
            query = query.where(Job.owner == owner)
        if status is not None:
            query = query.where(Job.status == _allowed("status", status, JOB_STATUSES))
        if after is not None:
            query = query.where(Job.id > min(max(after, 0), MAX_ROW_ID))
        if limit is not None:
            query = query.limit(limit)
        with self._read() as s:
            return [_record(JobRecord, job) for job in s.scalars(query)]

    def claim_job(self, worker: str, job_id: int | None = None, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> JobRecord | None:
        """Atomically take a claimable job (or `job_id` if it is claimable) for `worker`: queued,
        or running with a heartbeat older than `stale_after_s`; of those, the oldest of the owner
        with the fewest jobs running, so that users' jobs interleave. None if there is none."""
        now = self.clock.now()
        stale = now - timedelta(seconds=stale_after_s)
        claimable = or_(
            Job.status == JobStatus.QUEUED,
            and_(Job.status == JobStatus.RUNNING, or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale)),
        )
        # Fair between users: the job of the owner with the fewest jobs running goes first, then the oldest.
        other = aliased(Job)
        owners_running = select(func.count()).select_from(other).where(other.status == JobStatus.RUNNING, other.owner.is_not_distinct_from(Job.owner)).scalar_subquery()
        pick = select(Job.id, Job.status, Job.claimed_by).where(claimable).order_by(owners_running, Job.id).limit(1)
        if job_id is not None:
            pick = pick.where(Job.id == job_id)
        if self.backend == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        with self._write() as s:
            if job_id is not None:
                self._job(s, job_id)
            row = s.execute(pick).first()
            if row is None:
                return None
            claimed = s.execute(
                update(Job)
                .where(Job.id == row.id, claimable)  # re-checked: a guard should the row have moved on
                .values(
                    status=JobStatus.RUNNING, claimed_by=worker, claim_epoch=Job.claim_epoch + 1, heartbeat_at=now, started_at=func.coalesce(Job.started_at, now)
                )
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:
                return None
            if row.status == JobStatus.RUNNING:
                self._event(s, row.id, EventKind.RESUMED, f"{worker} took over from {row.claimed_by} (heartbeat stale)", {"worker": worker, "previous": row.claimed_by}, at=now)
            else:
                self._event(s, row.id, EventKind.CLAIMED, f"claimed by {worker}", {"worker": worker}, at=now)
            return _record(JobRecord, s.get_one(Job, row.id, populate_existing=True))

    def release_job(self, claim: Claim, reason: str) -> JobRecord:
        """Hand a running job back to the queue (its coordinator is stopping): the next coordinator
        claims it at once, not after the stale timeout, and resumes it from what is stored. Its
        running candidates go back to `proposed`. ClaimLost if `claim` no longer holds it."""
        with self._write() as s:
            self._fence(s, claim)
            job = self._job(s, claim.job_id, lock=True)
            job.status, job.claimed_by, job.heartbeat_at = JobStatus.QUEUED, None, None
            released = self._release_running(s, claim.job_id)
            self._event(s, claim.job_id, EventKind.RELEASED, f"{claim.worker} stopped ({reason}); the job is queued again and resumes where it left off", {"worker": claim.worker, "candidates_released": released})
            return _record(JobRecord, job)

    def heartbeat(self, job_id: int, worker: str, epoch: int | None = None) -> bool:
        """Refresh `worker`'s claim (the claim of that `epoch`, if given); False if the job is no
        longer running under it (claimed by another worker after this one was presumed dead, or
        finished)."""
        with self._write() as s:
            fenced = [Job.claim_epoch == epoch] if epoch is not None else []
            result = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.RUNNING, Job.claimed_by == worker, *fenced)
                .values(heartbeat_at=self.clock.now())
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                return True
            self._job(s, job_id)  # a missing job is an error, not a lost claim
            return False

    def delete_job(self, job_id: int) -> tuple[JobRecord, list[ArtifactRecord], list[VerificationRecord]]:
        """Delete a job that is not running, with its candidates, events, artifacts and
        verifications; returns what was deleted, for the caller to remove the files the artifacts
        and verified weights point to. InvalidTransition for a running job (also one cancelling:
        its coordinator still writes until it stops)."""
        with self._write() as s:
            job = self._job(s, job_id, lock=True)
            if job.status == JobStatus.RUNNING:
                raise InvalidTransition(f"job {job_id} is running; cancel it (nas cancel {job_id}) and delete it once it has stopped")
            record = _record(JobRecord, job)
            artifacts = [_record(ArtifactRecord, a) for a in s.scalars(select(Artifact).where(Artifact.job_id == job_id).order_by(Artifact.id))]
            verifications = [_record(VerificationRecord, v) for v in s.scalars(select(Verification).where(Verification.job_id == job_id).order_by(Verification.id))]
            # Children first, explicitly: not every SQLite connection enforces ON DELETE CASCADE.
            for model in (RungScore, Training, Reference, Verification, Artifact, Event, Candidate):
                s.execute(delete(model).where(model.job_id == job_id))
            s.execute(delete(Job).where(Job.id == job_id))
            return record, artifacts, verifications

    # ---- users ----

    def add_user(self, name: str, key_hash: str, admin: bool = False) -> UserRecord:
        """A user whose API key hashes to `key_hash`; ValueError if the name is taken (also by a
        revoked user: names stay unique, so old jobs keep one owner)."""
        with self._write() as s:
            if s.get(User, name) is not None:
                raise ValueError(f"name: user {name!r} exists already")
            user = User(name=name, key_hash=key_hash, admin=admin, created_at=self.clock.now(), revoked_at=None)
            s.add(user)
            s.flush()
            return _record(UserRecord, user)

    def user_by_key_hash(self, key_hash: str) -> UserRecord | None:
        """The active user with this key; None for an unknown or revoked key."""
        with self._read() as s:
            user = s.scalars(select(User).where(User.key_hash == key_hash, User.revoked_at.is_(None))).first()
            return _record(UserRecord, user) if user is not None else None

    def users(self) -> list[UserRecord]:
        with self._read() as s:
            return [_record(UserRecord, u) for u in s.scalars(select(User).order_by(User.created_at, User.name))]

    def revoke_user(self, name: str) -> UserRecord:
        """Revoke a user's key (their jobs stay, visible to admins); KeyError for an unknown name."""
        with self._write() as s:
            user = s.get(User, name)
            if user is None:
                raise KeyError(name)
            if user.revoked_at is None:
                user.revoked_at = self.clock.now()
            return _record(UserRecord, user)

    def has_users(self) -> bool:
        with self._read() as s:
            return s.scalars(select(User.name).limit(1)).first() is not None

    # ---- coordinators ----

    def coordinator_beat(self, name: str) -> None:
        """Coordinator `name` is alive now (announced on its first beat)."""
        now = self.clock.now()
        with self._write() as s:
            beaten = s.execute(update(Coordinator).where(Coordinator.name == name).values(heartbeat_at=now).execution_options(synchronize_session=False))
            if beaten.rowcount == 0:
                s.add(Coordinator(name=name, started_at=now, heartbeat_at=now))

    def coordinator_gone(self, name: str) -> None:
        """Coordinator `name` stopped (a crashed one just goes stale)."""
        with self._write() as s:
            s.execute(delete(Coordinator).where(Coordinator.name == name))

    def coordinators(self, alive_within_s: float = COORDINATOR_ALIVE_S) -> list[CoordinatorRecord]:
        """The coordinators that beat within the last `alive_within_s` seconds, oldest first."""
        since = self.clock.now() - timedelta(seconds=alive_within_s)
        with self._read() as s:
            rows = s.scalars(select(Coordinator).where(Coordinator.heartbeat_at >= since).order_by(Coordinator.started_at, Coordinator.name))
            return [_record(CoordinatorRecord, row) for row in rows]

    def job_counts(self) -> dict[str, int]:
        """Jobs per status, every status present."""
        with self._read() as s:
            found = dict(s.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        return {status: found.get(status, 0) for status in JOB_STATUSES}

    def request_cancel(self, job_id: int) -> JobRecord:
        """Queued: cancelled now. Running: `cancel_requested` set for its coordinator. Finished:
        unchanged (cancelling twice, or after the end, is not an error)."""
        now = self.clock.now()
        with self._write() as s:
            job = self._job(s, job_id, lock=True)
            if job.status == JobStatus.QUEUED:
                job.status, job.cancel_requested, job.finished_at = JobStatus.CANCELLED, True, now
                self._event(s, job_id, EventKind.CANCELLED, "cancelled before it started", at=now)
            elif job.status == JobStatus.RUNNING and not job.cancel_requested:
                job.cancel_requested = True
                self._event(s, job_id, EventKind.CANCEL_REQUESTED, f"cancel requested; {job.claimed_by} stops it", at=now)
            return _record(JobRecord, job)

    def finish_job(self, job_id: int, status: str, error: str | None = None, worker: str | None = None, claim: Claim | None = None) -> JobRecord:
        """End a queued or running job as succeeded | failed | cancelled. With `worker` (or a
        `claim`), only if it still holds the claim (else ClaimLost). Candidates still running go
        back to `proposed`: a finished job leaves nothing in flight."""
        _allowed("status", status, FINISHED_JOB_STATUSES)
        now = self.clock.now()
        with self._write() as s:
            if claim is not None:
                self._fence(s, claim)
            job = self._job(s, job_id, lock=True)
            if job.status in FINISHED_JOB_STATUSES:
                raise InvalidTransition(f"job {job_id} already finished as {job.status}; cannot finish it as {status}")
            if worker is not None and job.claimed_by != worker:
                raise ClaimLost(f"job {job_id} is claimed by {job.claimed_by!r}, not {worker!r}")
            self._release_running(s, job_id)
            job.status, job.error, job.finished_at = status, error, now
            self._event(s, job_id, EventKind.FINISHED, f"{status}" + (f": {error}" if error else ""), {"status": status}, at=now)
            return _record(JobRecord, job)

    # ---- candidates ----

    def add_candidates(self, job_id: int, archs: Sequence[tuple[str, Mapping[str, Any]]], claim: Claim | None = None) -> list[CandidateRecord]:
        """Propose (arch_id, arch) pairs, numbered after the job's last candidate. An architecture
        already in the job, or repeated in `archs`, fails the whole batch (DuplicateArchitecture).

        Every candidate write takes the writer's `claim`: if another coordinator has claimed the
        job since, the write raises ClaimLost and changes nothing."""
        now = self.clock.now()
        with self._write() as s:
            if claim is not None:
                self._fence(s, claim, job_id)
            job = self._job(s, job_id, lock=True)  # the lock serialises numbering of concurrent batches
            if job.status in FINISHED_JOB_STATUSES:
                raise InvalidTransition(f"job {job_id} is {job.status}; no new candidates")
            self._check_new_archs(s, job_id, [arch_id for arch_id, _ in archs])
            start = self._next_seq(s, job_id)
            rows = [
                Candidate(job_id=job_id, seq=start + i, arch_id=arch_id, arch=dict(arch), status=CandidateStatus.PROPOSED, metrics={}, attempt=0, proposed_at=now)
                for i, (arch_id, arch) in enumerate(archs)
            ]
            s.add_all(rows)
            s.flush()
            return [_candidate_record(row) for row in rows]

    def get_candidate(self, candidate_id: int) -> CandidateRecord:
        with self._read() as s:
            return _candidate_record(self._candidate(s, candidate_id))

    def candidate_number(self, job_id: int, seq: int) -> CandidateRecord:
        """The job's candidate numbered `seq` (1, 2, 3 … within the job: what people see and
        give); CandidateNotFound naming the job's range if it has none of that number."""
        with self._read() as s:
            self._job(s, job_id)
            row = s.scalar(select(Candidate).where(Candidate.job_id == job_id, Candidate.seq == seq)) if _is_row_id(seq) else None
            if row is None:
                raise CandidateNotFound(seq, job_id, self._next_seq(s, job_id) - 1)
            return _candidate_record(row)

    def start_candidate(self, candidate_id: int, worker: str, claim: Claim | None = None) -> CandidateRecord:
        """proposed -> running: one more attempt, by `worker`."""
        return self.start_candidates([candidate_id], worker, claim=claim)[0]

    def start_candidates(self, candidate_ids: Sequence[int], worker: str, claim: Claim | None = None) -> list[CandidateRecord]:
        """`start_candidate` of each, in one transaction (all or none)."""
        with self._write() as s:
            started = []
            for candidate_id in candidate_ids:
                row = self._candidate(s, candidate_id, expect=CandidateStatus.PROPOSED, action="start", claim=claim)
                row.status, row.worker, row.started_at, row.attempt = CandidateStatus.RUNNING, worker, self.clock.now(), row.attempt + 1
                row.error = None
                started.append(_candidate_record(row))
            return started

    def record_result(self, candidate_id: int, metrics: Mapping[str, Any], eval_seconds: float | None = None, claim: Claim | None = None) -> CandidateRecord:
        """running -> done with `metrics`: the METRICS keys fill their columns, others go to JSON."""
        return self.record_results([(candidate_id, metrics, eval_seconds)], claim=claim)[0]

    def record_results(self, results: Sequence[tuple[int, Mapping[str, Any], float | None]], claim: Claim | None = None) -> list[CandidateRecord]:
        """`record_result` of each (candidate id, metrics, seconds), in one transaction (all or none)."""
        split = [(candidate_id, *_split_metrics(metrics), seconds) for candidate_id, metrics, seconds in results]
        with self._write() as s:
            recorded = []
            for candidate_id, columns, extra, seconds in split:
                row = self._candidate(s, candidate_id, expect=CandidateStatus.RUNNING, action="record a result for", claim=claim)
                for name, value in columns.items():
                    setattr(row, name, value)
                row.metrics, row.status, row.finished_at, row.eval_seconds, row.error = extra, CandidateStatus.DONE, self.clock.now(), seconds, None
                recorded.append(_candidate_record(row))
            return recorded

    def amend_result(self, candidate_id: int, metrics: Mapping[str, Any], drop: Sequence[str] = (), claim: Claim | None = None) -> CandidateRecord:
        """A done candidate's metrics, some replaced by better figures (a measured latency for a
        predicted one): `metrics` overwrite theirs, the `drop` keys of the JSON part go."""
        columns, extra = _split_metrics(metrics)
        with self._write() as s:
            row = self._candidate(s, candidate_id, expect=CandidateStatus.DONE, action="amend the result of", claim=claim)
            for name, value in columns.items():
                setattr(row, name, value)
            row.metrics = {**{k: v for k, v in row.metrics.items() if k not in drop}, **extra}
            return _candidate_record(row)

    def record_failure(self, candidate_id: int, reason: str, max_attempts: int = DEFAULT_MAX_ATTEMPTS, claim: Claim | None = None) -> str:
        """A running attempt failed: back to `proposed` for a retry while attempts < max_attempts,
        else `failed`. The reason is kept either way. Returns the status after."""
        if max_attempts < 1:
            raise ValueError(f"max_attempts: {max_attempts} must be >= 1")
        with self._write() as s:
            row = self._candidate(s, candidate_id, expect=CandidateStatus.RUNNING, action="record a failure for", claim=claim)
            row.error = reason
            if row.attempt < max_attempts:
                row.status, row.worker, row.started_at = CandidateStatus.PROPOSED, None, None
            else:
                row.status, row.finished_at = CandidateStatus.FAILED, self.clock.now()
            return row.status

    def release_candidate(self, candidate_id: int, claim: Claim | None = None) -> CandidateRecord:
        """running -> proposed, the attempt given back: it was dispatched to a worker that died
        before starting it, so it never ran."""
        with self._write() as s:
            row = self._candidate(s, candidate_id, expect=CandidateStatus.RUNNING, action="release", claim=claim)
            row.status, row.worker, row.started_at, row.attempt = CandidateStatus.PROPOSED, None, None, max(0, row.attempt - 1)
            return _candidate_record(row)

    def reset_running(self, job_id: int, claim: Claim | None = None) -> int:
        """Candidates left `running` by a dead coordinator go back to `proposed` (their attempt
        count kept). Returns how many."""
        with self._write() as s:
            if claim is not None:
                self._fence(s, claim, job_id)
            self._job(s, job_id)
            return self._release_running(s, job_id)

    def candidates(self, job_id: int, status: str | None = None, after_seq: int | None = None) -> list[CandidateRecord]:
        """The job's candidates in proposal order (only those numbered after `after_seq`, if given)."""
        query = select(Candidate).where(Candidate.job_id == job_id).order_by(Candidate.seq)
        if after_seq is not None:
            query = query.where(Candidate.seq > after_seq)
        if status is not None:
            query = query.where(Candidate.status == _allowed("status", status, CANDIDATE_STATUSES))
        with self._read() as s:
            self._job(s, job_id)
            return [_candidate_record(row) for row in s.scalars(query)]

    def next_seq(self, job_id: int) -> int:
        """The number the job's next candidate will get (candidates are numbered 1, 2, 3 … per job)."""
        with self._read() as s:
            self._job(s, job_id)
            return self._next_seq(s, job_id)

    def counts(self, job_id: int) -> dict[str, int]:
        """Candidates per status, every status present."""
        query = select(Candidate.status, func.count()).where(Candidate.job_id == job_id).group_by(Candidate.status)
        with self._read() as s:
            self._job(s, job_id)
            found = {status: n for status, n in s.execute(query)}
        return {status: found.get(status, 0) for status in CANDIDATE_STATUSES}

    def counts_of(self, job_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """`counts` of several jobs in one query (job lists); unknown ids are left out."""
        found: dict[int, dict[str, int]] = {}
        with self._read() as s:
            for chunk in _chunks(sorted(set(job_ids))):
                for job_id in s.scalars(select(Job.id).where(Job.id.in_(chunk))):
                    found[job_id] = dict.fromkeys(CANDIDATE_STATUSES, 0)
                query = select(Candidate.job_id, Candidate.status, func.count()).where(Candidate.job_id.in_(chunk)).group_by(Candidate.job_id, Candidate.status)
                for job_id, status, n in s.execute(query):
                    found[job_id][status] = n
        return found

    def best(self, job_id: int, metric: str, maximize: bool) -> CandidateRecord | None:
        """The done candidate with the best `metric` (the earliest proposed among ties)."""
        column = _metric_column(metric)
        query = (
            select(Candidate)
            .where(Candidate.job_id == job_id, Candidate.status == CandidateStatus.DONE, column.is_not(None))
            .order_by(column.desc() if maximize else column.asc(), Candidate.seq)
            .limit(1)
        )
        with self._read() as s:
            self._job(s, job_id)
            row = s.scalars(query).first()
            return _candidate_record(row) if row is not None else None

    def done_metric_table(self, job_id: int, metrics: Sequence[str]) -> np.ndarray:
        """(candidate id, *metrics) of the job's done candidates that have every one of `metrics`,
        as a float64 matrix (one row per candidate, in no particular order): what a Pareto front
        over many thousands of candidates is computed from (`nas.results.front`)."""
        columns = [_metric_column(metric) for metric in metrics]
        with self._read() as s:
            self._job(s, job_id)
            return _fetch_matrix(s, columns, Candidate.job_id == job_id, Candidate.status == CandidateStatus.DONE, *(c.is_not(None) for c in columns))

    def candidates_by_id(self, ids: Sequence[int]) -> list[CandidateRecord]:
        """The candidates of these ids (any job), in no particular order; unknown ids are skipped."""
        with self._read() as s:
            return [_candidate_record(row) for chunk in _chunks(list(ids)) for row in s.scalars(select(Candidate).where(Candidate.id.in_(chunk)))]

    def bulk_insert_results(self, job_id: int, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert finished candidates in one statement batch: each row has arch_id, arch, metrics
        and optionally eval_seconds (benchmark replay and insert-throughput measurements)."""
        now = self.clock.now()
        with self._write() as s:
            self._job(s, job_id, lock=True)
            start = self._next_seq(s, job_id)
            payload = []
            for i, row in enumerate(rows):
                columns, extra = _split_metrics(row["metrics"])
                payload.append(
                    {
                        "job_id": job_id, "seq": start + i, "arch_id": row["arch_id"], "arch": row["arch"], "status": CandidateStatus.DONE,
                        **{name: columns.get(name) for name in METRICS}, "metrics": extra, "attempt": 1,
                        "proposed_at": now, "started_at": now, "finished_at": now, "eval_seconds": row.get("eval_seconds"),
                    }
                )  # fmt: skip
            if not payload:
                return 0
            self._check_new_archs(s, job_id, [p["arch_id"] for p in payload])
            s.execute(insert(Candidate.__table__), payload)  # Core executemany: no ORM bookkeeping per row
            return len(payload)

    # ---- the verified stage ----

    def record_verification(self, candidate_id: int, figures: Mapping[str, Any], claim: Claim | None = None) -> VerificationRecord:
        """A done candidate's standalone training: `figures` holds VerificationRecord's fields
        from init to weights. A candidate is verified once (a second record raises
        InvalidTransition)."""
        names = {f.name for f in fields(VerificationRecord)} - {"id", "job_id", "candidate_id", "finished_at"}
        missing = names - set(figures)
        if missing:
            raise ValueError(f"figures: missing {', '.join(sorted(missing))}")
        with self._write() as s:
            row = self._candidate(s, candidate_id, expect=CandidateStatus.DONE, action="record a verification for", claim=claim)
            if s.scalar(select(Verification.id).where(Verification.candidate_id == candidate_id)) is not None:
                raise InvalidTransition(f"candidate {candidate_id} is verified already")
            verification = Verification(job_id=row.job_id, candidate_id=candidate_id, finished_at=self.clock.now(), **{n: figures[n] for n in names})
            s.add(verification)
            s.flush()
            return _record(VerificationRecord, verification)

    def verifications(self, job_id: int) -> list[VerificationRecord]:
        """The job's verified candidates, in the order they finished."""
        with self._read() as s:
            self._job(s, job_id)
            query = select(Verification).where(Verification.job_id == job_id).order_by(Verification.id)
            return [_record(VerificationRecord, v) for v in s.scalars(query)]

    def add_reference(self, job_id: int, name: str, arch: Mapping[str, Any], arch_id: str, metrics: Mapping[str, Any], claim: Claim | None = None) -> ReferenceRecord:
        """A plain-family member of the job, as an evaluator scored it; the stored one if the job
        has it already (a resumed job scores its references once)."""
        _split_metrics(metrics)  # the same checks as a candidate's metrics
        with self._write() as s:
            self._job(s, job_id)
            if claim is not None:
                self._fence(s, claim, job_id)
            existing = s.scalar(select(Reference).where(Reference.job_id == job_id, Reference.name == name))
            if existing is not None:
                return _record(ReferenceRecord, existing)
            row = Reference(job_id=job_id, name=name, arch=dict(arch), arch_id=arch_id, metrics=dict(metrics), created_at=self.clock.now())
            s.add(row)
            s.flush()
            return _record(ReferenceRecord, row)

    def references(self, job_id: int) -> list[ReferenceRecord]:
        """The job's plain-family members, in the order they were added (smallest first)."""
        with self._read() as s:
            self._job(s, job_id)
            return [_record(ReferenceRecord, r) for r in s.scalars(select(Reference).where(Reference.job_id == job_id).order_by(Reference.id))]

    def record_training(self, job_id: int, figures: Mapping[str, Any], *, seed: int, candidate_id: int | None = None, reference_id: int | None = None, claim: Claim | None = None) -> TrainingRecord:
        """One standalone training of a candidate or a reference (exactly one of the ids) with
        `seed`; `figures` holds TrainingRecord's fields from init to seconds. Once per subject and
        seed (a second record raises InvalidTransition)."""
        if (candidate_id is None) == (reference_id is None):
            raise ValueError("record_training: give exactly one of candidate_id and reference_id")
        names = {f.name for f in fields(TrainingRecord)} - {"id", "job_id", "candidate_id", "reference_id", "seed", "finished_at"}
        missing = names - set(figures)
        if missing:
            raise ValueError(f"figures: missing {', '.join(sorted(missing))}")
        with self._write() as s:
            if candidate_id is not None:
                subject = self._candidate(s, candidate_id, expect=CandidateStatus.DONE, action="record a training for", claim=claim)
                same = Training.candidate_id == candidate_id
            else:
                subject = s.get(Reference, reference_id)
                if subject is None or subject.job_id != job_id:
                    raise ValueError(f"reference_id: {reference_id} is not a reference of job {job_id}")
                if claim is not None:
                    self._fence(s, claim, job_id)
                same = Training.reference_id == reference_id
            if subject.job_id != job_id:
                raise ValueError(f"candidate_id: {candidate_id} is not a candidate of job {job_id}")
            if s.scalar(select(Training.id).where(same, Training.seed == seed)) is not None:
                raise InvalidTransition(f"{'candidate' if candidate_id is not None else 'reference'} {candidate_id or reference_id} is trained with seed {seed} already")
            row = Training(job_id=job_id, candidate_id=candidate_id, reference_id=reference_id, seed=seed, finished_at=self.clock.now(), **{n: figures[n] for n in names})
            s.add(row)
            s.flush()
            return _record(TrainingRecord, row)

    def trainings(self, job_id: int) -> list[TrainingRecord]:
        """The job's standalone trainings (candidates' and references'), in the order they finished."""
        with self._read() as s:
            self._job(s, job_id)
            return [_record(TrainingRecord, t) for t in s.scalars(select(Training).where(Training.job_id == job_id).order_by(Training.id))]

    def record_rung_score(
        self, candidate_id: int, rung: int, fidelity: str, accuracy: float | None, seconds: float, error: str | None = None, claim: Claim | None = None
    ) -> RungScoreRecord:
        """A done candidate's accuracy at `rung` (>= 1), or with `accuracy` None the `error` that
        kept it from one. Once per candidate and rung (a second raises InvalidTransition)."""
        if rung < 1:
            raise ValueError(f"rung: {rung} must be >= 1 (rung 0 is the candidate's own result)")
        if (accuracy is None) == (error is None):
            raise ValueError("record_rung_score: give exactly one of accuracy and error")
        if accuracy is not None and not (math.isfinite(accuracy) and 0.0 <= accuracy <= 1.0):
            raise ValueError(f"accuracy: {accuracy} is not a fraction between 0 and 1")
        with self._write() as s:
            candidate = self._candidate(s, candidate_id, expect=CandidateStatus.DONE, action="score at a higher rung", claim=claim)
            if s.scalar(select(RungScore.id).where(RungScore.candidate_id == candidate_id, RungScore.rung == rung)) is not None:
                raise InvalidTransition(f"candidate {candidate_id} is scored at rung {rung} already")
            row = RungScore(
                job_id=candidate.job_id, candidate_id=candidate_id, rung=rung, fidelity=fidelity, accuracy=accuracy, error=error, seconds=seconds, finished_at=self.clock.now()
            )  # fmt: skip
            s.add(row)
            s.flush()
            return _record(RungScoreRecord, row)

    def rung_scores(self, job_id: int) -> list[RungScoreRecord]:
        """The job's scores above rung 0, by rung, then in the order they finished."""
        with self._read() as s:
            self._job(s, job_id)
            return [_record(RungScoreRecord, r) for r in s.scalars(select(RungScore).where(RungScore.job_id == job_id).order_by(RungScore.rung, RungScore.id))]

    # ---- artifacts and events ----

    def add_artifact(self, job_id: int, kind: str, path: str, meta: Mapping[str, Any] | None = None) -> ArtifactRecord:
        with self._write() as s:
            self._job(s, job_id)
            artifact = Artifact(job_id=job_id, kind=kind, path=str(path), meta=dict(meta or {}), created_at=self.clock.now())
            s.add(artifact)
            s.flush()
            return _record(ArtifactRecord, artifact)

    def get_artifact(self, artifact_id: int) -> ArtifactRecord:
        if not _is_row_id(artifact_id):
            raise ArtifactNotFound(artifact_id)
        with self._read() as s:
            artifact = s.get(Artifact, artifact_id)
            if artifact is None:
                raise ArtifactNotFound(artifact_id)
            return _record(ArtifactRecord, artifact)

    def artifacts(self, job_id: int, kind: str | None = None) -> list[ArtifactRecord]:
        query = select(Artifact).where(Artifact.job_id == job_id).order_by(Artifact.id)
        if kind is not None:
            query = query.where(Artifact.kind == kind)
        with self._read() as s:
            self._job(s, job_id)
            return [_record(ArtifactRecord, a) for a in s.scalars(query)]

    def artifacts_of_kind(self, kind: str) -> list[ArtifactRecord]:
        """Every job's artifacts of `kind`, newest first: what later jobs reuse (a latency predictor)."""
        with self._read() as s:
            return [_record(ArtifactRecord, a) for a in s.scalars(select(Artifact).where(Artifact.kind == kind).order_by(Artifact.id.desc()))]

    def add_event(self, job_id: int, kind: str, message: str = "", data: Mapping[str, Any] | None = None) -> EventRecord:
        with self._write() as s:
            self._job(s, job_id)
            return self._event(s, job_id, kind, message, data)

    def events(self, job_id: int, since_id: int | None = None) -> list[EventRecord]:
        """The job's events in order; with `since_id`, only those after it (for following a job)."""
        query = select(Event).where(Event.job_id == job_id).order_by(Event.id)
        if since_id is not None:
            query = query.where(Event.id > since_id)
        with self._read() as s:
            self._job(s, job_id)
            return [_record(EventRecord, e) for e in s.scalars(query)]

    # ---- helpers (inside a transaction) ----

    def _job(self, s: Session, job_id: int, lock: bool = False) -> Job:
        if not _is_row_id(job_id):  # no such row, and the database would reject the number itself
            raise JobNotFound(job_id)
        job = s.get(Job, job_id, with_for_update=lock)  # FOR UPDATE on PostgreSQL; SQLite's write lock is already held
        if job is None:
            raise JobNotFound(job_id)
        return job

    def _candidate(self, s: Session, candidate_id: int, expect: str | None = None, action: str = "", claim: Claim | None = None) -> Candidate:
        if not _is_row_id(candidate_id):
            raise CandidateNotFound(candidate_id)
        row = s.get(Candidate, candidate_id, with_for_update=expect is not None)  # a status change follows
        if row is None:
            raise CandidateNotFound(candidate_id)
        if claim is not None:
            self._fence(s, claim, row.job_id)
        if expect is not None and row.status != expect:
            raise InvalidTransition(f"cannot {action} candidate {candidate_id}: it is {row.status}, not {expect}")
        return row

    @staticmethod
    def _fence(s: Session, claim: Claim, job_id: int | None = None) -> None:
        """ClaimLost unless `claim` still holds its job (running, same worker, same epoch). The row
        is locked (PostgreSQL; SQLite's writer holds the database) until the write commits, so a
        takeover cannot slip in between this check and the write."""
        if job_id is not None and job_id != claim.job_id:
            raise ClaimLost(f"the claim on job {claim.job_id} does not cover job {job_id}")
        row = s.execute(select(Job.status, Job.claimed_by, Job.claim_epoch).where(Job.id == claim.job_id).with_for_update()).first()
        if row is None:
            raise JobNotFound(claim.job_id)
        if (row.status, row.claimed_by, row.claim_epoch) != (JobStatus.RUNNING, claim.worker, claim.epoch):
            raise ClaimLost(f"job {claim.job_id} is {row.status}, claimed by {row.claimed_by!r} (claim {row.claim_epoch}); {claim.worker!r} held claim {claim.epoch}")

    @staticmethod
    def _release_running(s: Session, job_id: int) -> int:
        result = s.execute(
            update(Candidate)
            .where(Candidate.job_id == job_id, Candidate.status == CandidateStatus.RUNNING)
            .values(status=CandidateStatus.PROPOSED, worker=None, started_at=None)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount

    @staticmethod
    def _next_seq(s: Session, job_id: int) -> int:
        return (s.scalar(select(func.max(Candidate.seq)).where(Candidate.job_id == job_id)) or 0) + 1

    @staticmethod
    def _check_new_archs(s: Session, job_id: int, arch_ids: list[str]) -> None:
        repeated = {a for a, n in Counter(arch_ids).items() if n > 1}
        existing = {
            arch_id
            for chunk in _chunks(sorted(set(arch_ids)))
            for arch_id in s.scalars(select(Candidate.arch_id).where(Candidate.job_id == job_id, Candidate.arch_id.in_(chunk)))
        }
        if repeated or existing:
            raise DuplicateArchitecture(job_id, sorted(repeated | existing))

    def _event(self, s: Session, job_id: int, kind: str, message: str, data: Mapping[str, Any] | None = None, at: datetime | None = None) -> EventRecord:
        event = Event(job_id=job_id, at=at or self.clock.now(), kind=kind, message=message, data=dict(data or {}))
        s.add(event)
        s.flush()
        return _record(EventRecord, event)


# ---- conversions ----

MAX_ROW_ID = 2**31 - 1  # ids are INTEGER columns: 32-bit on PostgreSQL


def _is_row_id(value: int) -> bool:
    return isinstance(value, int) and 1 <= value <= MAX_ROW_ID




def _record(kind: type[R], row: Any) -> R:
    return kind(**{f.name: getattr(row, f.name) for f in fields(kind)})  # type: ignore[arg-type]


def _candidate_record(row: Candidate) -> CandidateRecord:
    values = {f.name: getattr(row, f.name) for f in fields(CandidateRecord) if f.name != "extra_metrics"}
    return CandidateRecord(**values, extra_metrics=dict(row.metrics))


def _fetch_matrix(s: Session, columns: Sequence[InstrumentedAttribute[float | None]], *where: ColumnElement[bool]) -> np.ndarray:
    """(candidate id, *columns) of the candidates matching `where` as a float64 matrix; the
    columns must be non-NULL there.

    Pareto queries read up to hundreds of thousands of rows, and building a Python object per row
    and value costs more than the query itself. So PostgreSQL packs every row into one bytea
    (`int4send(id) || float8send(c1) || ...`, aggregated) that numpy reads in one call, and SQLite
    rows come from the driver's cursor straight into an array, past SQLAlchemy's Row objects.
    """
    width = len(columns) + 1
    if s.get_bind().dialect.name == "postgresql":
        packed: ColumnElement[Any] = func.int4send(Candidate.id)
        for column in columns:
            packed = packed.op("||")(func.float8send(column))
        blob = s.scalar(select(func.string_agg(packed, literal(b"", LargeBinary))).where(*where)) or b""
        rows = np.frombuffer(blob, dtype=np.dtype([("id", ">i4")] + [(f"v{i}", ">f8") for i in range(1, width)]))
        table = np.empty((len(rows), width), dtype=np.float64)
        for i, name in enumerate(rows.dtype.names):
            table[:, i] = rows[name]
        return table
    connection = s.connection()
    # Rendered inline: the only literals here are a job id (an int) and status names.
    sql = str(select(Candidate.id, *columns).where(*where).compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.driver_connection.cursor()
    try:
        rows = cursor.execute(sql).fetchall()
    finally:
        cursor.close()
    return np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64, count=len(rows) * width).reshape(len(rows), width)


def _split_metrics(metrics: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """(values of the METRICS columns, the rest). Column values must be finite numbers."""
    columns: dict[str, float] = {}
    extra: dict[str, Any] = {}
    for key, value in metrics.items():
        if key not in METRICS:
            extra[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
            raise ValueError(f"metrics.{key}: expected a finite number, got {value!r}")
        columns[key] = float(value)
    try:
        json.dumps(extra, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metrics: the values beyond {', '.join(METRICS)} must be JSON ({exc})") from None
    return columns, extra


def _metric_column(metric: str) -> InstrumentedAttribute[float | None]:
    return getattr(Candidate, _allowed("metric", metric, METRICS))


def _allowed(what: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{what}: {value!r} not in {{{', '.join(allowed)}}}")
    return value


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]

