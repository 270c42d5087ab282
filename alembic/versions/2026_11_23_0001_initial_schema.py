"""Initial schema: workspaces, memories with embeddings, trajectories, history, jobs, keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

The embedding column takes its dimension from the service settings at the time this
migration runs, and the model and dimension are recorded in ``reme_setting``; start-up
refuses settings that disagree with them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

from app.settings import get_settings

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# pgvector indexes `vector` up to 2,000 dimensions; above that the index is built on halfvec.
MAX_VECTOR_INDEX_DIM = 2000
SEARCH_TEXT_SQL = "to_tsvector('english', coalesce(when_to_use, '') || ' ' || coalesce(content, ''))"


def embedding_space() -> tuple[str, int]:
    settings = op.get_context().config.attributes.get("settings") or get_settings()
    return settings.embedding.resolved_model, settings.embedding.resolved_dim


def workspace_fk() -> sa.ForeignKey:
    return sa.ForeignKey("workspace.id", ondelete="CASCADE")


def created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    model, dim = embedding_space()
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")

    op.create_table(
        "reme_setting",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_reme_setting"),
    )
    op.bulk_insert(
        sa.table("reme_setting", sa.column("key"), sa.column("value")),
        [{"key": "embedding_model", "value": model}, {"key": "embedding_dim", "value": str(dim)}],
    )

    op.create_table(
        "workspace",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("settings", postgresql.JSONB(), server_default="{}", nullable=False),
        created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_workspace"),
        sa.CheckConstraint("id ~ '^[A-Za-z0-9_.:-]{1,128}$'", name="ck_workspace_id_pattern"),
    )

    op.create_table(
        "memory",
        sa.Column("workspace_id", sa.String(128), workspace_fk(), nullable=False),
        sa.Column("memory_id", sa.String(128), nullable=False),
        sa.Column("memory_type", sa.String(16), nullable=False),
        sa.Column("when_to_use", sa.Text(), server_default="", nullable=False),
        sa.Column("content", sa.Text(), server_default="", nullable=False),
        sa.Column("score", sa.Float(), server_default="0", nullable=False),
        sa.Column("target", sa.Text(), server_default="", nullable=False),
        sa.Column("reflection_subject", sa.Text(), server_default="", nullable=False),
        sa.Column("author", sa.Text(), server_default="", nullable=False),
        sa.Column("metadata", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("freq", sa.Integer(), server_default="0", nullable=False),
        sa.Column("utility", sa.Integer(), server_default="0", nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("time_created", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("time_modified", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("embedding", Vector(dim), nullable=True),
        sa.Column("search_text", postgresql.TSVECTOR(), sa.Computed(SEARCH_TEXT_SQL, persisted=True)),
        sa.Column("source_trajectory_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.PrimaryKeyConstraint("workspace_id", "memory_id", name="pk_memory"),
    )
    if dim <= MAX_VECTOR_INDEX_DIM:
        op.create_index(
            "ix_memory_embedding_hnsw",
            "memory",
            ["embedding"],
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        )
    else:
        op.execute(
            f"CREATE INDEX ix_memory_embedding_hnsw ON memory USING hnsw "
            f"((embedding::halfvec({dim})) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)"
        )
    op.create_index("ix_memory_search_text", "memory", ["search_text"], postgresql_using="gin")
    op.create_index(
        "ix_memory_workspace_type_created", "memory", ["workspace_id", "memory_type", "time_created"]
    )
    op.create_index("ix_memory_workspace_event_time", "memory", ["workspace_id", "event_time"])
    op.create_index("ix_memory_workspace_target", "memory", ["workspace_id", "memory_type", "target"])

    op.create_table(
        "memory_event",
        sa.Column("workspace_id", sa.String(128), workspace_fk(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("memory_id", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("before", postgresql.JSONB(), nullable=True),
        sa.Column("after", postgresql.JSONB(), nullable=True),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        created_at(),
        sa.PrimaryKeyConstraint("workspace_id", "id", name="pk_memory_event"),
    )
    op.create_index("ix_memory_event_workspace_memory", "memory_event", ["workspace_id", "memory_id", "id"])

    op.create_table(
        "validation_record",
        sa.Column("workspace_id", sa.String(128), workspace_fk(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("trajectory_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("memory_id", sa.String(128), nullable=True),
        sa.Column("candidate", postgresql.JSONB(), nullable=False),
        sa.Column("is_valid", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Float(), server_default="0", nullable=False),
        sa.Column("feedback", sa.Text(), server_default="", nullable=False),
        sa.Column("model", sa.Text(), server_default="", nullable=False),
        created_at(),
        sa.PrimaryKeyConstraint("workspace_id", "id", name="pk_validation_record"),
    )
    op.create_index("ix_validation_record_trajectory", "validation_record", ["workspace_id", "trajectory_id"])

    op.create_table(
        "trajectory",
        sa.Column("workspace_id", sa.String(128), workspace_fk(), nullable=False),
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("task_id", sa.Text(), server_default="", nullable=False),
        sa.Column("messages", postgresql.JSONB(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("metadata", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("status", sa.String(16), server_default="pending", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        created_at(),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("workspace_id", "id", name="pk_trajectory"),
    )
    op.create_index("ix_trajectory_workspace_created", "trajectory", ["workspace_id", "created_at"])

    op.create_table(
        "tool_call",
        sa.Column("workspace_id", sa.String(128), workspace_fk(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("tool_name", sa.Text(), nullable=False),
        sa.Column("call_hash", sa.String(64), nullable=False),
        sa.Column("input", postgresql.JSONB(), nullable=False),
        sa.Column("output", sa.Text(), server_default="", nullable=False),
        sa.Column("success", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("token_cost", sa.Float(), server_default="0", nullable=False),
        sa.Column("time_cost", sa.Float(), server_default="0", nullable=False),
        sa.Column("summary", sa.Text(), server_default="", nullable=False),
        sa.Column("evaluation", sa.Text(), server_default="", nullable=False),
        sa.Column("is_judged", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("is_summarized", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("call_time", sa.DateTime(timezone=True), nullable=True),
        created_at(),
        sa.PrimaryKeyConstraint("workspace_id", "id", name="pk_tool_call"),
        sa.UniqueConstraint(
            "workspace_id", "tool_name", "call_hash", name="uq_tool_call_workspace_id_tool_name_call_hash"
        ),
    )
    op.create_index(
        "ix_tool_call_workspace_tool_created", "tool_call", ["workspace_id", "tool_name", "created_at"]
    )

    op.create_table(
        "job",
        sa.Column("workspace_id", sa.String(128), workspace_fk(), nullable=False),
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(16), server_default="queued", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default="5", nullable=False),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("run_after", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        created_at(),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "id", name="pk_job"),
    )
    op.create_index("ix_job_status_run_after", "job", ["status", "run_after"])
    op.create_index("ix_job_id", "job", ["id"])

    op.create_table(
        "api_key",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_sha256", sa.String(64), nullable=False),
        sa.Column("workspaces", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("scope", sa.String(8), nullable=False),
        created_at(),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_key"),
        sa.UniqueConstraint("key_sha256", name="uq_api_key_key_sha256"),
    )


def downgrade() -> None:
    for table in (
        "api_key",
        "job",
        "tool_call",
        "trajectory",
        "validation_record",
        "memory_event",
        "memory",
        "workspace",
        "reme_setting",
    ):
        op.drop_table(table)
