"""Raw inputs of summary requests, stored before any model call."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column

TRAJECTORY_STATUSES = ("pending", "processing", "done", "failed")


class Trajectory(Base):
    __tablename__ = "trajectory"
    __table_args__ = (
        Index("ix_trajectory_workspace_created", "workspace_id", "created_at"),
        Index(
            "ix_trajectory_pending_lease",
            "lease_until",
            postgresql_where=text("status = 'pending' AND lease_until IS NOT NULL"),
        ),
    )

    workspace_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("workspace.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    task_id: Mapped[str] = mapped_column(Text, server_default="", nullable=False)
    messages: Mapped[list[Any]] = mapped_column(JSONB, nullable=False)
    score: Mapped[float | None] = mapped_column(Float)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default="{}", nullable=False)
    status: Mapped[str] = mapped_column(String(16), server_default="pending", nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0", nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A synchronous summary works on a pending trajectory until then (None: a job owns it).
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
