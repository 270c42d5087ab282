"""Index task memories by their normalised text, for the duplicate check of summaries.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

``summary_task_memory`` drops a candidate whose text equals a stored task memory's (trimmed,
spaces collapsed, lower case). That comparison joined every task memory of the workspace and
normalised each one: a full scan per summary, twice (before the writes and again under the
workspace lock), measured at 1.9 s for a 100k workspace. The index holds an md5 of the same
normalised text (any length fits an entry); the check compares the hashes through it, then
the texts themselves.

Building it reads every task memory once and blocks writes to ``memory`` meanwhile.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_memory_task_content_key ON memory "
        r"(workspace_id, md5(lower(regexp_replace(btrim(content), '\s+', ' ', 'g')))) "
        "WHERE memory_type = 'task'"
    )


def downgrade() -> None:
    op.drop_index("ix_memory_task_content_key", table_name="memory")
