"""A summary run around its steps: the input stored first, failures recorded, async_mode jobs.

    sync:  check limits -> store trajectories (pending) -> run the pipeline -> answer
    async: check limits -> store trajectories + a job, in one transaction -> 202
           worker: load the job's trajectories (processing) -> run the pipeline -> job result

A failing run leaves its trajectories ``failed`` with the reason and writes nothing else.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from app.errors import InvalidInput, ReMeError
from app.logging import current_request_id
from app.pipelines.base import Pipeline
from app.pipelines.task.candidates import SummaryContext
from app.pipelines.task.domain import FlowResult, NewTrajectory, StoredTrajectory
from app.pipelines.task.trajectories import check_trajectory_limits
from app.services import Services
from app.store.jobs import enqueue_job
from app.store.task import insert_trajectories, load_trajectories
from app.store.trajectories import set_trajectory_status


def summary_result(ctx: SummaryContext) -> FlowResult:
    """ReMe's answer: the new memories as JSON, and the list with counts in the metadata."""
    candidates = ctx.candidates
    return FlowResult(
        answer=json.dumps(ctx.memory_list, ensure_ascii=False),
        metadata={
            "memory_list": ctx.memory_list,
            "update_result": {"inserted_count": len(ctx.memory_list), "deleted_count": 0},
            "trajectory_ids": [str(t.id) for t in ctx.trajectories],
            "candidates": {
                "proposed": len(candidates),
                "accepted": len(ctx.accepted()),
                "duplicates": sum(1 for c in ctx.accepted() if c.duplicate_of is not None),
            },
            **ctx.run_metadata(),
        },
    )


async def store_and_summarise(
    services: Services,
    pipeline: Pipeline[SummaryContext],
    workspace_id: str,
    trajectories: list[NewTrajectory],
    request_id: str | None,
) -> FlowResult:
    """Check limits, store the trajectories (pending), then run the summary over them."""
    check_trajectory_limits(trajectories, services.settings.limits)
    services.llm(pipeline.name)
    async with services.db.session() as session:
        stored = await insert_trajectories(
            session, workspace_id, trajectories, lease_seconds=services.settings.limits.summary_lease_seconds
        )
    return await summarise_stored(services, pipeline, workspace_id, stored, request_id)


async def summarise_stored(
    services: Services,
    pipeline: Pipeline[SummaryContext],
    workspace_id: str,
    trajectories: list[StoredTrajectory],
    request_id: str | None,
) -> FlowResult:
    """Run the summary; on any failure the trajectories are marked failed with the reason."""
    ctx = SummaryContext(
        workspace_id=workspace_id,
        request_id=request_id,
        services=services,
        flow=pipeline.name,
        trajectories=trajectories,
    )
    try:
        await pipeline.run(ctx)
    except Exception as exc:
        reason = exc.message if isinstance(exc, ReMeError) else f"{type(exc).__name__}: {exc}"
        async with services.db.session() as session:
            await set_trajectory_status(
                session, workspace_id, [t.id for t in trajectories], "failed", error=reason
            )
        raise
    return summary_result(ctx)


async def queue_summary(
    services: Services, flow: str, workspace_id: str, trajectories: list[NewTrajectory]
) -> uuid.UUID:
    """``async_mode``: store the trajectories and a job referencing them, in one transaction."""
    check_trajectory_limits(trajectories, services.settings.limits)
    services.llm(flow)
    async with services.db.session() as session:
        stored = await insert_trajectories(session, workspace_id, trajectories)
        return await enqueue_job(session, workspace_id, flow, {"trajectory_ids": [str(t.id) for t in stored]})


async def summarise_queued(
    services: Services, pipeline: Pipeline[SummaryContext], workspace_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """The job side of ``async_mode``: run the summary over the trajectories the job names."""
    ids = [uuid.UUID(i) for i in payload.get("trajectory_ids", [])]
    async with services.db.session() as session:
        stored = await load_trajectories(session, workspace_id, ids)
        await set_trajectory_status(session, workspace_id, [t.id for t in stored], "processing")
    if not stored:
        raise InvalidInput(f"the trajectories of this job are gone: {', '.join(map(str, ids))}")
    result = await summarise_stored(services, pipeline, workspace_id, stored, current_request_id())
    return result.as_job_result()
