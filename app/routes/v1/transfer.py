"""Export and import of a workspace's memories as NDJSON streams."""

from __future__ import annotations

from urllib.parse import quote

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from app.logging import current_request_id
from app.routes.deps import ServicesDep
from app.routes.v1.v1_schemas import ImportResult
from app.store.memory_lines import collect_lines, parse_lines
from app.store.transfer import export_lines, write_memories
from app.store.workspaces import get_workspace, require_valid_workspace_id

NDJSON = "application/x-ndjson"


class TransferController(Controller):
    path = "/workspaces/{workspace_id:str}"
    tags = ["import/export"]

    @get(
        "/export", summary="Every memory as NDJSON, one per line (vectors only on request)", media_type=NDJSON
    )
    async def export(
        self, workspace_id: FromPath[str], services: ServicesDep, include_embeddings: FromQuery[bool] = False
    ) -> Stream:
        async with services.db.session() as session:
            await get_workspace(session, workspace_id)
        lines = export_lines(services, workspace_id, include_embeddings=include_embeddings)
        return Stream(lines, media_type=NDJSON, headers={"Content-Disposition": attachment(workspace_id)})

    @post("/import", summary="Add memories from an NDJSON body, all or nothing", status_code=200)
    async def import_memories(
        self,
        workspace_id: FromPath[str],
        request: Request,
        services: ServicesDep,
        replace: FromQuery[bool] = False,
    ) -> ImportResult:
        require_valid_workspace_id(workspace_id)
        limit = services.settings.limits.max_import_line_bytes
        parsed = parse_lines(await collect_lines(request.stream(), limit), max_line_bytes=limit)
        count = await write_memories(
            services,
            workspace_id,
            parsed,
            replace=replace,
            reason="imported",
            request_id=current_request_id(),
        )
        return ImportResult(workspace_id=workspace_id, imported=count)


def attachment(workspace_id: str) -> str:
    """``Content-Disposition`` naming ``<workspace_id>.ndjson``: headers are Latin-1, ids any
    script, so the exact name goes in RFC 6266's ``filename*`` and an ASCII stand-in before it."""
    name = f"{workspace_id}.ndjson"
    plain = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"
