"""The ReMe-compatible flows as ``Call`` descriptions; both clients expose each one as a method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, TypeAdapter

from reme_client._core import Call, body, read_flow
from reme_client.models.flows import (
    AddToolCallResultRequest,
    DeleteTaskRequest,
    PersonalTrajectory,
    ReactRequest,
    RecordTaskRequest,
    RetrievePersonalMemoryRequest,
    RetrieveTaskRequest,
    SummaryPersonalMemoryRequest,
    SummaryTaskRequest,
    TaskTrajectory,
    ToolNamesRequest,
    VectorStoreAction,
    VectorStoreRequest,
)
from reme_client.models.results import (
    FlowListing,
    JobAccepted,
    PersonalRetrieveResult,
    PersonalSummaryResult,
    ReactResult,
    TaskDeleteResult,
    TaskRecordResult,
    TaskRetrieveResult,
    TaskSummaryResult,
    ToolCallsRecorded,
    ToolRetrieveResult,
    ToolSummaryResult,
    VectorStoreResult,
)

MemoryRef = str | BaseModel | Mapping[str, Any]
TaskSearchMode = Literal["vector", "hybrid"]


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _time(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _flow(path: str, request: BaseModel, result: type[Any]) -> Call[Any]:
    return Call("POST", path, read_flow(result), json=body(request))


def _submitted(path: str, request: BaseModel) -> Call[JobAccepted]:
    payload = {**body(request), "async_mode": True}
    return Call("POST", path, read_flow(JobAccepted), json=payload)


def _task_summary(workspace_id: str, trajectories: Sequence[TaskTrajectory | Mapping[str, Any]]) -> BaseModel:
    runs = [TaskTrajectory.model_validate(t) for t in trajectories]
    return SummaryTaskRequest(workspace_id=workspace_id, trajectories=runs)


def summary_task_memory(
    workspace_id: str, trajectories: Sequence[TaskTrajectory | Mapping[str, Any]]
) -> Call[TaskSummaryResult]:
    """Learn task memories from scored agent runs (needs the service's chat model)."""
    return _flow("/summary_task_memory", _task_summary(workspace_id, trajectories), TaskSummaryResult)


def submit_summary_task_memory(
    workspace_id: str, trajectories: Sequence[TaskTrajectory | Mapping[str, Any]]
) -> Call[JobAccepted]:
    """``summary_task_memory`` as a job (``async_mode``): the runs are stored now, a worker learns later."""
    return _submitted("/summary_task_memory", _task_summary(workspace_id, trajectories))


def summary_task_memory_simple(
    workspace_id: str, trajectories: Sequence[TaskTrajectory | Mapping[str, Any]]
) -> Call[TaskSummaryResult]:
    """Learn task memories with one model call per run (no judge)."""
    request = _task_summary(workspace_id, trajectories)
    return _flow("/summary_task_memory_simple", request, TaskSummaryResult)


def submit_summary_task_memory_simple(
    workspace_id: str, trajectories: Sequence[TaskTrajectory | Mapping[str, Any]]
) -> Call[JobAccepted]:
    """``summary_task_memory_simple`` as a job."""
    return _submitted("/summary_task_memory_simple", _task_summary(workspace_id, trajectories))


def _retrieve_task(
    path: str,
    workspace_id: str,
    query: str,
    *,
    messages: Sequence[Mapping[str, Any]] | None,
    top_k: int | None,
    search_mode: TaskSearchMode | None,
    min_score: float | None,
    created_after: datetime | str | None,
    created_before: datetime | str | None,
    metadata_filter: Mapping[str, Any] | None,
    rerank: bool | None,
    rewrite: bool | None,
) -> Call[TaskRetrieveResult]:
    request = RetrieveTaskRequest(
        workspace_id=workspace_id,
        query=query,
        **_given(
            messages=[dict(m) for m in messages] if messages is not None else None,
            top_k=top_k,
            search_mode=search_mode,
            min_score=min_score,
            created_after=_time(created_after),
            created_before=_time(created_before),
            metadata_filter=dict(metadata_filter) if metadata_filter is not None else None,
            rerank=rerank,
            rewrite=rewrite,
        ),
    )
    return _flow(path, request, TaskRetrieveResult)


def retrieve_task_memory(
    workspace_id: str,
    query: str = "",
    *,
    messages: Sequence[Mapping[str, Any]] | None = None,
    top_k: int | None = None,
    search_mode: TaskSearchMode | None = None,
    min_score: float | None = None,
    created_after: datetime | str | None = None,
    created_before: datetime | str | None = None,
    metadata_filter: Mapping[str, Any] | None = None,
    rerank: bool | None = None,
    rewrite: bool | None = None,
) -> Call[TaskRetrieveResult]:
    """Task memories for a task, and ``answer`` as guidance text (rerank/rewrite need the chat model)."""
    return _retrieve_task(
        "/retrieve_task_memory",
        workspace_id,
        query,
        messages=messages,
        top_k=top_k,
        search_mode=search_mode,
        min_score=min_score,
        created_after=created_after,
        created_before=created_before,
        metadata_filter=metadata_filter,
        rerank=rerank,
        rewrite=rewrite,
    )


def retrieve_task_memory_simple(
    workspace_id: str,
    query: str = "",
    *,
    messages: Sequence[Mapping[str, Any]] | None = None,
    top_k: int | None = None,
    search_mode: TaskSearchMode | None = None,
    min_score: float | None = None,
    created_after: datetime | str | None = None,
    created_before: datetime | str | None = None,
    metadata_filter: Mapping[str, Any] | None = None,
) -> Call[TaskRetrieveResult]:
    """Task memories for a task without any model call; ``answer`` is a numbered list."""
    return _retrieve_task(
        "/retrieve_task_memory_simple",
        workspace_id,
        query,
        messages=messages,
        top_k=top_k,
        search_mode=search_mode,
        min_score=min_score,
        created_after=created_after,
        created_before=created_before,
        metadata_filter=metadata_filter,
        rerank=None,
        rewrite=None,
    )


def memory_id_of(memory: MemoryRef) -> str:
    """The id of a memory given as an id, a memory model or a memory dict."""
    if isinstance(memory, str):
        return memory
    value = memory.get("memory_id") if isinstance(memory, Mapping) else getattr(memory, "memory_id", None)
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a memory (it has no memory_id): {memory!r}")
    return value


def record_task_memory(
    workspace_id: str, memories: Sequence[MemoryRef], *, update_utility: bool = False
) -> Call[TaskRecordResult]:
    """Count one use of each memory (ids, or memories as retrieval returned them), and one success
    when ``update_utility`` is true (they helped)."""
    ids = [memory_id_of(m) for m in memories]
    request = RecordTaskRequest(workspace_id=workspace_id, memory_ids=ids, update_utility=update_utility)
    return _flow("/record_task_memory", request, TaskRecordResult)


def delete_task_memory(
    workspace_id: str, *, freq_threshold: int | None = None, utility_threshold: float | None = None
) -> Call[TaskDeleteResult]:
    """Delete the task memories used at least ``freq_threshold`` times that helped in less than
    ``utility_threshold`` of their uses (the service's defaults when not given)."""
    request = DeleteTaskRequest(
        workspace_id=workspace_id,
        **_given(freq_threshold=freq_threshold, utility_threshold=utility_threshold),
    )
    return _flow("/delete_task_memory", request, TaskDeleteResult)


def react(
    workspace_id: str,
    query: str = "",
    *,
    messages: Sequence[Mapping[str, Any]] | None = None,
    top_k: int | None = None,
) -> Call[ReactResult]:
    """The service's chat model answers a task (``query``, after any earlier ``messages``) with the
    ``top_k`` most relevant task memories in its context (needs the service's chat model).
    ``result.as_trajectory(score)`` turns the conversation into a run for ``summary_task_memory``."""
    request = ReactRequest(
        workspace_id=workspace_id,
        query=query,
        **_given(messages=[dict(m) for m in messages] if messages is not None else None, top_k=top_k),
    )
    return _flow("/react", request, ReactResult)


def _personal_summary(
    workspace_id: str, trajectories: Sequence[PersonalTrajectory | Mapping[str, Any]], user_name: str | None
) -> BaseModel:
    conversations = [PersonalTrajectory.model_validate(t) for t in trajectories]
    return SummaryPersonalMemoryRequest(
        workspace_id=workspace_id, trajectories=conversations, **_given(user_name=user_name)
    )


def summary_personal_memory(
    workspace_id: str,
    trajectories: Sequence[PersonalTrajectory | Mapping[str, Any]],
    *,
    user_name: str | None = None,
) -> Call[PersonalSummaryResult]:
    """Read facts about ``user_name`` from conversations and reconcile them with what is known."""
    request = _personal_summary(workspace_id, trajectories, user_name)
    return _flow("/summary_personal_memory", request, PersonalSummaryResult)


def submit_summary_personal_memory(
    workspace_id: str,
    trajectories: Sequence[PersonalTrajectory | Mapping[str, Any]],
    *,
    user_name: str | None = None,
) -> Call[JobAccepted]:
    """``summary_personal_memory`` as a job."""
    return _submitted("/summary_personal_memory", _personal_summary(workspace_id, trajectories, user_name))


def retrieve_personal_memory(
    workspace_id: str,
    query: str = "",
    *,
    user_name: str | None = None,
    top_k: int | None = None,
    reference_time: datetime | str | None = None,
    messages: Sequence[Mapping[str, Any]] | None = None,
) -> Call[PersonalRetrieveResult]:
    """What is known about ``user_name`` that answers ``query`` (time phrases are understood)."""
    request = RetrievePersonalMemoryRequest(
        workspace_id=workspace_id,
        query=query,
        **_given(
            user_name=user_name,
            top_k=top_k,
            reference_time=_time(reference_time),
            messages=[dict(m) for m in messages] if messages is not None else None,
        ),
    )
    return _flow("/retrieve_personal_memory", request, PersonalRetrieveResult)


def _tool_calls(
    workspace_id: str, tool_call_results: Sequence[Mapping[str, Any]], tool_name: str | None
) -> BaseModel:
    return AddToolCallResultRequest(
        workspace_id=workspace_id,
        tool_call_results=[dict(c) for c in tool_call_results],
        **_given(tool_name=tool_name),
    )


def add_tool_call_result(
    workspace_id: str, tool_call_results: Sequence[Mapping[str, Any]], *, tool_name: str | None = None
) -> Call[ToolCallsRecorded]:
    """Record tool calls (``tool_name``, ``input``, ``output``, ``success``, ``time_cost``...) and
    judge the new ones; invalid items come back in ``rejected``."""
    request = _tool_calls(workspace_id, tool_call_results, tool_name)
    return _flow("/add_tool_call_result", request, ToolCallsRecorded)


def submit_add_tool_call_result(
    workspace_id: str, tool_call_results: Sequence[Mapping[str, Any]], *, tool_name: str | None = None
) -> Call[JobAccepted]:
    """``add_tool_call_result`` as a job (the items are still checked at once)."""
    return _submitted("/add_tool_call_result", _tool_calls(workspace_id, tool_call_results, tool_name))


def summary_tool_memory(workspace_id: str, tool_names: Sequence[str]) -> Call[ToolSummaryResult]:
    """Write each named tool's usage guideline from its recent calls."""
    request = ToolNamesRequest(workspace_id=workspace_id, tool_names=list(tool_names))
    return _flow("/summary_tool_memory", request, ToolSummaryResult)


def submit_summary_tool_memory(workspace_id: str, tool_names: Sequence[str]) -> Call[JobAccepted]:
    """``summary_tool_memory`` as a job."""
    request = ToolNamesRequest(workspace_id=workspace_id, tool_names=list(tool_names))
    return _submitted("/summary_tool_memory", request)


def retrieve_tool_memory(workspace_id: str, tool_names: Sequence[str]) -> Call[ToolRetrieveResult]:
    """The guidelines of the named tools (exact names). As in ReMe, names without tool memory are
    not an error: they are listed in ``unknown`` and ``notes`` beside the known tools' guidelines."""
    request = ToolNamesRequest(workspace_id=workspace_id, tool_names=list(tool_names))
    return _flow("/retrieve_tool_memory", request, ToolRetrieveResult)


def vector_store(
    workspace_id: str,
    action: VectorStoreAction,
    *,
    path: str | None = None,
    src_workspace_id: str | None = None,
    memory_ids: Sequence[str] | None = None,
    limit: int | None = None,
) -> Call[VectorStoreResult]:
    """ReMe's workspace actions: list, dump, load, copy, delete, delete_ids (paths are on the server)."""
    request = VectorStoreRequest(
        workspace_id=workspace_id,
        action=action,
        **_given(
            path=path,
            src_workspace_id=src_workspace_id,
            memory_ids=list(memory_ids) if memory_ids is not None else None,
            limit=limit,
        ),
    )
    return _flow("/vector_store", request, VectorStoreResult)


_LISTINGS = TypeAdapter(list[FlowListing])


def _read_listings(response: httpx.Response) -> list[FlowListing]:
    return _LISTINGS.validate_python(response.json())


def list_flows() -> Call[list[FlowListing]]:
    """Every flow the service runs, as ReMe's ``GET /list`` describes it: an OpenAI-style function
    tool with the flow's name, description and request schema (ready to hand to an agent's model)."""
    return Call("GET", "/list", _read_listings)
