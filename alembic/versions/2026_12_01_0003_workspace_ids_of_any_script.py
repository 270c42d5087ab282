"""Let workspace ids be any script, with spaces and '@'; refuse what cannot be a file name.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

ReMe accepts workspace ids such as "user@example.com", "张三" or "my workspace"; the old
check allowed only [A-Za-z0-9_.:-]. Ids still become file names in dump and load, so '/',
'\\', control characters, "." and ".." stay refused. Every id the old rule allowed passes the
new one.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_RULE = r"char_length(id) BETWEEN 1 AND 128 AND id !~ '[/\\\x01-\x1f\x7f-\x9f]' AND id NOT IN ('.', '..')"
OLD_RULE = "id ~ '^[A-Za-z0-9_.:-]{1,128}$'"


def upgrade() -> None:
    # 0001 named it through the naming convention, which prefixed the table name once more.
    op.execute("ALTER TABLE workspace DROP CONSTRAINT IF EXISTS ck_workspace_ck_workspace_id_pattern")
    op.execute("ALTER TABLE workspace DROP CONSTRAINT IF EXISTS ck_workspace_id_pattern")
    op.execute(f"ALTER TABLE workspace ADD CONSTRAINT ck_workspace_id_rule CHECK ({NEW_RULE})")


def downgrade() -> None:
    op.execute("ALTER TABLE workspace DROP CONSTRAINT ck_workspace_id_rule")
    # NOT VALID: workspaces created under the new rule stay; new ones follow the old rule.
    name = "ck_workspace_ck_workspace_id_pattern"
    op.execute(f"ALTER TABLE workspace ADD CONSTRAINT {name} CHECK ({OLD_RULE}) NOT VALID")
