"""Console: the list of workspaces (counts per type, last activity, size), create and delete."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app.errors import InvalidInput, NotFound
from app.models import MEMORY_TYPES
from app.routes.deps import ServicesDep
from app.routes.ui.common import PAGE_SIZE, Form, ViewerDep, optional, page
from app.store.browse import decode_cursor, encode_cursor
from app.store.console import workspace_overviews
from app.store.workspaces import create_workspace, delete_workspace, require_valid_workspace_id
from app.ui.format import url_quote


class WorkspacesController(Controller):
    path = "/"

    @get("/")
    async def index(
        self,
        services: ServicesDep,
        viewer: ViewerDep,
        cursor: FromQuery[str | None] = None,
        deleted: FromQuery[str | None] = None,
    ) -> Template:
        cursor = optional(cursor)
        after = decode_cursor(cursor, (str,))[0] if cursor else None
        async with services.db.session() as session:
            rows = await workspace_overviews(session, limit=PAGE_SIZE + 1, after=after, only=viewer.only)
        items = rows[:PAGE_SIZE]
        next_cursor = encode_cursor(items[-1].workspace_id) if len(rows) > PAGE_SIZE else None
        return page(
            "workspaces.html",
            viewer,
            workspaces=items,
            memory_types=MEMORY_TYPES,
            next_cursor=next_cursor,
            first_page=cursor is None,
            notice=f"Workspace {deleted} deleted." if deleted else None,
        )

    @post("/workspaces")
    async def create(self, services: ServicesDep, viewer: ViewerDep, data: Form) -> Redirect:
        workspace_id = str(data.get("id", "")).strip()
        require_valid_workspace_id(workspace_id, loc="form")
        viewer.require("write", workspace_id)
        async with services.db.session() as session:
            await create_workspace(session, workspace_id, description=str(data.get("description", "")))
        return Redirect(path=f"/ui/w/{url_quote(workspace_id)}", status_code=303)

    @post("/w/{workspace_id:str}/delete")
    async def remove(
        self, workspace_id: FromPath[str], services: ServicesDep, viewer: ViewerDep, data: Form
    ) -> Redirect:
        viewer.require("write", workspace_id)
        if str(data.get("confirm", "")).strip() != workspace_id:
            raise InvalidInput(f"type the workspace id {workspace_id!r} to confirm its deletion")
        async with services.db.session() as session:
            count = await delete_workspace(session, workspace_id)
        if count is None:
            raise NotFound(f"no workspace {workspace_id!r}")
        return Redirect(path=f"/ui?deleted={url_quote(workspace_id)}", status_code=303)
