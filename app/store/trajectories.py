"""Trajectory bookkeeping shared by every summary flow."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

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
