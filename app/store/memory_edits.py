"""Direct edits of memories (the /v1 API): add, patch and delete, each with its history event.

Vectors are computed before the write transaction opens, never inside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.errors import Conflict, NotFound
from app.models import Memory
from app.services import Services
from app.store.memories import (
    EventRecord,
    NewMemory,
    delete_memories,
    embedding_text,
    ensure_workspace,
    get_memories,
    insert_memories,
    memory_snapshot,
    record_events,
)

REASON = "edited through /v1"


async def add_memories(
    services: Services, workspace_id: str, memories: Sequence[NewMemory], *, request_id: str | None = None
) -> list[Memory]:
    """Embed and store new memories (no LLM involved); ids already stored are a :class:`Conflict`."""
    vectors = await services.embedder.embed([m.embedding_text() for m in memories])
    for memory, vector in zip(memories, vectors, strict=True):
        memory.embedding = vector
    ids = [m.memory_id for m in memories]
    if len(set(ids)) != len(ids):
        raise Conflict("the same memory_id appears twice in the request")
    async with services.db.session() as session:
        taken = await get_memories(session, workspace_id, ids)
        if taken:
            raise Conflict(
                f"memory ids already stored in workspace {workspace_id!r}: "
                + ", ".join(sorted(m.memory_id for m in taken))
            )
        await ensure_workspace(session, workspace_id)
        rows = await insert_memories(session, workspace_id, memories)
        await record_events(
            session,
            workspace_id,
            [EventRecord(m.memory_id, "add", after=memory_snapshot(m), reason=REASON) for m in rows],
            request_id,
        )
    return rows


@dataclass
class MemoryPatch:
    """Fields to change; ``metadata`` is merged key by key (a None value removes the key)."""

    changes: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] | None = None


# Fields the vector is computed from (embedding_text).
TEXT_FIELDS = ("when_to_use", "content", "target")


async def patch_memory(
    services: Services,
    workspace_id: str,
    memory_id: str,
    patch: MemoryPatch,
    *,
    request_id: str | None = None,
) -> Memory:
    """Apply ``patch`` and record an 'update' event with the versions before and after.

    When the text changes the vector is recomputed first, outside the transaction.
    """
    embedding: list[float] | None = None
    if any(name in patch.changes for name in TEXT_FIELDS):
        async with services.db.session() as session:
            current = await _locked(session, workspace_id, memory_id, lock=False)
            text = _embedding_text(current, patch)
        embedding = (await services.embedder.embed([text]))[0]
    async with services.db.session() as session:
        memory = await _locked(session, workspace_id, memory_id, lock=True)
        before = memory_snapshot(memory)
        for name, value in patch.changes.items():
            setattr(memory, name, value)
        if patch.metadata is not None:
            merged = {**memory.metadata_, **patch.metadata}
            memory.metadata_ = {k: v for k, v in merged.items() if v is not None}
        if embedding is not None:
            memory.embedding = embedding
        memory.time_modified = datetime.now(UTC)
        await session.flush()
        await record_events(
            session,
            workspace_id,
            [EventRecord(memory_id, "update", before=before, after=memory_snapshot(memory), reason=REASON)],
            request_id,
        )
    return memory


def _embedding_text(memory: Memory, patch: MemoryPatch) -> str:
    when_to_use = patch.changes.get("when_to_use", memory.when_to_use)
    content = patch.changes.get("content", memory.content)
    target = patch.changes.get("target", memory.target)
    return embedding_text(when_to_use or "", content or "", memory_type=memory.memory_type, target=target)


async def _locked(session: Any, workspace_id: str, memory_id: str, *, lock: bool) -> Memory:
    query = select(Memory).where(Memory.workspace_id == workspace_id, Memory.memory_id == memory_id)
    if lock:
        query = query.with_for_update()
    memory = await session.scalar(query)
    if memory is None:
        raise NotFound(f"no memory {memory_id!r} in workspace {workspace_id!r}")
    return memory


async def delete_memory(
    services: Services, workspace_id: str, memory_id: str, *, request_id: str | None = None
) -> None:
    """Delete one memory, keeping its last version in history."""
    async with services.db.session() as session:
        deleted = await delete_memories(
            session, workspace_id, [memory_id], reason=REASON, request_id=request_id
        )
    if not deleted:
        raise NotFound(f"no memory {memory_id!r} in workspace {workspace_id!r}")
