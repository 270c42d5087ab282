"""ReMe's ``vector_store`` flow: list, dump, load, copy, delete and delete_ids on a workspace.

Each action returns ``(answer, action_result)``; the result has the shape ReMe gives it
(``{"size": n}`` for dump, load and copy; the memory dicts for list) plus a few fields that
say what was touched (the file, the ids deleted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import defer

from app.errors import InvalidInput
from app.models import Memory, Workspace
from app.services import Services
from app.store.allowed_files import locate_workspace_file
from app.store.memories import delete_memories, memory_to_reme
from app.store.memory_lines import read_memory_file
from app.store.transfer import copy_workspace, dump_workspace_file, write_memories
from app.store.workspaces import delete_workspace

Action = Literal["list", "dump", "load", "copy", "delete", "delete_ids"]
ActionOutcome = tuple[str, Any]


async def list_action(services: Services, workspace_id: str, limit: int | None) -> ActionOutcome:
    """Every memory of the workspace (oldest first), or the first ``limit``."""
    query = (
        select(Memory)
        .options(defer(Memory.embedding))
        .where(Memory.workspace_id == workspace_id)
        .order_by(Memory.time_created, Memory.memory_id)
    )
    if limit is not None:
        query = query.limit(limit)
    async with services.db.read_session() as session:
        memories = [memory_to_reme(m) for m in await session.scalars(query)]
    return f"{len(memories)} memories in workspace {workspace_id}", memories


async def dump_action(services: Services, workspace_id: str, path: str) -> ActionOutcome:
    """Write ``<path>/<workspace_id>.jsonl``; nothing is written for an unknown workspace, as in ReMe."""
    target = locate_workspace_file(services.settings.storage.resolved_allowed_dir(), path, workspace_id)
    async with services.db.session() as session:
        exists = await session.get(Workspace, workspace_id) is not None
    if not exists:
        return f"workspace {workspace_id} does not exist; nothing dumped", {}
    count = await dump_workspace_file(services, workspace_id, target)
    return f"dumped {count} memories to {target}", {"size": count, "path": str(target)}


async def load_action(
    services: Services, workspace_id: str, path: str, request_id: str | None
) -> ActionOutcome:
    """Replace the workspace's memories by the file's (vectors recomputed, ids kept)."""
    source = locate_workspace_file(services.settings.storage.resolved_allowed_dir(), path, workspace_id)
    lines = await asyncio.to_thread(read_memory_file, source)
    count = await write_memories(
        services, workspace_id, lines, replace=True, reason=f"loaded from {source}", request_id=request_id
    )
    return f"loaded {count} memories from {source}", {"size": count, "path": str(source)}


async def copy_action(
    services: Services, workspace_id: str, src_workspace_id: str | None, request_id: str | None
) -> ActionOutcome:
    """Copy the source workspace's memories, vectors included, into this one."""
    if not src_workspace_id:
        raise InvalidInput(
            "copy needs src_workspace_id", errors=[{"loc": ["body", "src_workspace_id"], "msg": "required"}]
        )
    if src_workspace_id == workspace_id:
        raise InvalidInput(
            "src_workspace_id must differ from workspace_id",
            errors=[{"loc": ["body", "src_workspace_id"], "msg": "same as workspace_id"}],
        )
    async with services.db.session() as session:
        count = await copy_workspace(session, src_workspace_id, workspace_id, request_id=request_id)
    return f"copied {count} memories from {src_workspace_id} to {workspace_id}", {"size": count}


async def delete_action(services: Services, workspace_id: str) -> ActionOutcome:
    """Delete the workspace with every memory in it."""
    async with services.db.session() as session:
        count = await delete_workspace(session, workspace_id)
    if count is None:
        return f"workspace {workspace_id} does not exist", {"deleted_count": 0}
    return f"deleted workspace {workspace_id} ({count} memories)", {"deleted_count": count}


async def delete_ids_action(
    services: Services, workspace_id: str, memory_ids: Sequence[str], request_id: str | None
) -> ActionOutcome:
    """Delete the given memories (their last versions stay in history)."""
    if not memory_ids:
        raise InvalidInput(
            "delete_ids needs memory_ids", errors=[{"loc": ["body", "memory_ids"], "msg": "required"}]
        )
    async with services.db.session() as session:
        deleted = await delete_memories(
            session, workspace_id, list(memory_ids), reason="vector_store delete_ids", request_id=request_id
        )
    return f"deleted {len(deleted)} memories", {"deleted_count": len(deleted), "deleted_ids": deleted}


async def run_action(
    services: Services,
    workspace_id: str,
    action: Action,
    *,
    path: str = "",
    src_workspace_id: str | None = None,
    memory_ids: Sequence[str] = (),
    limit: int | None = None,
    request_id: str | None = None,
) -> ActionOutcome:
    """Run one vector_store action."""
    if action == "list":
        return await list_action(services, workspace_id, limit)
    if action == "dump":
        return await dump_action(services, workspace_id, path)
    if action == "load":
        return await load_action(services, workspace_id, path, request_id)
    if action == "copy":
        return await copy_action(services, workspace_id, src_workspace_id, request_id)
    if action == "delete":
        return await delete_action(services, workspace_id)
    return await delete_ids_action(services, workspace_id, memory_ids, request_id)
