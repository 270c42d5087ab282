"""Stored trajectories and what was derived from them."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from app.pipelines.retry import retry_trajectory
from app.routes.deps import ServicesDep
from app.routes.v1.v1_schemas import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MemoryOut,
    TrajectoryDetailOut,
    TrajectoryOut,
    TrajectoryPage,
    TrajectoryRetryIn,
    TrajectoryRetryOut,
    ValidationRecordOut,
)
from app.store.browse import Order, get_trajectory, list_trajectories

DEFAULT_RETRY = TrajectoryRetryIn()  # the body is optional: a task trajectory needs nothing
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]


class TrajectoryController(Controller):
    path = "/workspaces/{workspace_id:str}/trajectories"
    tags = ["trajectories"]

    @get("/", summary="List trajectories, newest first (without their messages)")
    async def index(
        self,
        workspace_id: FromPath[str],
        services: ServicesDep,
        kind: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        order: FromQuery[Order] = "desc",
        limit: Limit = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> TrajectoryPage:
        async with services.db.read_session() as session:
            page = await list_trajectories(
                session, workspace_id, limit=limit, cursor=cursor, kind=kind, status=status, order=order
            )
        return TrajectoryPage(items=[TrajectoryOut.of(t) for t in page.items], next_cursor=page.next_cursor)

    @get("/{trajectory_id:uuid}", summary="A trajectory with its memories and validation records")
    async def show(
        self, workspace_id: FromPath[str], trajectory_id: FromPath[uuid.UUID], services: ServicesDep
    ) -> TrajectoryDetailOut:
        async with services.db.session() as session:
            detail = await get_trajectory(session, workspace_id, trajectory_id)
        return TrajectoryDetailOut(
            **TrajectoryOut.of(detail.trajectory).model_dump(),
            messages=detail.trajectory.messages,
            memories=[MemoryOut.of(m) for m in detail.memories],
            validation_records=[ValidationRecordOut.of(r) for r in detail.validation_records],
        )

    @post(
        "/{trajectory_id:uuid}/retry",
        summary="Summarise a failed trajectory again (as a job)",
        status_code=202,
    )
    async def retry(
        self,
        workspace_id: FromPath[str],
        trajectory_id: FromPath[uuid.UUID],
        services: ServicesDep,
        data: JSONBody[TrajectoryRetryIn] = DEFAULT_RETRY,
    ) -> TrajectoryRetryOut:
        job_id = await retry_trajectory(services, workspace_id, trajectory_id, user_name=data.user_name)
        return TrajectoryRetryOut(trajectory_id=trajectory_id, job_id=job_id, status="pending")
