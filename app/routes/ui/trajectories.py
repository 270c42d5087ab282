"""Console: a workspace's trajectories by status, and one with its messages, memories and validations."""

from __future__ import annotations

import uuid

from litestar import Controller, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from app.errors import InvalidInput
from app.models import TRAJECTORY_STATUSES
from app.routes.deps import ServicesDep
from app.routes.ui.common import PAGE_SIZE, ViewerDep, optional, page
from app.store.browse import get_trajectory, list_trajectories
from app.store.console import workspace_overview

KINDS = ("task", "personal", "tool")


class TrajectoriesController(Controller):
    path = "/w/{workspace_id:str}/trajectories"

    @get("/")
    async def index(
        self,
        workspace_id: FromPath[str],
        services: ServicesDep,
        viewer: ViewerDep,
        status: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        viewer.require("read", workspace_id)
        status, kind = optional(status), optional(kind)
        if status is not None and status not in TRAJECTORY_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(TRAJECTORY_STATUSES)}, not {status!r}")
        async with services.db.session() as session:
            overview = await workspace_overview(session, workspace_id)
            found = await list_trajectories(
                session, workspace_id, limit=PAGE_SIZE, cursor=optional(cursor), kind=kind, status=status
            )
        return page(
            "trajectories.html",
            viewer,
            workspace=overview,
            trajectories=found.items,
            next_cursor=found.next_cursor,
            params={"status": status, "kind": kind},
            statuses=TRAJECTORY_STATUSES,
            kinds=KINDS,
            paged=bool(optional(cursor)),
            tab="trajectories",
        )

    @get("/{trajectory_id:uuid}")
    async def show(
        self,
        workspace_id: FromPath[str],
        trajectory_id: FromPath[uuid.UUID],
        services: ServicesDep,
        viewer: ViewerDep,
    ) -> Template:
        viewer.require("read", workspace_id)
        async with services.db.session() as session:
            overview = await workspace_overview(session, workspace_id)
            detail = await get_trajectory(session, workspace_id, trajectory_id)
        kept = [r for r in detail.validation_records if r.is_valid]
        return page(
            "trajectory.html",
            viewer,
            workspace=overview,
            trajectory=detail.trajectory,
            memories=detail.memories,
            records=detail.validation_records,
            kept_count=len(kept),
            tab="trajectories",
        )
