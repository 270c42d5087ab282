"""API keys: creation, lookup by hash, and what a key may do.

A key is shown once at creation; only its sha256 is stored. A key carries a scope
(read < write < admin) and either a list of workspaces or access to all of them.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiKey

SCOPE_RANK = {"read": 0, "write": 1, "admin": 2}
KEY_PREFIX = "reme_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    """The identity behind a request's key."""

    key_id: uuid.UUID
    name: str
    scope: str
    workspaces: frozenset[str] | None  # None: every workspace

    def can(self, scope: str, workspace_id: str | None = None) -> bool:
        if SCOPE_RANK[self.scope] < SCOPE_RANK[scope]:
            return False
        if workspace_id is None:
            return self.workspaces is None
        return self.workspaces is None or workspace_id in self.workspaces


async def create_key(
    session: AsyncSession, *, name: str, scope: str, workspaces: list[str] | None
) -> tuple[ApiKey, str]:
    """Store a new key's hash and return the row and the key itself (shown once)."""
    if scope not in SCOPE_RANK:
        raise ValueError(f"scope must be one of {', '.join(SCOPE_RANK)}")
    key = generate_key()
    row = ApiKey(id=uuid.uuid4(), name=name, key_sha256=hash_key(key), workspaces=workspaces, scope=scope)
    session.add(row)
    await session.flush()
    return row, key


async def find_principal(session: AsyncSession, key: str) -> Principal | None:
    row = (
        await session.scalars(
            select(ApiKey).where(ApiKey.key_sha256 == hash_key(key), ApiKey.revoked_at.is_(None))
        )
    ).one_or_none()
    if row is None:
        return None
    workspaces = None if row.workspaces is None else frozenset(row.workspaces)
    return Principal(key_id=row.id, name=row.name, scope=row.scope, workspaces=workspaces)


async def list_keys(session: AsyncSession) -> list[dict[str, Any]]:
    rows = (await session.scalars(select(ApiKey).order_by(ApiKey.created_at))).all()
    return [
        {
            "id": str(r.id),
            "name": r.name,
            "scope": r.scope,
            "workspaces": "*" if r.workspaces is None else ",".join(r.workspaces),
            "created_at": r.created_at.isoformat(timespec="seconds"),
            "revoked_at": r.revoked_at.isoformat(timespec="seconds") if r.revoked_at else "",
        }
        for r in rows
    ]


async def revoke_key(session: AsyncSession, key_id: uuid.UUID) -> bool:
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
        .returning(ApiKey.id)
    )
    return result.first() is not None
