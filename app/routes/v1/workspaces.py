"""Workspaces: list, create, describe, delete."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from app.errors import NotFound
from app.routes.deps import ServicesDep
from app.routes.v1.v1_schemas import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    WorkspaceCreate,
    WorkspaceDeleted,
    WorkspaceOut,
    WorkspacePage,
    WorkspaceStatsOut,
)
from app.store.browse import decode_cursor, encode_cursor
from app.store.workspaces import create_workspace, delete_workspace, list_workspaces, workspace_stats

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]


class WorkspaceController(Controller):
    path = "/workspaces"
    tags = ["workspaces"]

    @get("/", summary="List workspaces by id")
    async def index(
        self, services: ServicesDep, limit: Limit = DEFAULT_LIMIT, cursor: FromQuery[str | None] = None
    ) -> WorkspacePage:
        after = decode_cursor(cursor, (str,))[0] if cursor else None
        async with services.db.read_session() as session:
            rows = await list_workspaces(session, limit=limit + 1, after=after)
        items = [WorkspaceOut.of(w) for w in rows[:limit]]
        return WorkspacePage(
            items=items, next_cursor=encode_cursor(items[-1].id) if len(rows) > limit else None
        )

    @post("/", summary="Create a workspace (409 when the id is taken)")
    async def create(self, data: JSONBody[WorkspaceCreate], services: ServicesDep) -> WorkspaceOut:
        async with services.db.session() as session:
            workspace = await create_workspace(
                session, data.id, description=data.description, settings=data.settings
            )
        return WorkspaceOut.of(workspace)

    @get("/{workspace_id:str}/stats", summary="Memory counts by type, mean score, usage counters, last write")
    async def stats(self, workspace_id: FromPath[str], services: ServicesDep) -> WorkspaceStatsOut:
        async with services.db.session() as session:
            stats = await workspace_stats(session, workspace_id)
        return WorkspaceStatsOut.of(stats)

    @delete("/{workspace_id:str}", summary="Delete a workspace and everything in it", status_code=200)
    async def remove(self, workspace_id: FromPath[str], services: ServicesDep) -> WorkspaceDeleted:
        async with services.db.session() as session:
            count = await delete_workspace(session, workspace_id)
        if count is None:
            raise NotFound(f"no workspace {workspace_id!r}")
        return WorkspaceDeleted(workspace_id=workspace_id, deleted=True, memory_count=count)
