"""Writing and reading memories, their workspaces and their history."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.citus import workspace_lock_statement
from app.errors import Conflict
from app.models import Memory, MemoryEvent, Workspace
from app.store.sql import among

REME_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def new_memory_id() -> str:
    """32 hex characters, as ReMe's ids are."""
    return uuid.uuid4().hex


def format_time(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime(REME_TIME_FORMAT)


def parse_time(value: Any) -> datetime | None:
    """Read ReMe's "YYYY-mm-dd HH:MM:SS" (taken as UTC) or ISO 8601; None when absent."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip().replace("Z", "+00:00")
        try:
            parsed = datetime.strptime(text, REME_TIME_FORMAT)
        except ValueError:
            parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# Characters of when_to_use plus content: the full-text index of a memory must stay under
# PostgreSQL's 1 MB tsvector limit, which a few hundred thousand distinct words reach.
MAX_MEMORY_TEXT_CHARS = 100_000


def check_memory_text(when_to_use: str, content: str) -> None:
    """A ``ValueError`` naming the limit when a memory's text is too long to index."""
    size = len(when_to_use) + len(content)
    if size > MAX_MEMORY_TEXT_CHARS:
        raise ValueError(
            f"when_to_use and content hold {size} characters; the limit is {MAX_MEMORY_TEXT_CHARS}"
        )


def embedding_text(when_to_use: str, content: str, *, memory_type: str = "", target: str = "") -> str:
    """What a memory's vector encodes: the situation it is for, else its content.

    A personal memory is about its ``target`` (a person): the vector carries the name too
    ("Caroline: I went to a support group"), so that a question naming the person finds their
    memories, unless the text already names them.
    """
    text = when_to_use or content
    if memory_type == "personal" and target and target.casefold() not in text.casefold():
        return f"{target}: {text}"
    return text


@dataclass
class NewMemory:
    """A memory about to be written; embeddings are computed before the transaction."""

    memory_type: str
    when_to_use: str
    content: str
    embedding: list[float] | None = None
    memory_id: str = field(default_factory=new_memory_id)
    score: float = 0.0
    target: str = ""
    reflection_subject: str = ""
    author: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    freq: int = 0
    utility: int = 0
    event_time: datetime | None = None
    time_created: datetime | None = None
    time_modified: datetime | None = None
    source_trajectory_id: uuid.UUID | None = None

    def embedding_text(self) -> str:
        return embedding_text(
            self.when_to_use, self.content, memory_type=self.memory_type, target=self.target
        )

    def row(self, workspace_id: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "workspace_id": workspace_id,
            "memory_id": self.memory_id,
            "memory_type": self.memory_type,
            "when_to_use": self.when_to_use,
            "content": self.content,
            "score": self.score,
            "target": self.target,
            "reflection_subject": self.reflection_subject,
            "author": self.author,
            "metadata_": self.metadata,
            "freq": self.freq,
            "utility": self.utility,
            "event_time": self.event_time,
            "time_created": self.time_created or now,
            "time_modified": self.time_modified or self.time_created or now,
            "embedding": self.embedding,
            "source_trajectory_id": self.source_trajectory_id,
        }


def reme_fields(memory: Memory | NewMemory, workspace_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """The fields every ReMe memory dict has, from a stored row or one about to be written."""
    return {
        "workspace_id": workspace_id,
        "memory_id": memory.memory_id,
        "memory_type": memory.memory_type,
        "when_to_use": memory.when_to_use,
        "content": memory.content,
        "score": memory.score,
        "time_created": format_time(memory.time_created),
        "time_modified": format_time(memory.time_modified),
        "author": memory.author,
        "metadata": metadata,
    }


def memory_to_reme(memory: Memory, **extra: Any) -> dict[str, Any]:
    """A memory in ReMe's wire format (no embedding); ``extra`` adds fields such as similarity."""
    metadata = dict(memory.metadata_ or {})
    metadata["freq"] = memory.freq
    metadata["utility"] = memory.utility
    if memory.event_time is not None:
        metadata.setdefault("event_time", format_time(memory.event_time))
    out = reme_fields(memory, memory.workspace_id, metadata)
    if memory.memory_type == "personal":
        out["target"] = memory.target
        out["reflection_subject"] = memory.reflection_subject
    out.update(extra)
    return out


def memory_snapshot(memory: Memory) -> dict[str, Any]:
    """The version of a memory kept in history (ReMe fields, no vector)."""
    snapshot = memory_to_reme(memory)
    snapshot["target"] = memory.target
    snapshot["reflection_subject"] = memory.reflection_subject
    snapshot["event_time"] = memory.event_time.isoformat() if memory.event_time else None
    return snapshot


async def ensure_workspace(session: AsyncSession, workspace_id: str, description: str = "") -> None:
    """A workspace comes into being with its first write."""
    await session.execute(
        pg_insert(Workspace)
        .values(id=workspace_id, description=description)
        .on_conflict_do_nothing(index_elements=["id"])
    )


async def hold_workspace(session: AsyncSession, workspace_id: str, *, doing: str) -> None:
    """Keep the workspace from being deleted until the transaction ends.

    For the last write of a flow that created (or found) the workspace in an earlier
    transaction: if the workspace was deleted meanwhile, :class:`Conflict` instead of
    creating it again. A delete that comes later waits for this transaction (FOR KEY SHARE).
    """
    found = await session.scalar(
        select(Workspace.id).where(Workspace.id == workspace_id).with_for_update(key_share=True)
    )
    if found is None:
        raise Conflict(
            f"workspace {workspace_id!r} was deleted while {doing} was running; nothing was stored"
        )


async def lock_workspace(session: AsyncSession, workspace_id: str) -> None:
    """Serialise writers of one workspace until the transaction ends."""
    statement = workspace_lock_statement(session, "hashtext('reme:ws:' || :workspace_id)")
    await session.execute(text(statement), {"workspace_id": workspace_id})


async def insert_memories(
    session: AsyncSession, workspace_id: str, memories: Sequence[NewMemory]
) -> list[Memory]:
    """Insert many memories in one statement and return them as rows."""
    if not memories:
        return []
    rows = [m.row(workspace_id) for m in memories]
    result = await session.scalars(insert(Memory).returning(Memory), rows)
    return list(result.all())


@dataclass
class EventRecord:
    memory_id: str
    action: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str = ""


async def record_events(
    session: AsyncSession,
    workspace_id: str,
    events: Iterable[EventRecord],
    request_id: str | None = None,
) -> None:
    rows = [
        {
            "workspace_id": workspace_id,
            "memory_id": e.memory_id,
            "action": e.action,
            "before": e.before,
            "after": e.after,
            "reason": e.reason,
            "request_id": request_id,
        }
        for e in events
    ]
    if rows:
        await session.execute(insert(MemoryEvent), rows)


async def get_memories(session: AsyncSession, workspace_id: str, memory_ids: Sequence[str]) -> list[Memory]:
    if not memory_ids:
        return []
    result = await session.scalars(
        select(Memory).where(Memory.workspace_id == workspace_id, among(Memory.memory_id, memory_ids))
    )
    return list(result.all())


async def delete_memories(
    session: AsyncSession,
    workspace_id: str,
    memory_ids: Sequence[str],
    *,
    reason: str,
    request_id: str | None = None,
) -> list[str]:
    """Delete memories by id, keeping their last version in history; returns the ids deleted."""
    if not memory_ids:
        return []
    deleted = await session.scalars(
        delete(Memory)
        .where(Memory.workspace_id == workspace_id, among(Memory.memory_id, memory_ids))
        .returning(Memory)
    )
    return await record_deletions(session, workspace_id, list(deleted.all()), reason, request_id)


async def record_deletions(
    session: AsyncSession,
    workspace_id: str,
    deleted: Sequence[Memory],
    reason: str,
    request_id: str | None = None,
) -> list[str]:
    """Keep the last version of deleted memories in history; returns their ids."""
    await record_events(
        session,
        workspace_id,
        [EventRecord(m.memory_id, "delete", before=memory_snapshot(m), reason=reason) for m in deleted],
        request_id,
    )
    return [m.memory_id for m in deleted]


async def memory_counts_by_type(session: AsyncSession) -> dict[str, int]:
    """Memories of every workspace per type (task, personal, tool), for the metrics gauge."""
    rows = await session.execute(select(Memory.memory_type, func.count()).group_by(Memory.memory_type))
    return {memory_type: int(count) for memory_type, count in rows.all()}
