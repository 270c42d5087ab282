"""Search within a workspace: vector, full-text or hybrid, with filters."""

from __future__ import annotations

from litestar import Controller, post
from litestar.params import FromPath, JSONBody

from app.errors import InvalidInput
from app.routes.deps import ServicesDep
from app.routes.v1.v1_schemas import SearchHitOut, SearchIn, SearchOut
from app.store.search import search


class SearchController(Controller):
    path = "/workspaces/{workspace_id:str}/search"
    tags = ["search"]

    @post("/", summary="Search memories (vector, text or hybrid)", status_code=200)
    async def search(
        self, workspace_id: FromPath[str], data: JSONBody[SearchIn], services: ServicesDep
    ) -> SearchOut:
        max_top_k = services.settings.limits.max_top_k
        if data.top_k > max_top_k:
            raise InvalidInput(
                f"top_k is at most {max_top_k}",
                errors=[{"loc": ["body", "top_k"], "msg": f"above {max_top_k}"}],
            )
        embedding = None if data.mode == "text" else await services.embedder.embed_query(data.query)
        request = data.to_request(workspace_id, embedding)
        hits = await search(services.db, request)
        return SearchOut(items=[SearchHitOut.of_hit(h) for h in hits])
