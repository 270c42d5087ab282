"""Reading workspace contents page by page: memories, their history, trajectories.

Pages use keyset cursors on (time, id), so rows written while a client pages through a
list never shift the pages it has not read yet.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import ColumnElement, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, defer

from app.errors import InvalidInput, NotFound
from app.models import Memory, MemoryEvent, Trajectory, ValidationRecord
from app.store.search import SearchFilters

T = TypeVar("T")
Order = Literal["asc", "desc"]


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(*values: Any) -> str:
    """An opaque cursor: the sort key of the last row of a page."""
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: tuple[type, ...]) -> list[Any]:
    """The values of a cursor made by :func:`encode_cursor`; a 400 when it was not."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError("wrong length")
        return [
            datetime.fromisoformat(v) if kind is datetime else kind(v)
            for v, kind in zip(values, kinds, strict=True)
        ]
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise InvalidInput(
            "cursor is not one this service returned",
            errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
        ) from exc


def after_key(
    time_column: InstrumentedAttribute[datetime],
    id_column: InstrumentedAttribute[Any],
    cursor: str | None,
    order: Order,
    id_kind: type = str,
) -> list[ColumnElement[bool]]:
    """The WHERE clause that starts a page right after the cursor's row."""
    if cursor is None:
        return []
    at, last_id = decode_cursor(cursor, (datetime, id_kind))
    # A row comparison, so that an index on (…, time, id) can start the scan at the cursor.
    if order == "asc":
        return [tuple_(time_column, id_column) > tuple_(at, last_id)]
    return [tuple_(time_column, id_column) < tuple_(at, last_id)]


def _ordered(time_column: Any, id_column: Any, order: Order) -> list[Any]:
    if order == "asc":
        return [time_column.asc(), id_column.asc()]
    return [time_column.desc(), id_column.desc()]


async def list_memories(
    session: AsyncSession,
    filters: SearchFilters,
    *,
    limit: int,
    cursor: str | None = None,
    order: Order = "asc",
) -> Page[Memory]:
    """Memories matching ``filters`` by creation time, without their vectors."""
    query = (
        select(Memory)
        .options(defer(Memory.embedding))
        .where(*filters.clauses(), *after_key(Memory.time_created, Memory.memory_id, cursor, order))
        .order_by(*_ordered(Memory.time_created, Memory.memory_id, order))
        .limit(limit + 1)
    )
    rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].time_created, rows[-1].memory_id) if more else None
    return Page(rows, next_cursor)


async def get_memory(session: AsyncSession, workspace_id: str, memory_id: str) -> Memory:
    memory = await session.scalar(
        select(Memory)
        .options(defer(Memory.embedding))
        .where(Memory.workspace_id == workspace_id, Memory.memory_id == memory_id)
    )
    if memory is None:
        raise NotFound(f"no memory {memory_id!r} in workspace {workspace_id!r}")
    return memory


async def memory_history(session: AsyncSession, workspace_id: str, memory_id: str) -> list[MemoryEvent]:
    """Every recorded change of one memory, oldest first (also after it was deleted)."""
    events = await session.scalars(
        select(MemoryEvent)
        .where(MemoryEvent.workspace_id == workspace_id, MemoryEvent.memory_id == memory_id)
        .order_by(MemoryEvent.id)
    )
    found = list(events.all())
    if not found:
        raise NotFound(f"no history for memory {memory_id!r} in workspace {workspace_id!r}")
    return found


async def list_trajectories(
    session: AsyncSession,
    workspace_id: str,
    *,
    limit: int,
    cursor: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    order: Order = "desc",
) -> Page[Trajectory]:
    """Stored trajectories, newest first by default, without their messages."""
    filters: list[ColumnElement[bool]] = [Trajectory.workspace_id == workspace_id]
    if kind:
        filters.append(Trajectory.kind == kind)
    if status:
        filters.append(Trajectory.status == status)
    query = (
        select(Trajectory)
        .options(defer(Trajectory.messages))
        .where(*filters, *after_key(Trajectory.created_at, Trajectory.id, cursor, order, uuid.UUID))
        .order_by(*_ordered(Trajectory.created_at, Trajectory.id, order))
        .limit(limit + 1)
    )
    rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, str(rows[-1].id)) if more else None
    return Page(rows, next_cursor)


@dataclass
class TrajectoryDetail:
    trajectory: Trajectory
    memories: list[Memory]
    validation_records: list[ValidationRecord]


async def get_trajectory(
    session: AsyncSession, workspace_id: str, trajectory_id: uuid.UUID
) -> TrajectoryDetail:
    """A trajectory with the memories extracted from it and every candidate the judge saw."""
    trajectory = await session.get(Trajectory, (workspace_id, trajectory_id))
    if trajectory is None:
        raise NotFound(f"no trajectory {trajectory_id} in workspace {workspace_id!r}")
    memories = await session.scalars(
        select(Memory)
        .options(defer(Memory.embedding))
        .where(Memory.workspace_id == workspace_id, Memory.source_trajectory_id == trajectory_id)
        .order_by(Memory.time_created, Memory.memory_id)
    )
    records = await session.scalars(
        select(ValidationRecord)
        .where(ValidationRecord.workspace_id == workspace_id, ValidationRecord.trajectory_id == trajectory_id)
        .order_by(ValidationRecord.id)
    )
    return TrajectoryDetail(trajectory, list(memories.all()), list(records.all()))
