"""references and trainings: the plain family trained beside a job's candidates, and every
standalone training of the verified stage by seed.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

TIME = sa.DateTime(timezone=True)  # frozen copy of the models' time type (migrations never import them)


def upgrade() -> None:
    op.create_table(
        "plain_references",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("arch_id", sa.String(64), nullable=False),
        sa.Column("arch", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.UniqueConstraint("job_id", "name", name="uq_plain_references_job_name"),
    )
    op.create_table(
        "trainings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("candidate_id", sa.Integer(), sa.ForeignKey("candidates.id", ondelete="CASCADE"), nullable=True),
        sa.Column("reference_id", sa.Integer(), sa.ForeignKey("plain_references.id", ondelete="CASCADE"), nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("init", sa.String(16), nullable=False),
        sa.Column("val_accuracy", sa.Float(), nullable=False),
        sa.Column("test_accuracy", sa.Float(), nullable=False),
        sa.Column("test_examples", sa.Integer(), nullable=False),
        sa.Column("best_epoch", sa.Integer(), nullable=False),
        sa.Column("epochs_trained", sa.Integer(), nullable=False),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("finished_at", TIME, nullable=False),
        sa.UniqueConstraint("candidate_id", "seed", name="uq_trainings_candidate_seed"),
        sa.UniqueConstraint("reference_id", "seed", name="uq_trainings_reference_seed"),
        sa.CheckConstraint("(candidate_id IS NULL) <> (reference_id IS NULL)", name="ck_trainings_one_subject"),
    )


def downgrade() -> None:
    op.drop_table("trainings")
    op.drop_table("plain_references")
