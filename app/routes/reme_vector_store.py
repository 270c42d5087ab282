"""ReMe-compatible ``POST /vector_store``: list, dump, load, copy, delete and delete_ids."""

from __future__ import annotations

from litestar import post
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody
from pydantic import Field

from app.logging import current_request_id
from app.pipelines.vector_store import Action, run_action
from app.routes.deps import ServicesDep
from app.routes.flows import reme_answer
from app.routes.schemas import ReMeResponse
from app.schemas.flow import FlowRequest, WorkspaceId


class VectorStoreRequest(FlowRequest):
    """ReMe's vector_store fields. ``path`` is a directory holding ``<workspace_id>.jsonl``."""

    action: Action
    path: str = ""
    src_workspace_id: WorkspaceId | None = None
    memory_ids: list[str] = Field(default_factory=list)
    top_k: int | None = Field(default=None, ge=1, description="list: at most this many memories")
    limit: int | None = Field(default=None, ge=1, description="list: same as top_k")


@post(
    "/vector_store", summary="Workspace actions: list, dump, load, copy, delete, delete_ids", status_code=200
)
async def vector_store(data: JSONBody[VectorStoreRequest], services: ServicesDep) -> ReMeResponse:
    answer, result = await run_action(
        services,
        data.workspace_id,
        data.action,
        path=data.path,
        src_workspace_id=data.src_workspace_id,
        memory_ids=data.memory_ids,
        limit=data.limit or data.top_k,
        request_id=current_request_id(),
    )
    return reme_answer(answer, action=data.action, action_result=result)


ROUTES: list[HTTPRouteHandler] = [vector_store]
