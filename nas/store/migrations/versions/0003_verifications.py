"""verifications: the verified stage's standalone trainings of a job's candidates.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

TIME = sa.DateTime(timezone=True)  # frozen copy of the models' time type (migrations never import them)


def upgrade() -> None:
    op.create_table(
        "verifications",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("candidate_id", sa.Integer(), sa.ForeignKey("candidates.id", ondelete="CASCADE"), nullable=False),
        sa.Column("init", sa.String(16), nullable=False),
        sa.Column("val_accuracy", sa.Float(), nullable=False),
        sa.Column("test_accuracy", sa.Float(), nullable=False),
        sa.Column("best_epoch", sa.Integer(), nullable=False),
        sa.Column("epochs_trained", sa.Integer(), nullable=False),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("weights", sa.Text(), nullable=True),
        sa.Column("finished_at", TIME, nullable=False),
        sa.UniqueConstraint("candidate_id", name="uq_verifications_candidate"),  # verified once
    )
    op.create_index("ix_verifications_job_id", "verifications", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_verifications_job_id", "verifications")
    op.drop_table("verifications")
