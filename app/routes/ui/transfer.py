"""Console: data in and out of a workspace: upload a ReMe JSONL file with progress, download a dump."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Stream, Template

from app.errors import InvalidInput
from app.logging import current_request_id
from app.routes.deps import ServicesDep
from app.routes.ui.common import ViewerDep, page
from app.routes.ui.progress import NDJSON, progress_lines
from app.store.console import reme_dump_lines, workspace_overview
from app.store.memory_lines import collect_lines, parse_lines
from app.store.transfer import Progress, write_memories
from app.store.workspaces import get_workspace
from app.ui.format import url_quote


class TransferController(Controller):
    path = "/w/{workspace_id:str}/data"

    @get("/")
    async def index(self, workspace_id: FromPath[str], services: ServicesDep, viewer: ViewerDep) -> Template:
        viewer.require("read", workspace_id)
        async with services.db.session() as session:
            overview = await workspace_overview(session, workspace_id)
        return page(
            "data.html",
            viewer,
            workspace=overview,
            max_bytes=services.settings.limits.max_body_bytes,
            tab="data",
        )

    @get("/dump", media_type=NDJSON)
    async def dump(self, workspace_id: FromPath[str], services: ServicesDep, viewer: ViewerDep) -> Stream:
        viewer.require("read", workspace_id)
        async with services.db.session() as session:
            await get_workspace(session, workspace_id)
        disposition = f"attachment; filename*=UTF-8''{url_quote(workspace_id)}.jsonl"
        return Stream(
            reme_dump_lines(services, workspace_id),
            media_type=NDJSON,
            headers={"Content-Disposition": disposition},
        )

    @post("/upload", media_type=NDJSON, status_code=200)
    async def upload(
        self,
        workspace_id: FromPath[str],
        request: Request[Any, Any, Any],
        services: ServicesDep,
        viewer: ViewerDep,
        replace: FromQuery[bool] = False,
    ) -> Stream:
        """Parse the whole file first (a bad line is a 400 naming it), then stream progress lines."""
        viewer.require("write", workspace_id)
        limit = services.settings.limits.max_import_line_bytes
        parsed = parse_lines(await collect_lines(request.stream(), limit), max_line_bytes=limit)
        if not parsed:
            raise InvalidInput("the file holds no memories (one JSON object per line expected)")
        total = len({line.memory.memory_id for line in parsed})
        request_id = current_request_id()

        def work(on_progress: Progress) -> Awaitable[int]:
            return write_memories(
                services,
                workspace_id,
                parsed,
                replace=replace,
                reason="uploaded in the console",
                request_id=request_id,
                on_progress=on_progress,
            )

        return Stream(progress_lines(work, total, f"upload to {workspace_id}"), media_type=NDJSON)
