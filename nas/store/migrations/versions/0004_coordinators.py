"""coordinators: the coordinators alive, by heartbeat (GET /health, queued jobs' status).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

TIME = sa.DateTime(timezone=True)  # frozen copy of the models' time type (migrations never import them)


def upgrade() -> None:
    op.create_table(
        "coordinators",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("heartbeat_at", TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("coordinators")
