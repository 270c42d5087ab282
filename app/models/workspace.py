"""Workspaces: memory namespaces (a user, an agent, a task family)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column

WORKSPACE_ID_MAX_LENGTH = 128
# Ids name users and teams in any script ("user@example.com", "张三", "my workspace"), and
# they become file names (<workspace_id>.jsonl) in dump and load: no path separators, no
# control characters, and not "." or "..".
_FORBIDDEN_IN_WORKSPACE_ID = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]")
# The same rule for JSON Schema (OpenAPI, MCP) and for the table's check constraint.
WORKSPACE_ID_JSON_PATTERN = r"^(?!\.\.?$)[^/\\\u0000-\u001f\u007f-\u009f]{1,128}$"
WORKSPACE_ID_CHECK = (
    r"char_length(id) BETWEEN 1 AND 128 AND id !~ '[/\\\x01-\x1f\x7f-\x9f]' AND id NOT IN ('.', '..')"
)


def workspace_id_problem(workspace_id: str) -> str | None:
    """What is wrong with ``workspace_id`` as a workspace id, or None when it is fine."""
    if not 1 <= len(workspace_id) <= WORKSPACE_ID_MAX_LENGTH:
        return f"a workspace id has 1 to {WORKSPACE_ID_MAX_LENGTH} characters, not {len(workspace_id)}"
    if workspace_id in (".", ".."):
        return "a workspace id cannot be '.' or '..'"
    found = _FORBIDDEN_IN_WORKSPACE_ID.search(workspace_id)
    if found:
        return f"a workspace id cannot contain {found.group()!r}: no '/', '\\' or control characters"
    return None


class Workspace(Base):
    __tablename__ = "workspace"
    __table_args__ = (CheckConstraint(WORKSPACE_ID_CHECK, name="id_rule"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    description: Mapped[str] = mapped_column(Text, server_default="", nullable=False)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}", nullable=False)
    created_at: Mapped[datetime] = created_at_column()
