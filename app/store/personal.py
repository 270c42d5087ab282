"""Personal memory in the database: a user's facts and insights, and the raw conversations.

A user's memories are the ``personal`` memories whose ``target`` is the user's name. An
insight (a per-subject summary written by the profile step, or loaded from ReMe) has a
``reflection_subject``; every other personal memory is a single observation (a fact).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from sqlalchemy.types import Text

from app.models import Memory, Trajectory
from app.store.memories import ensure_workspace, memory_snapshot
from app.store.sql import among

PERSONAL = "personal"


def _normalised(value: Any) -> ColumnElement[str]:
    """Lower case, runs of anything but letters and digits as one space: the exact-duplicate key."""
    return func.btrim(func.regexp_replace(func.lower(value), r"[^[:alnum:]]+", " ", "g"))


def _user_facts(workspace_id: str, user_name: str) -> list[ColumnElement[bool]]:
    return [
        Memory.workspace_id == workspace_id,
        Memory.memory_type == PERSONAL,
        Memory.target == user_name,
        Memory.reflection_subject == "",
    ]


async def store_trajectories(
    session: AsyncSession, workspace_id: str, trajectories: Sequence[dict[str, Any]]
) -> list[Trajectory]:
    """Store conversations as ``personal`` trajectories (status pending); creates the workspace."""
    await ensure_workspace(session, workspace_id)
    rows = [
        {
            "workspace_id": workspace_id,
            "id": uuid.uuid4(),
            "kind": PERSONAL,
            "task_id": str(t.get("task_id") or ""),
            "messages": t.get("messages") or [],
            "score": t.get("score"),
            "metadata_": t.get("metadata") or {},
            "status": "pending",
        }
        for t in trajectories
    ]
    result = await session.scalars(insert(Trajectory).returning(Trajectory), rows)
    return list(result.all())


async def load_trajectories(
    session: AsyncSession, workspace_id: str, trajectory_ids: Sequence[uuid.UUID]
) -> list[Trajectory]:
    """Stored trajectories in the order of ``trajectory_ids``."""
    result = await session.scalars(
        select(Trajectory).where(
            Trajectory.workspace_id == workspace_id, among(Trajectory.id, trajectory_ids)
        )
    )
    by_id = {t.id: t for t in result.all()}
    return [by_id[i] for i in trajectory_ids if i in by_id]


async def find_duplicate_facts(
    session: AsyncSession, workspace_id: str, user_name: str, contents: Sequence[str]
) -> dict[int, str]:
    """For each given text equal (once normalised) to a stored fact of the user: index -> memory id."""
    if not contents:
        return {}
    given = (
        func.unnest(bindparam("contents", list(contents), type_=ARRAY(Text)))
        .table_valued("content", with_ordinality="position")
        .render_derived("given")
    )
    stmt = (
        select(given.c.position, func.min(Memory.memory_id))
        .join(Memory, _normalised(Memory.content) == _normalised(given.c.content))
        .where(*_user_facts(workspace_id, user_name))
        .group_by(given.c.position)
    )
    rows = await session.execute(stmt)
    return {int(position) - 1: memory_id for position, memory_id in rows.all()}


async def nearest_facts(
    session: AsyncSession, workspace_id: str, user_name: str, embedding: list[float], limit: int
) -> list[tuple[Memory, float]]:
    """The user's stored facts closest to ``embedding``, with cosine similarity, closest first."""
    distance = Memory.embedding.cosine_distance(embedding)
    stmt = (
        select(Memory, distance.label("distance"))
        .where(*_user_facts(workspace_id, user_name), Memory.embedding.is_not(None))
        .options(defer(Memory.embedding))
        .order_by(distance, Memory.memory_id)
        .limit(limit)
    )
    return [(m, 1.0 - float(d)) for m, d in (await session.execute(stmt)).all()]


async def count_facts(session: AsyncSession, workspace_id: str, user_name: str) -> int:
    stmt = select(func.count()).select_from(Memory).where(*_user_facts(workspace_id, user_name))
    return int((await session.execute(stmt)).scalar_one())


async def recent_facts(session: AsyncSession, workspace_id: str, user_name: str, limit: int) -> list[Memory]:
    """The user's most recently changed facts, newest first."""
    stmt = (
        select(Memory)
        .where(*_user_facts(workspace_id, user_name))
        .options(defer(Memory.embedding))
        .order_by(Memory.time_modified.desc(), Memory.memory_id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def user_insights(session: AsyncSession, workspace_id: str, user_name: str) -> list[Memory]:
    """The user's per-subject insights."""
    stmt = (
        select(Memory)
        .where(
            Memory.workspace_id == workspace_id,
            Memory.memory_type == PERSONAL,
            Memory.target == user_name,
            Memory.reflection_subject != "",
        )
        .options(defer(Memory.embedding))
        .order_by(Memory.reflection_subject, Memory.memory_id)
    )
    return list((await session.scalars(stmt)).all())


async def revise_memory(
    session: AsyncSession, workspace_id: str, memory_id: str, values: dict[str, Any]
) -> tuple[dict[str, Any], Memory] | None:
    """Change a memory in place; returns its previous snapshot and new row, or None if it is gone."""
    where = (Memory.workspace_id == workspace_id, Memory.memory_id == memory_id)
    current = (
        await session.scalars(select(Memory).where(*where).options(defer(Memory.embedding)).with_for_update())
    ).one_or_none()
    if current is None:
        return None
    before = memory_snapshot(current)
    values = {**values, "time_modified": datetime.now(UTC)}
    revised = await session.scalars(
        update(Memory)
        .where(*where)
        .values(**values)
        .returning(Memory)
        # The row is already in the session (read above): refresh it from RETURNING.
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return before, revised.one()
