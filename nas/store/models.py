"""The tables of the store (SQLAlchemy 2 typed ORM). Only the store module uses these classes;
everything outside it sees the frozen records of `nas.store.records`."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from nas.statuses import CANDIDATE_STATUSES, JOB_STATUSES

# Every metric (nas.job.metrics) is a nullable float column of `candidates`, so that Pareto and
# best-of queries read plain columns.

# The Alembic revision these models describe; a test checks it is the migrations' head.
SCHEMA_REVISION = "0007"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone, so one is put back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps UTC times only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    # JSON, not PostgreSQL's JSONB: documents come back exactly as written (JSONB reorders keys),
    # and nothing queries inside them.
    type_annotation_map = {dict[str, Any]: JSON(), datetime: UTCDateTime()}


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (CheckConstraint(_one_of("status", JOB_STATUSES), name="ck_jobs_status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), index=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_by: Mapped[str | None] = mapped_column(Text)
    # Raised by every claim: a write on behalf of a claim checks it, so a coordinator that lost the
    # job (paused past its heartbeat) cannot write once another has taken over.
    claim_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    heartbeat_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    # The user who submitted it (API keys); None for jobs submitted with the server's one token
    # or on the command line, which only admins see through the API.
    owner: Mapped[str | None] = mapped_column(String(100), index=True)


class Candidate(Base):
    __tablename__ = "candidates"
    __table_args__ = (
        UniqueConstraint("job_id", "seq", name="uq_candidates_job_seq"),
        UniqueConstraint("job_id", "arch_id", name="uq_candidates_job_arch"),  # never evaluated twice in a job
        Index("ix_candidates_job_status", "job_id", "status"),
        CheckConstraint(_one_of("status", CANDIDATE_STATUSES), name="ck_candidates_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    seq: Mapped[int]  # proposal order within the job
    arch_id: Mapped[str] = mapped_column(String(64))
    arch: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    accuracy: Mapped[float | None] = mapped_column(Float)
    params: Mapped[float | None] = mapped_column(Float)
    flops: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]]  # reported values other than the METRICS columns
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    proposed_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    eval_seconds: Mapped[float | None] = mapped_column(Float)


class Verification(Base):
    """The second fidelity of a candidate: standalone training (the verified stage), its best
    epoch on validation and that epoch's test accuracy. One per candidate."""

    __tablename__ = "verifications"
    __table_args__ = (UniqueConstraint("candidate_id", name="uq_verifications_candidate"),)  # verified once

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    init: Mapped[str] = mapped_column(String(16))  # inherited | scratch
    val_accuracy: Mapped[float] = mapped_column(Float)  # of the best epoch
    test_accuracy: Mapped[float] = mapped_column(Float)  # of the same epoch
    best_epoch: Mapped[int]
    epochs_trained: Mapped[int]
    epochs: Mapped[int]  # asked for; fewer were trained when the scheduler stopped the trial early
    seconds: Mapped[float] = mapped_column(Float)
    weights: Mapped[str | None] = mapped_column(Text)  # safetensors of the best epoch's standalone model
    finished_at: Mapped[datetime]


class Reference(Base):
    """A member of the space's plain family (search_spaces.base.PlainModel) that the verified
    stage trains beside the job's candidates: never a candidate of the search."""

    __tablename__ = "plain_references"
    __table_args__ = (UniqueConstraint("job_id", "name", name="uq_plain_references_job_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(32))  # plain-XS … plain-XL
    arch_id: Mapped[str] = mapped_column(String(64))
    arch: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]  # as an evaluator scored it: accuracy (inherited), params, FLOPs, latency
    created_at: Mapped[datetime]


class Training(Base):
    """One standalone training of the verified stage: a candidate's or a reference's, one seed.
    (A candidate's training with the job's seed is also its Verification, which keeps the weights.)"""

    __tablename__ = "trainings"
    __table_args__ = (
        UniqueConstraint("candidate_id", "seed", name="uq_trainings_candidate_seed"),
        UniqueConstraint("reference_id", "seed", name="uq_trainings_reference_seed"),
        CheckConstraint("(candidate_id IS NULL) <> (reference_id IS NULL)", name="ck_trainings_one_subject"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    reference_id: Mapped[int | None] = mapped_column(ForeignKey("plain_references.id", ondelete="CASCADE"))
    seed: Mapped[int] = mapped_column(BigInteger)
    init: Mapped[str] = mapped_column(String(16))
    val_accuracy: Mapped[float] = mapped_column(Float)
    test_accuracy: Mapped[float] = mapped_column(Float)
    test_examples: Mapped[int]  # of the test split: what the accuracy's uncertainty depends on
    best_epoch: Mapped[int]
    epochs_trained: Mapped[int]
    epochs: Mapped[int]
    seconds: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[datetime]


class RungScore(Base):
    """A candidate's accuracy at a rung of successive halving above its inherited score (rung 1, 2,
    ...: the job's `rungs` section says what each is, `fidelity` describes it), or why scoring it
    failed. One per candidate and rung."""

    __tablename__ = "rung_scores"
    __table_args__ = (
        UniqueConstraint("candidate_id", "rung", name="uq_rung_scores_candidate_rung"),
        CheckConstraint("(accuracy IS NULL) <> (error IS NULL)", name="ck_rung_scores_result"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    rung: Mapped[int]
    fidelity: Mapped[str] = mapped_column(String(64))  # e.g. "fine-tuned 50 steps"
    accuracy: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[datetime]


class Artifact(Base):
    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))  # e.g. supernet_checkpoint, export
    path: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]]


class Coordinator(Base):
    """A running coordinator (`nas coordinator`, or one that `nas serve` runs): alive while its
    heartbeat is fresh, so that the API can tell a client whether anything will run its job."""

    __tablename__ = "coordinators"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]


class User(Base):
    """A user of the API: a name, the SHA-256 of their key (keys are random, so a fast hash is
    safe; the key itself is shown once), admin or not, revoked or not."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    admin: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
