"""Each tool's memory row: the ``memory`` of type ``tool`` whose ``when_to_use`` is the tool's name.

The row is found by exact name (as in ReMe, where the tool name is the memory's identifier).
Rows created here get a deterministic id (md5 of ``tool:<name>``), so two requests creating the
same tool's row at once meet on the primary key instead of making two rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Memory, ToolCall
from app.store.memories import (
    EventRecord,
    NewMemory,
    format_time,
    memory_snapshot,
    memory_to_reme,
    record_events,
)
from app.store.sql import among
from app.store.tool import ToolStatistics

TOOL_MEMORY_TYPE = "tool"


def tool_memory_id(tool_name: str) -> str:
    """The id a tool's memory row gets when this service creates it: 32 hex like ReMe's ids."""
    return hashlib.md5(f"tool:{tool_name}".encode(), usedforsecurity=False).hexdigest()


async def find_tool_memories(
    session: AsyncSession, workspace_id: str, tool_names: Sequence[str], *, lock: bool = False
) -> dict[str, Memory]:
    """Each named tool's memory, matched by exact name; the most recently modified row wins."""
    if not tool_names:
        return {}
    statement = (
        select(Memory)
        .where(
            Memory.workspace_id == workspace_id,
            Memory.memory_type == TOOL_MEMORY_TYPE,
            among(Memory.when_to_use, tool_names),
        )
        .order_by(Memory.when_to_use, Memory.time_modified.desc())
    )
    if lock:
        statement = statement.with_for_update()
    out: dict[str, Memory] = {}
    for memory in (await session.scalars(statement)).all():
        out.setdefault(memory.when_to_use, memory)
    return out


@dataclass
class ToolMemoryUpdate:
    """What changes in a tool's memory row; ``content`` None keeps the stored guideline."""

    tool_name: str
    statistics: ToolStatistics
    embedding: list[float] | None = None
    content: str | None = None
    author: str | None = None
    extra_metadata: dict[str, Any] = field(default_factory=dict)

    def metadata(self, current: dict[str, Any] | None = None) -> dict[str, Any]:
        merged = dict(current or {})
        merged.pop("freq", None)  # counters live in their own columns
        merged.pop("utility", None)
        merged.update(self.extra_metadata)
        merged["tool_name"] = self.tool_name
        merged["statistics"] = self.statistics.as_dict()
        return merged

    @property
    def score(self) -> float:
        return self.statistics.avg_score or 0.0


async def save_tool_memory(
    session: AsyncSession,
    workspace_id: str,
    change: ToolMemoryUpdate,
    *,
    reason: str,
    request_id: str | None = None,
) -> Memory:
    """Create or update a tool's memory row (found by exact name) and record the event."""
    existing = (await find_tool_memories(session, workspace_id, [change.tool_name], lock=True)).get(
        change.tool_name
    )
    if existing is None:
        created = await _insert_tool_memory(session, workspace_id, change)
        if created is not None:
            await record_events(
                session,
                workspace_id,
                [EventRecord(created.memory_id, "add", after=memory_snapshot(created), reason=reason)],
                request_id,
            )
            return created
        # Another request created it between our look-up and our insert: update theirs.
        existing = (await find_tool_memories(session, workspace_id, [change.tool_name], lock=True))[
            change.tool_name
        ]
    before = memory_snapshot(existing)
    existing.metadata_ = change.metadata(existing.metadata_)
    existing.score = change.score
    existing.target = change.tool_name
    existing.time_modified = datetime.now(UTC)
    if change.content is not None:
        existing.content = change.content
    if change.author is not None:
        existing.author = change.author
    if existing.embedding is None and change.embedding is not None:
        existing.embedding = change.embedding
    await session.flush()
    await record_events(
        session,
        workspace_id,
        [
            EventRecord(
                existing.memory_id, "update", before=before, after=memory_snapshot(existing), reason=reason
            )
        ],
        request_id,
    )
    return existing


async def _insert_tool_memory(
    session: AsyncSession, workspace_id: str, change: ToolMemoryUpdate
) -> Memory | None:
    new = NewMemory(
        memory_type=TOOL_MEMORY_TYPE,
        when_to_use=change.tool_name,
        content=change.content or "",
        embedding=change.embedding,
        memory_id=tool_memory_id(change.tool_name),
        score=change.score,
        target=change.tool_name,
        author=change.author or "",
        metadata=change.metadata(),
    )
    row = new.row(workspace_id)
    row["metadata"] = row.pop("metadata_")
    inserted = await session.scalars(
        pg_insert(Memory)
        .values(row)
        .on_conflict_do_nothing(index_elements=["workspace_id", "memory_id"])
        .returning(Memory)
    )
    return inserted.one_or_none()


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def tool_call_to_reme(call: ToolCall) -> dict[str, Any]:
    """A stored call in ReMe's ``ToolCallResult`` shape, plus ``is_judged``."""
    return {
        "create_time": format_time(call.call_time or call.created_at),
        "tool_name": call.tool_name,
        "input": call.input,
        "output": call.output,
        "token_cost": _number(call.token_cost),
        "success": call.success,
        "time_cost": call.time_cost,
        "summary": call.summary,
        "evaluation": call.evaluation,
        "score": call.score if call.score is not None else 0.0,
        "is_judged": call.is_judged,
        "is_summarized": call.is_summarized,
        "call_hash": call.call_hash,
        "metadata": {},
    }


def tool_memory_to_reme(memory: Memory, calls: Sequence[ToolCall]) -> dict[str, Any]:
    """A tool memory in ReMe's wire format, with its retained calls as ``tool_call_results``."""
    return memory_to_reme(memory, tool_call_results=[tool_call_to_reme(c) for c in calls])
