"""Memories of every type, their history, and the judge's validation records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column

MEMORY_TYPES = ("task", "personal", "tool")
SEARCH_TEXT_SQL = "to_tsvector('english', coalesce(when_to_use, '') || ' ' || coalesce(content, ''))"


# A task memory's text as the duplicate check compares it (trimmed, spaces collapsed, lower
# case), hashed so that any length fits an index entry.
TASK_CONTENT_KEY = r"md5(lower(regexp_replace(btrim(content), '\s+', ' ', 'g')))"


class Memory(Base):
    __tablename__ = "memory"
    __table_args__ = (
        Index(
            "ix_memory_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
        Index("ix_memory_search_text", "search_text", postgresql_using="gin"),
        Index("ix_memory_workspace_type_created", "workspace_id", "memory_type", "time_created"),
        Index("ix_memory_workspace_event_time", "workspace_id", "event_time"),
        Index("ix_memory_workspace_created_id", "workspace_id", "time_created", "memory_id"),
        Index("ix_memory_workspace_target", "workspace_id", "memory_type", "target"),
        # The duplicate check of task summaries compares normalised text (app.store.task).
        Index(
            "ix_memory_task_content_key",
            "workspace_id",
            text(TASK_CONTENT_KEY),
            postgresql_where=text("memory_type = 'task'"),
        ),
    )

    workspace_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("workspace.id", ondelete="CASCADE"), primary_key=True
    )
    memory_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    memory_type: Mapped[str] = mapped_column(String(16), nullable=False)
    when_to_use: Mapped[str] = mapped_column(Text, server_default="", nullable=False)
    content: Mapped[str] = mapped_column(Text, server_default="", nullable=False)
    score: Mapped[float] = mapped_column(Float, server_default="0", nullable=False)
    target: Mapped[str] = mapped_column(Text, server_default="", nullable=False)
    reflection_subject: Mapped[str] = mapped_column(Text, server_default="", nullable=False)
    author: Mapped[str] = mapped_column(Text, server_default="", nullable=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default="{}", nullable=False)
    freq: Mapped[int] = mapped_column(Integer, server_default="0", nullable=False)
    utility: Mapped[int] = mapped_column(Integer, server_default="0", nullable=False)
    event_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    time_created: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    time_modified: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    # The dimension is fixed per database by the first migration (see reme_setting).
    embedding: Mapped[list[float] | None] = mapped_column(Vector())
    search_text: Mapped[str] = mapped_column(TSVECTOR, Computed(SEARCH_TEXT_SQL, persisted=True))
    source_trajectory_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class MemoryEvent(Base):
    """One change to one memory; ``before``/``after`` keep the old and new versions."""

    __tablename__ = "memory_event"
    __table_args__ = (Index("ix_memory_event_workspace_memory", "workspace_id", "memory_id", "id"),)

    workspace_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("workspace.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    memory_id: Mapped[str] = mapped_column(String(128), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    reason: Mapped[str] = mapped_column(Text, server_default="", nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()


class ValidationRecord(Base):
    """Every candidate the judge saw, kept or rejected."""

    __tablename__ = "validation_record"
    __table_args__ = (Index("ix_validation_record_trajectory", "workspace_id", "trajectory_id"),)

    workspace_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("workspace.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    trajectory_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    memory_id: Mapped[str | None] = mapped_column(String(128))
    candidate: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    is_valid: Mapped[bool] = mapped_column(Boolean, nullable=False)
    score: Mapped[float] = mapped_column(Float, server_default="0", nullable=False)
    feedback: Mapped[str] = mapped_column(Text, server_default="", nullable=False)
    model: Mapped[str] = mapped_column(Text, server_default="", nullable=False)
    created_at: Mapped[datetime] = created_at_column()
