"""Workspaces: create, list, describe and delete memory namespaces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
from app.models import Memory, Trajectory, Workspace, workspace_id_problem


@dataclass
class WorkspaceStats:
    workspace_id: str
    memory_count: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    avg_score: float | None = None
    freq_sum: int = 0
    utility_sum: int = 0
    trajectory_count: int = 0
    last_write: datetime | None = None


def require_valid_workspace_id(workspace_id: str, loc: str = "path") -> None:
    """A 400 naming the rule when an id cannot be a workspace id."""
    problem = workspace_id_problem(workspace_id)
    if problem:
        raise InvalidInput(
            f"invalid workspace id {workspace_id!r}: {problem}",
            errors=[{"loc": [loc, "workspace_id"], "msg": problem}],
        )


async def get_workspace(session: AsyncSession, workspace_id: str) -> Workspace:
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound(f"no workspace {workspace_id!r}")
    return workspace


async def list_workspaces(session: AsyncSession, *, limit: int, after: str | None = None) -> list[Workspace]:
    """Workspaces by id, ``limit`` of them after the id ``after`` (keyset pagination)."""
    query = select(Workspace).order_by(Workspace.id).limit(limit)
    if after is not None:
        query = query.where(Workspace.id > after)
    return list((await session.scalars(query)).all())


async def create_workspace(
    session: AsyncSession, workspace_id: str, *, description: str = "", settings: dict[str, Any] | None = None
) -> Workspace:
    """A new workspace; :class:`Conflict` when the id is taken."""
    created = await session.scalar(
        pg_insert(Workspace)
        .values(id=workspace_id, description=description, settings=settings or {})
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(Workspace)
    )
    if created is None:
        raise Conflict(f"workspace {workspace_id!r} already exists")
    return created


async def workspace_stats(session: AsyncSession, workspace_id: str) -> WorkspaceStats:
    """Counts by memory type, mean quality score, usage counters and the time of the last write."""
    await get_workspace(session, workspace_id)
    stats = WorkspaceStats(workspace_id=workspace_id)
    rows = await session.execute(
        select(
            Memory.memory_type,
            func.count(),
            func.sum(Memory.score),
            func.sum(Memory.freq),
            func.sum(Memory.utility),
            func.max(Memory.time_modified),
        )
        .where(Memory.workspace_id == workspace_id)
        .group_by(Memory.memory_type)
    )
    score_total = 0.0
    for memory_type, count, score_sum, freq_sum, utility_sum, last in rows.all():
        stats.by_type[memory_type] = count
        stats.memory_count += count
        score_total += float(score_sum or 0.0)
        stats.freq_sum += int(freq_sum or 0)
        stats.utility_sum += int(utility_sum or 0)
        if last is not None and (stats.last_write is None or last > stats.last_write):
            stats.last_write = last
    if stats.memory_count:
        stats.avg_score = score_total / stats.memory_count
    stats.trajectory_count = int(
        await session.scalar(
            select(func.count()).select_from(Trajectory).where(Trajectory.workspace_id == workspace_id)
        )
        or 0
    )
    return stats


async def delete_workspace(session: AsyncSession, workspace_id: str) -> int | None:
    """Delete a workspace and everything in it; returns how many memories it held, None if unknown."""
    count = await session.scalar(
        select(func.count()).select_from(Memory).where(Memory.workspace_id == workspace_id)
    )
    deleted = await session.scalar(
        delete(Workspace).where(Workspace.id == workspace_id).returning(Workspace.id)
    )
    return None if deleted is None else int(count or 0)
