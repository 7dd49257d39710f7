"""rung_scores: a candidate's accuracy at the higher fidelities of successive halving (a short
fine-tune from its inherited weights, a short standalone training), one row per rung it reached.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

TIME = sa.DateTime(timezone=True)  # frozen copy of the models' time type (migrations never import them)


def upgrade() -> None:
    op.create_table(
        "rung_scores",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("candidate_id", sa.Integer(), sa.ForeignKey("candidates.id", ondelete="CASCADE"), nullable=False),
        sa.Column("rung", sa.Integer(), nullable=False),
        sa.Column("fidelity", sa.String(64), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("finished_at", TIME, nullable=False),
        sa.UniqueConstraint("candidate_id", "rung", name="uq_rung_scores_candidate_rung"),
        sa.CheckConstraint("(accuracy IS NULL) <> (error IS NULL)", name="ck_rung_scores_result"),
    )


def downgrade() -> None:
    op.drop_table("rung_scores")
