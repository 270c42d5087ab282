"""Console: data in and out of a workspace: upload a ReMe JSONL file with progress, download a dump."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Stream, Template

from app.errors import InvalidInput, ReMeError
from app.logging import current_request_id
from app.routes.deps import ServicesDep
from app.routes.ui.common import ViewerDep, page
from app.services import Services
from app.store.console import reme_dump_lines, workspace_overview
from app.store.memory_lines import ParsedLine, collect_lines, parse_lines
from app.store.transfer import write_memories
from app.store.workspaces import get_workspace
from app.ui.format import url_quote

NDJSON = "application/x-ndjson"
log = logging.getLogger(__name__)


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
        return Stream(load_with_progress(services, workspace_id, parsed, replace=replace), media_type=NDJSON)


async def load_with_progress(
    services: Services, workspace_id: str, parsed: Sequence[ParsedLine], *, replace: bool
) -> AsyncIterator[str]:
    """Write the memories (one transaction, as ``reme load``) and report each embedded batch.

    Lines: ``{"embedded": n, "total": N}`` while vectors are computed, then ``{"loaded": N}``
    or ``{"error": message}``; nothing is written unless the whole file is.
    """
    total = len({line.memory.memory_id for line in parsed})
    progress: asyncio.Queue[int] = asyncio.Queue()
    request_id = current_request_id()
    task = asyncio.create_task(
        write_memories(
            services,
            workspace_id,
            parsed,
            replace=replace,
            reason="uploaded in the console",
            request_id=request_id,
            on_progress=progress.put_nowait,
        )
    )
    embedded = 0
    yield json.dumps({"embedded": 0, "total": total}) + "\n"
    try:
        while not task.done():
            waiter = asyncio.ensure_future(progress.get())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if waiter.done():
                embedded += waiter.result()
                yield json.dumps({"embedded": min(embedded, total), "total": total}) + "\n"
            else:
                waiter.cancel()
        try:
            loaded = task.result()
        except Exception as exc:
            if not isinstance(exc, ReMeError):
                log.exception("upload to %s failed", workspace_id)
            message = exc.message if isinstance(exc, ReMeError) else f"internal error ({type(exc).__name__})"
            yield json.dumps({"error": message}) + "\n"
            return
        yield json.dumps({"loaded": loaded, "total": total}) + "\n"
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
