"""Requests of the ReMe-compatible flows (``POST /{flow}``), checked against the OpenAPI schema."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from reme_client.models.v1 import RequestModel, ResponseModel

Role = Literal["system", "user", "assistant", "tool"]
VectorStoreAction = Literal["list", "dump", "load", "copy", "delete", "delete_ids"]


class ReMeResponse(ResponseModel):
    """ReMe's answer envelope: every flow answers it, and so does every error."""

    answer: str = ""
    messages: list[Any] = Field(default_factory=list)
    success: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict)


class TaskMessage(RequestModel):
    """One message of an agent run; extra keys (``tool_calls``, ``tool_call_id``...) are sent as given."""

    role: Role
    content: str | list[Any] | None = None


class TaskTrajectory(RequestModel):
    """A scored agent run: ``score`` 1.0 for a success, 0.0 for a failure."""

    task_id: str = ""
    messages: list[TaskMessage]
    score: float
    metadata: dict[str, Any] = Field(default_factory=dict)


class SummaryTaskRequest(RequestModel):
    workspace_id: str = "default"
    trajectories: list[TaskTrajectory]
    async_mode: bool = False


class RetrieveTaskRequest(RequestModel):
    workspace_id: str = "default"
    query: str = ""
    messages: list[dict[str, Any]] = Field(default_factory=list)
    top_k: int = 3
    search_mode: Literal["vector", "hybrid"] | None = None
    min_score: float | None = None
    created_after: str | None = None
    created_before: str | None = None
    metadata_filter: dict[str, Any] = Field(default_factory=dict)
    rerank: bool | None = None
    rewrite: bool | None = None


class RecordTaskRequest(RequestModel):
    workspace_id: str = "default"
    memory_dicts: list[dict[str, Any]] = Field(default_factory=list)
    memory_ids: list[str] = Field(default_factory=list)
    update_utility: bool = False


class ReactRequest(RequestModel):
    """``react``: a task (``query``, or earlier ``messages``) for the service's chat model."""

    workspace_id: str = "default"
    query: str = ""
    messages: list[dict[str, Any]] = Field(default_factory=list)
    top_k: int = 3


class DeleteTaskRequest(RequestModel):
    workspace_id: str = "default"
    freq_threshold: int | None = None
    utility_threshold: float | None = None


class PersonalMessage(RequestModel):
    """A conversation message; ``time_created`` ("YYYY-mm-dd HH:MM:SS", ISO 8601 or epoch seconds)
    is when it was said, so that "last weekend" resolves to the right dates."""

    role: str = "user"
    content: str | list[Any] | None = ""
    time_created: str | float | None = None


class PersonalTrajectory(RequestModel):
    task_id: str = ""
    messages: list[PersonalMessage] = Field(default_factory=list)
    score: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class SummaryPersonalMemoryRequest(RequestModel):
    workspace_id: str = "default"
    trajectories: list[PersonalTrajectory] = Field(default_factory=list)
    user_name: str = "user"
    async_mode: bool = False


class RetrievePersonalMemoryRequest(RequestModel):
    workspace_id: str = "default"
    query: str = ""
    messages: list[dict[str, Any]] = Field(default_factory=list)
    top_k: int = 3
    # None: every user's facts in the workspace.
    user_name: str | None = None
    reference_time: str | None = None


class AddToolCallResultRequest(RequestModel):
    workspace_id: str = "default"
    tool_call_results: list[Any] = Field(default_factory=list)
    tool_name: str = ""
    async_mode: bool = False


class ToolNamesRequest(RequestModel):
    workspace_id: str = "default"
    tool_names: list[str]
    async_mode: bool = False


class VectorStoreRequest(RequestModel):
    workspace_id: str = "default"
    action: VectorStoreAction
    path: str = ""
    src_workspace_id: str | None = None
    memory_ids: list[str] = Field(default_factory=list)
    top_k: int | None = None
    limit: int | None = None
