"""The ``/v1`` REST API as ``Call`` descriptions; both clients expose each one as a method.
Workspace, memory and trajectory ids are percent-encoded into the path."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from reme_client._core import Call, body, query, read_model, read_nothing, segment
from reme_client.models.v1 import (
    Health,
    ImportResult,
    Job,
    Library,
    LibraryList,
    LibraryLoaded,
    LibraryLoadRequest,
    MemoriesAdded,
    Memory,
    MemoryHistory,
    MemoryPage,
    MemoryPatch,
    MemoryType,
    NewMemory,
    Order,
    Ready,
    SearchHit,
    SearchMode,
    SearchRequest,
    SearchResult,
    TrajectoryDetail,
    TrajectoryPage,
    TrajectoryRetry,
    TrajectoryRetryRequest,
    Workspace,
    WorkspaceCreate,
    WorkspaceDeleted,
    WorkspacePage,
    WorkspaceStats,
)


class Unset:
    """The default of a field that may be set to None on purpose (``event_time=None`` clears it)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset()


def _workspace(workspace_id: str) -> str:
    return f"/v1/workspaces/{segment(workspace_id)}"


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def health() -> Call[Health]:
    """Liveness: the process answers."""
    return Call("GET", "/health", read_model(Health))


def ready() -> Call[Ready]:
    """Readiness: the database, its schema revision, the embedding model, whether a chat model is set."""
    return Call("GET", "/ready", read_model(Ready))


def list_workspaces(*, limit: int | None = None, cursor: str | None = None) -> Call[WorkspacePage]:
    """One page of workspaces, by id; pass ``next_cursor`` back for the next page."""
    return Call("GET", "/v1/workspaces", read_model(WorkspacePage), params=query(limit=limit, cursor=cursor))


def create_workspace(
    workspace_id: str, *, description: str | None = None, settings: Mapping[str, Any] | None = None
) -> Call[Workspace]:
    """Create a workspace (a ``ConflictError`` when the id is taken). Writes create one too."""
    request = WorkspaceCreate(
        id=workspace_id,
        **_given(description=description, settings=dict(settings) if settings is not None else None),
    )
    return Call("POST", "/v1/workspaces", read_model(Workspace), json=body(request))


def workspace_stats(workspace_id: str) -> Call[WorkspaceStats]:
    """Counts and sums of a workspace (a ``NotFoundError`` when it does not exist)."""
    return Call("GET", f"{_workspace(workspace_id)}/stats", read_model(WorkspaceStats))


def delete_workspace(workspace_id: str) -> Call[WorkspaceDeleted]:
    """Delete a workspace and everything in it."""
    return Call("DELETE", _workspace(workspace_id), read_model(WorkspaceDeleted))


def _read_added(response: httpx.Response) -> list[Memory]:
    return MemoriesAdded.model_validate(response.json()).items


def add_memories(
    workspace_id: str, memories: NewMemory | Mapping[str, Any] | Sequence[NewMemory | Mapping[str, Any]]
) -> Call[list[Memory]]:
    """Add memories as given (embedded by the service, no chat model needed); up to 1,000 at once."""
    items = [memories] if isinstance(memories, NewMemory | Mapping) else list(memories)
    payload = [body(NewMemory.model_validate(item)) for item in items]
    return Call("POST", f"{_workspace(workspace_id)}/memories", _read_added, json=payload)


