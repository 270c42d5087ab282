"""Console: load a bundled memory library (ReMe's AppWorld, BFCL v3) into a workspace.

With the console's script the load streams its progress (as an upload does); without it the
form posts, waits for the load and lands back on the page with the count.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Stream, Template

from app.errors import Forbidden
from app.library import LIBRARY, LibraryTarget, library_target, load_library
from app.logging import current_request_id
from app.routes.deps import ServicesDep
from app.routes.ui.common import Form, ViewerDep, optional, page
from app.routes.ui.progress import NDJSON, progress_lines, wants_progress
from app.routes.ui.session import Viewer
from app.store.transfer import Progress
from app.ui.format import query


class LibraryController(Controller):
    path = "/data"

    @get("/")
    async def index(
        self,
        viewer: ViewerDep,
        workspace: FromQuery[str | None] = None,
        library: FromQuery[str | None] = None,
        loaded: FromQuery[int | None] = None,
    ) -> Template:
        """The libraries and the load form; ``?workspace=`` fills in the target (a workspace's Data tab)."""
        done = None
        if loaded is not None and library in LIBRARY and workspace:
            done = {"count": loaded, "library": library, "workspace": workspace}
        return page(
            "library.html",
            viewer,
            libraries=list(LIBRARY.values()),
            workspace=optional(workspace) or "",
            chosen=library,
            done=done,
            # A write key for some workspaces gets the form; the post checks the target it names.
            may_write=viewer.principal is None or viewer.principal.scope != "read",
        )

    @post("/library", status_code=200)
    async def load(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep, data: Form
    ) -> Response[Any]:
        target = library_target(
            str(data.get("library", "")), str(data.get("workspace", "")).strip() or None, loc="form"
        )
        require_write(viewer, target)
        replace = str(data.get("replace", "")).lower() in ("true", "on", "1")
        request_id = current_request_id()

        def work(on_progress: Progress | None) -> Awaitable[int]:
            return load_library(
                services,
                target,
                replace=replace,
                request_id=request_id,
                reason=f"memory library {target.entry.name}, loaded in the console",
                on_progress=on_progress,
            )

        if wants_progress(request.headers.get("accept")):
            what = f"library {target.entry.name} into {target.workspace_id}"
            return Stream(progress_lines(work, target.entry.memory_count, what), media_type=NDJSON)
        count = await work(None)
        done = query({}, library=target.entry.name, workspace=target.workspace_id, loaded=count)
        return Redirect(path=f"/ui/data?{done}", status_code=303)


def require_write(viewer: Viewer, target: LibraryTarget) -> None:
    if viewer.can("write", target.workspace_id):
        return
    name = viewer.principal.name if viewer.principal else "anonymous"
    raise Forbidden(
        f"loading library {target.entry.name!r} into workspace {target.workspace_id!r} needs a write key "
        f"for that workspace; key {name!r} may not write there"
    )
