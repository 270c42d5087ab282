"""Trajectory bookkeeping shared by every summary flow."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, NotFound
from app.models import Trajectory
from app.store.sql import among


async def set_trajectory_status(
    session: AsyncSession,
    workspace_id: str,
    ids: Sequence[uuid.UUID],
    status: str,
    *,
    error: str | None = None,
) -> None:
    """Move trajectories to ``status``; a finished attempt (done/failed) is counted."""
    if not ids:
        return
    values: dict[str, Any] = {"status": status, "error": error}
    if status in ("done", "failed"):
        values["attempts"] = Trajectory.attempts + 1
        values["processed_at"] = func.now()
    await session.execute(
        update(Trajectory)
        .where(Trajectory.workspace_id == workspace_id, among(Trajectory.id, ids))
        .values(**values)
    )


INTERRUPTED = (
    "interrupted: the summary working on this trajectory stopped before it finished "
    "(process killed or restarted); POST .../retry to summarise it again"
)


async def lease_trajectories(
    session: AsyncSession, workspace_id: str, ids: Sequence[uuid.UUID], seconds: float
) -> None:
    """Mark trajectories as being worked on by this process for ``seconds``.

    A synchronous summary holds its trajectories under a lease; if the process dies, the lease
    runs out and :func:`fail_stranded_trajectories` says so instead of leaving them pending.
    """
    if ids:
        await session.execute(
            update(Trajectory)
            .where(Trajectory.workspace_id == workspace_id, among(Trajectory.id, ids))
            .values(lease_until=func.now() + timedelta(seconds=seconds))
        )


async def fail_stranded_trajectories(session: AsyncSession) -> int:
    """Pending trajectories whose lease ran out become ``failed: interrupted``; returns how many."""
    result = await session.execute(
        update(Trajectory)
        .where(Trajectory.status == "pending", Trajectory.lease_until < func.now())
        .values(
            status="failed",
            error=INTERRUPTED,
            lease_until=None,
            attempts=Trajectory.attempts + 1,
            processed_at=func.now(),
        )
        .returning(Trajectory.id)
    )
    return len(result.all())


async def requeue_trajectory(
    session: AsyncSession, workspace_id: str, trajectory_id: uuid.UUID
) -> Trajectory:
    """A failed trajectory back to ``pending`` (no lease: a job will own it); 404/409 otherwise."""
    trajectory = await session.get(Trajectory, (workspace_id, trajectory_id), with_for_update=True)
    if trajectory is None:
        raise NotFound(f"no trajectory {trajectory_id} in workspace {workspace_id!r}")
    if trajectory.status != "failed":
        raise Conflict(
            f"trajectory {trajectory_id} is {trajectory.status}; only a failed trajectory can be retried"
        )
    trajectory.status, trajectory.error, trajectory.lease_until = "pending", None, None
    await session.flush()
    return trajectory
