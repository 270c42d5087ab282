"""A lease on trajectories held by a synchronous summary.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

A summary answered synchronously stores its trajectories as pending, then calls the model.
If the process is killed meanwhile they stayed pending forever, indistinguishable from work
in progress. ``lease_until`` says until when the summary is expected to finish; past it the
worker marks them ``failed`` (interrupted), and they can be retried.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("trajectory", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_trajectory_pending_lease",
        "trajectory",
        ["lease_until"],
        postgresql_where=sa.text("status = 'pending' AND lease_until IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_trajectory_pending_lease", table_name="trajectory")
    op.drop_column("trajectory", "lease_until")
