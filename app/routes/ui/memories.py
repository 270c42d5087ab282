"""Console: a workspace's memories (filters, cursor pages, search) and one memory (fields, history, edit)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app.errors import InvalidInput
from app.logging import current_request_id
from app.models import MEMORY_TYPES
from app.routes.deps import ServicesDep
from app.routes.ui.common import PAGE_SIZE, Form, ViewerDep, optional, page, parse_float, parse_when
from app.store.browse import list_memories
from app.store.console import memory_with_history, workspace_overview
from app.store.memory_edits import delete_memory, patch_memory
from app.store.search import SearchFilters, SearchMode, SearchRequest, search_memories
from app.ui.diff import history_view
from app.ui.format import url_quote
from app.ui.forms import form_patch, metadata_text

SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "vector", "text")
DEFAULT_TOP_K = 20


class MemoriesController(Controller):
    path = "/w/{workspace_id:str}"

    @get("/")
    async def index(
        self,
        workspace_id: FromPath[str],
        services: ServicesDep,
        viewer: ViewerDep,
        type: FromQuery[str | None] = None,
        target: FromQuery[str | None] = None,
        min_score: FromQuery[str | None] = None,
        after: FromQuery[str | None] = None,
        before: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        q: FromQuery[str | None] = None,
        mode: FromQuery[str | None] = None,
        top_k: FromQuery[str | None] = None,
        deleted: FromQuery[str | None] = None,
    ) -> Template:
        viewer.require("read", workspace_id)
        params = {
            "type": optional(type),
            "target": optional(target),
            "min_score": optional(min_score),
            "after": optional(after),
            "before": optional(before),
            "q": optional(q),
            "mode": optional(mode),
            "top_k": optional(top_k),
        }
        filters = self._filters(workspace_id, params)
        query = params["q"]
        async with services.db.session() as session:
            overview = await workspace_overview(session, workspace_id)
        hits, memories, next_cursor = [], [], None
        if query:
            request = await self._search_request(services, filters, params)
            async with services.db.session() as session:
                hits = await search_memories(session, request, ends_transaction=True)
        else:
            async with services.db.session() as session:
                found = await list_memories(
                    session, filters, limit=PAGE_SIZE, cursor=optional(cursor), order="desc"
                )
            memories, next_cursor = found.items, found.next_cursor
        return page(
            "workspace.html",
            viewer,
            workspace=overview,
            params=params,
            memory_types=MEMORY_TYPES,
            search_modes=SEARCH_MODES,
            hits=hits,
            memories=memories,
            next_cursor=next_cursor,
            paged=bool(optional(cursor)),
            tab="memories",
            notice=f"Memory {deleted} deleted; its history is kept." if deleted else None,
        )

    @staticmethod
    def _filters(workspace_id: str, params: dict[str, str | None]) -> SearchFilters:
        memory_type = params["type"]
        if memory_type is not None and memory_type not in MEMORY_TYPES:
            raise InvalidInput(f"type must be one of {', '.join(MEMORY_TYPES)}, not {memory_type!r}")
        return SearchFilters(
            workspace_id,
            memory_type=memory_type,
            target=params["target"],
            min_score=parse_float(params["min_score"], "minimum score"),
            created_after=parse_when(params["after"], "created after"),
            created_before=parse_when(params["before"], "created before"),
        )

    @staticmethod
    async def _search_request(
        services: Any, filters: SearchFilters, params: dict[str, str | None]
    ) -> SearchRequest:
        mode = params["mode"] or "hybrid"
        if mode not in SEARCH_MODES:
            raise InvalidInput(f"mode must be one of {', '.join(SEARCH_MODES)}, not {mode!r}")
        top_k = int(parse_float(params["top_k"], "top_k") or DEFAULT_TOP_K)
        limit = services.settings.limits.max_top_k
        if not 1 <= top_k <= limit:
            raise InvalidInput(f"top_k must be between 1 and {limit}, not {top_k}")
        text = params["q"] or ""
        embedding = None if mode == "text" else await services.embedder.embed_query(text)
        return SearchRequest(filters, top_k=top_k, mode=mode, embedding=embedding, text=text)  # type: ignore[arg-type]

    @get("/memory")
    async def show(
        self,
        workspace_id: FromPath[str],
        services: ServicesDep,
        viewer: ViewerDep,
        id: FromQuery[str],
        saved: FromQuery[str | None] = None,
    ) -> Template:
        viewer.require("read", workspace_id)
        async with services.db.session() as session:
            view = await memory_with_history(session, workspace_id, id)
        return page(
            "memory.html",
            viewer,
            workspace_id=workspace_id,
            memory_id=id,
            memory=view.memory,
            metadata_text=metadata_text(view.memory) if view.memory else "",
            history=history_view(view.events),
            older_events=view.older_events,
            tab="memories",
            notice="Saved." if saved == "1" else "Nothing changed." if saved == "0" else None,
        )

    @post("/memory")
    async def edit(
        self,
        workspace_id: FromPath[str],
        services: ServicesDep,
        viewer: ViewerDep,
        id: FromQuery[str],
        data: Form,
    ) -> Redirect:
        viewer.require("write", workspace_id)
        async with services.db.session() as session:
            current = (await memory_with_history(session, workspace_id, id)).memory
        if current is None:
            raise InvalidInput(f"memory {id!r} was deleted; it cannot be edited")
        patch = form_patch(current, data)
        saved = "0"
        if patch.changes or patch.metadata is not None:
            await patch_memory(services, workspace_id, id, patch, request_id=current_request_id())
            saved = "1"
        return Redirect(
            path=f"/ui/w/{url_quote(workspace_id)}/memory?id={url_quote(id)}&saved={saved}", status_code=303
        )

    @post("/memory/delete")
    async def remove(
        self, workspace_id: FromPath[str], services: ServicesDep, viewer: ViewerDep, id: FromQuery[str]
    ) -> Redirect:
        viewer.require("write", workspace_id)
        await delete_memory(services, workspace_id, id, request_id=current_request_id())
        return Redirect(path=f"/ui/w/{url_quote(workspace_id)}?deleted={url_quote(id)}", status_code=303)
