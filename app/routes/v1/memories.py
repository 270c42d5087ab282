"""Memories of a workspace: list with filters, get, add directly, patch, delete, history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from app.errors import InvalidInput
from app.logging import current_request_id
from app.routes.deps import ServicesDep
from app.routes.v1.v1_schemas import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_MEMORIES_PER_ADD,
    MemoriesAdded,
    MemoriesIn,
    MemoryEventOut,
    MemoryHistory,
    MemoryOut,
    MemoryPage,
    MemoryPatchIn,
    MemoryType,
)
from app.store.browse import Order, get_memory, list_memories, memory_history
from app.store.memory_edits import MemoryPatch, add_memories, delete_memory, patch_memory
from app.store.search import SearchFilters
from app.store.workspaces import require_valid_workspace_id

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]


class MemoryController(Controller):
    path = "/workspaces/{workspace_id:str}/memories"
    tags = ["memories"]

    @get("/", summary="List memories by creation time (keyset cursor pagination)")
    async def index(
        self,
        workspace_id: FromPath[str],
        services: ServicesDep,
        memory_type: Annotated[MemoryType | None, QueryParameter(name="type")] = None,
        target: FromQuery[str | None] = None,
        min_score: FromQuery[float | None] = None,
        created_after: FromQuery[datetime | None] = None,
        created_before: FromQuery[datetime | None] = None,
        order: FromQuery[Order] = "asc",
        limit: Limit = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> MemoryPage:
        filters = SearchFilters(
            workspace_id,
            memory_type=memory_type,
            target=target,
            min_score=min_score,
            created_after=created_after,
            created_before=created_before,
        )
        async with services.db.read_session() as session:
            page = await list_memories(session, filters, limit=limit, cursor=cursor, order=order)
        return MemoryPage(items=[MemoryOut.of(m) for m in page.items], next_cursor=page.next_cursor)

    @get("/{memory_id:str}", summary="One memory")
    async def show(
        self, workspace_id: FromPath[str], memory_id: FromPath[str], services: ServicesDep
    ) -> MemoryOut:
        async with services.db.session() as session:
            return MemoryOut.of(await get_memory(session, workspace_id, memory_id))

    @post("/", summary="Add one memory or a list of them directly (embedded, no LLM)")
    async def add(
        self, workspace_id: FromPath[str], data: JSONBody[MemoriesIn], services: ServicesDep
    ) -> MemoriesAdded:
        require_valid_workspace_id(workspace_id)
        given = data.as_list()
        if not given or len(given) > MAX_MEMORIES_PER_ADD:
            raise InvalidInput(
                f"send 1 to {MAX_MEMORIES_PER_ADD} memories per request (use the NDJSON import for more)",
                errors=[{"loc": ["body"], "msg": f"{len(given)} memories"}],
            )
        rows = await add_memories(
            services, workspace_id, [m.to_new() for m in given], request_id=current_request_id()
        )
        return MemoriesAdded(items=[MemoryOut.of(m) for m in rows])

    @patch("/{memory_id:str}", summary="Change fields of a memory (re-embedded when its text changes)")
    async def change(
        self,
        workspace_id: FromPath[str],
        memory_id: FromPath[str],
        data: JSONBody[MemoryPatchIn],
        services: ServicesDep,
    ) -> MemoryOut:
        changes = MemoryPatch(changes=data.column_changes(), metadata=data.metadata)
        memory = await patch_memory(
            services, workspace_id, memory_id, changes, request_id=current_request_id()
        )
        return MemoryOut.of(memory)

    @delete("/{memory_id:str}", summary="Delete a memory (its history is kept)", status_code=204)
    async def remove(
        self, workspace_id: FromPath[str], memory_id: FromPath[str], services: ServicesDep
    ) -> None:
        await delete_memory(services, workspace_id, memory_id, request_id=current_request_id())

    @get("/{memory_id:str}/history", summary="Every change of a memory, oldest first")
    async def history(
        self, workspace_id: FromPath[str], memory_id: FromPath[str], services: ServicesDep
    ) -> MemoryHistory:
        async with services.db.session() as session:
            events = await memory_history(session, workspace_id, memory_id)
        return MemoryHistory(memory_id=memory_id, events=[MemoryEventOut.of(e) for e in events])
