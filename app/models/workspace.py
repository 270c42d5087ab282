"""Workspaces: memory namespaces (a user, an agent, a task family)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column

WORKSPACE_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
WORKSPACE_ID_RE = re.compile(WORKSPACE_ID_PATTERN)


class Workspace(Base):
    __tablename__ = "workspace"
    __table_args__ = (CheckConstraint(f"id ~ '{WORKSPACE_ID_PATTERN}'", name="id_pattern"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    description: Mapped[str] = mapped_column(Text, server_default="", nullable=False)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}", nullable=False)
    created_at: Mapped[datetime] = created_at_column()
