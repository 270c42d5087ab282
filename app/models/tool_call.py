"""Recorded tool-call results, one row per distinct call of a tool."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column


class ToolCall(Base):
    __tablename__ = "tool_call"
    __table_args__ = (
        UniqueConstraint("workspace_id", "tool_name", "call_hash"),
        Index("ix_tool_call_workspace_tool_created", "workspace_id", "tool_name", "created_at"),
    )

    workspace_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("workspace.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tool_name: Mapped[str] = mapped_column(Text, nullable=False)
    call_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    input: Mapped[Any] = mapped_column(JSONB, nullable=False)
    output: Mapped[str] = mapped_column(Text, server_default="", nullable=False)
    success: Mapped[bool] = mapped_column(Boolean, server_default="true", nullable=False)
    score: Mapped[float | None] = mapped_column(Float)
    token_cost: Mapped[float] = mapped_column(Float, server_default="0", nullable=False)
    time_cost: Mapped[float] = mapped_column(Float, server_default="0", nullable=False)
    summary: Mapped[str] = mapped_column(Text, server_default="", nullable=False)
    evaluation: Mapped[str] = mapped_column(Text, server_default="", nullable=False)
    is_judged: Mapped[bool] = mapped_column(Boolean, server_default="false", nullable=False)
    is_summarized: Mapped[bool] = mapped_column(Boolean, server_default="false", nullable=False)
    call_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
