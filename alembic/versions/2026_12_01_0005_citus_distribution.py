"""On a Citus coordinator, distribute the workspace tables by workspace and co-locate them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Whether this runs is decided by REME_DATABASE__CITUS: ``auto`` (the default) when the
database has the citus extension, ``on`` requires it, ``off`` never. On plain PostgreSQL it
changes nothing.

``workspace`` is distributed by its id and every workspace table by ``workspace_id``,
co-located with it, so one workspace's rows of every table live on the same shard and a
statement naming one workspace runs there alone. Their primary keys, the unique constraint
on tool calls and the foreign keys to ``workspace`` already start with the workspace, as
Citus requires; nothing needs adjusting. Global tables (API keys, the service's settings)
become reference tables, copied to every node. ``alembic_version`` stays on the coordinator.
Existing rows are moved to the shards; indexes (HNSW included) are built on every shard, and
later migrations' DDL is propagated by Citus.

There is no way back: going below 0005 on Citus is refused (undistributing would pull every
row back to the coordinator; do it by hand with ``undistribute_table`` if you mean it).
"""

from collections.abc import Sequence

from alembic import op

from app.citus import detect
from app.settings import get_settings

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Distributed by workspace_id, co-located with workspace (parents before the tables that refer to them).
WORKSPACE_TABLES = ("memory", "memory_event", "validation_record", "trajectory", "tool_call", "job")
REFERENCE_TABLES = ("reme_setting", "api_key")


def on_citus() -> bool:
    settings = op.get_context().config.attributes.get("settings") or get_settings()
    return detect(op.get_bind(), settings.database.citus)


def upgrade() -> None:
    if not on_citus():
        return
    # One connection per worker for the whole migration: DDL and data moves in one transaction.
    op.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
    for table in REFERENCE_TABLES:
        op.execute(f"SELECT create_reference_table('public.{table}')")
    op.execute("SELECT create_distributed_table('public.workspace', 'id', colocate_with => 'none')")
    for table in WORKSPACE_TABLES:
        op.execute(
            f"SELECT create_distributed_table('public.{table}', 'workspace_id', colocate_with => 'workspace')"
        )
    # The rows were copied to the shards; the coordinator's own copies are dead weight
    # (emptied once every table is distributed, the referring tables first).
    for table in (*reversed(WORKSPACE_TABLES), "workspace", *REFERENCE_TABLES):
        op.execute(f"SELECT truncate_local_data_after_distributing_table('public.{table}')")


def downgrade() -> None:
    if not on_citus():
        return
    raise RuntimeError(
        "refusing to downgrade below 0005 on Citus: the tables are distributed across the cluster. "
        "Restore a backup taken before 0005, or undistribute every table by hand "
        "(SELECT undistribute_table('memory') ...) and then stamp 0004"
    )