def list_memories(
    workspace_id: str,
    *,
    memory_type: MemoryType | None = None,
    target: str | None = None,
    min_score: float | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    order: Order | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Call[MemoryPage]:
    """One page of a workspace's memories by creation time; ``iter_memories`` follows the cursors."""
    params = query(
        type=memory_type,
        target=target,
        min_score=min_score,
        created_after=created_after.isoformat() if created_after else None,
        created_before=created_before.isoformat() if created_before else None,
        order=order,
        limit=limit,
        cursor=cursor,
    )
    return Call("GET", f"{_workspace(workspace_id)}/memories", read_model(MemoryPage), params=params)


def get_memory(workspace_id: str, memory_id: str) -> Call[Memory]:
    """One memory (a ``NotFoundError`` when unknown)."""
    path = f"{_workspace(workspace_id)}/memories/{segment(memory_id)}"
    return Call("GET", path, read_model(Memory))


def patch_memory(
    workspace_id: str,
    memory_id: str,
    *,
    when_to_use: str | None = None,
    content: str | None = None,
    score: float | None = None,
    target: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    event_time: datetime | Unset | None = UNSET,
) -> Call[Memory]:
    """Change fields of a memory. ``metadata`` is merged key by key (a ``None`` value removes the key);
    ``event_time=None`` clears the event time. The previous version is kept in its history."""
    fields = _given(
        when_to_use=when_to_use,
        content=content,
        score=score,
        target=target,
        metadata=dict(metadata) if metadata is not None else None,
    )
    if not isinstance(event_time, Unset):
        fields["event_time"] = event_time
    path = f"{_workspace(workspace_id)}/memories/{segment(memory_id)}"
    return Call("PATCH", path, read_model(Memory), json=body(MemoryPatch(**fields)))


def delete_memory(workspace_id: str, memory_id: str) -> Call[None]:
    """Delete a memory; its last version stays in its history."""
    path = f"{_workspace(workspace_id)}/memories/{segment(memory_id)}"
    return Call("DELETE", path, read_nothing)


def memory_history(workspace_id: str, memory_id: str) -> Call[MemoryHistory]:
    """Every change of a memory, oldest first (also after it was deleted)."""
    path = f"{_workspace(workspace_id)}/memories/{segment(memory_id)}/history"
    return Call("GET", path, read_model(MemoryHistory))


def _read_hits(response: httpx.Response) -> list[SearchHit]:
    return SearchResult.model_validate(response.json()).items


def search(
    workspace_id: str,
    query: str,
    *,
    mode: SearchMode | None = None,
    top_k: int | None = None,
    memory_type: MemoryType | None = None,
    target: str | None = None,
    min_score: float | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    event_after: datetime | None = None,
    event_before: datetime | None = None,
    metadata: Mapping[str, str | int | float | bool | None] | None = None,
) -> Call[list[SearchHit]]:
    """Search a workspace: ``mode`` vector (default), text (web-search syntax) or hybrid; the filters
    narrow the memories searched. ``metadata`` matches keys with equal values."""
    request = SearchRequest(
        query=query,
        **_given(
            mode=mode,
            top_k=top_k,
            memory_type=memory_type,
            target=target,
            min_score=min_score,
            created_after=created_after,
            created_before=created_before,
            event_after=event_after,
            event_before=event_before,
            metadata=dict(metadata) if metadata is not None else None,
        ),
    )
    return Call("POST", f"{_workspace(workspace_id)}/search", _read_hits, json=body(request))


def list_trajectories(
    workspace_id: str,
    *,
    kind: str | None = None,
    status: str | None = None,
    order: Order | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Call[TrajectoryPage]:
    """One page of the runs and conversations a workspace was sent (newest first by default)."""
    params = query(kind=kind, status=status, order=order, limit=limit, cursor=cursor)
    return Call("GET", f"{_workspace(workspace_id)}/trajectories", read_model(TrajectoryPage), params=params)


def get_trajectory(workspace_id: str, trajectory_id: uuid.UUID | str) -> Call[TrajectoryDetail]:
    """A run with its messages, the memories learnt from it and every candidate the judge saw."""
    path = f"{_workspace(workspace_id)}/trajectories/{segment(trajectory_id)}"
    return Call("GET", path, read_model(TrajectoryDetail))


def retry_trajectory(
    workspace_id: str, trajectory_id: uuid.UUID | str, *, user_name: str | None = None
) -> Call[TrajectoryRetry]:
    """Summarise a failed (or interrupted) trajectory again, as a job; ``user_name`` for a personal one."""
    path = f"{_workspace(workspace_id)}/trajectories/{segment(trajectory_id)}/retry"
    request = TrajectoryRetryRequest(**_given(user_name=user_name))
    return Call("POST", path, read_model(TrajectoryRetry), json=body(request))


def get_job(job_id: uuid.UUID | str) -> Call[Job]:
    """The status, result or error of a flow sent with ``submit_...`` (``async_mode``)."""
    return Call("GET", f"/v1/jobs/{segment(job_id)}", read_model(Job))


def export_workspace(workspace_id: str, *, include_embeddings: bool = False) -> Call[None]:
    """The export request; the clients stream its NDJSON lines."""
    params = query(include_embeddings=include_embeddings or None)
    return Call("GET", f"{_workspace(workspace_id)}/export", read_nothing, params=params)


def import_memories(workspace_id: str, content: Any, *, replace: bool = False) -> Call[ImportResult]:
    """The import request; ``content`` is bytes or a stream of NDJSON lines."""
    return Call(
        "POST",
        f"{_workspace(workspace_id)}/import",
        read_model(ImportResult),
        params=query(replace=replace or None),
        content=content,
        headers={"content-type": "application/x-ndjson"},
    )


def _read_libraries(response: httpx.Response) -> list[Library]:
    return LibraryList.model_validate(response.json()).items


def list_libraries() -> Call[list[Library]]:
    """The memory libraries shipped with the service: name, description and memory count."""
    return Call("GET", "/v1/library", _read_libraries)


def load_library(name: str, *, workspace_id: str | None = None, replace: bool = False) -> Call[LibraryLoaded]:
    """Load a shipped library into ``workspace_id`` (default: a workspace named after the library);
    the service embeds it with its model. Loading twice changes nothing (the same ids are replaced);
    ``replace=True`` makes the library the workspace's only memories. Needs a write key."""
    request = LibraryLoadRequest(**_given(workspace_id=workspace_id, replace=replace or None))
    return Call("POST", f"/v1/library/{segment(name)}/load", read_model(LibraryLoaded), json=body(request))
