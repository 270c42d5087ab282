"""Running a failed trajectory's summary again, as a job for ``reme worker``."""

from __future__ import annotations

import uuid
from typing import Any

from app.services import Services
from app.store.jobs import enqueue_job
from app.store.trajectories import requeue_trajectory

TASK_FLOW = "summary_task_memory"
PERSONAL_FLOW = "summary_personal_memory"


async def retry_trajectory(
    services: Services, workspace_id: str, trajectory_id: uuid.UUID, *, user_name: str | None = None
) -> uuid.UUID:
    """Put a failed trajectory back to pending with a summary job for it; returns the job id.

    A personal trajectory is summarised for ``user_name`` (default ``user``), as in the
    original request; a task trajectory by the full task summary.
    """
    async with services.db.session() as session:
        trajectory = await requeue_trajectory(session, workspace_id, trajectory_id)
        payload: dict[str, Any] = {"trajectory_ids": [str(trajectory.id)]}
        if trajectory.kind == "personal":
            flow = PERSONAL_FLOW
            payload["user_name"] = user_name or "user"
        else:
            flow = TASK_FLOW
        services.llm(flow)  # no model configured: a 503 before anything changes
        return await enqueue_job(session, workspace_id, flow, payload)
