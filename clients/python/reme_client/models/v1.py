"""Models of the ``/v1`` REST API, checked against the service's OpenAPI schema by the test suite."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

MemoryType = Literal["task", "personal", "tool"]
SearchMode = Literal["vector", "text", "hybrid"]
Order = Literal["asc", "desc"]
JobStatus = Literal["queued", "running", "done", "failed"]
Result = TypeVar("Result", bound=BaseModel)


class ResponseModel(BaseModel):
    """A model of something the service sends; fields added by a newer service are kept, not refused."""

    model_config = ConfigDict(extra="allow")


class RequestModel(BaseModel):
    """A model of something the client sends; the service validates it and names what is wrong."""

    model_config = ConfigDict(extra="allow")


class Health(ResponseModel):
    status: str
    version: str


class Ready(ResponseModel):
    status: str
    database: str
    revision: str | None
    head: str | None
    embedding_model: str
    embedding_dim: int
    llm_configured: bool


class Workspace(ResponseModel):
    id: str
    description: str
    settings: dict[str, Any]
    created_at: datetime


class WorkspacePage(ResponseModel):
    items: list[Workspace]
    next_cursor: str | None


class WorkspaceStats(ResponseModel):
    workspace_id: str
    memory_count: int
    by_type: dict[str, int]
    avg_score: float | None
    freq_sum: int
    utility_sum: int
    trajectory_count: int
    last_write: datetime | None


class WorkspaceDeleted(ResponseModel):
    workspace_id: str
    deleted: bool
    memory_count: int


class WorkspaceCreate(RequestModel):
    id: str
    description: str = ""
    settings: dict[str, Any] = Field(default_factory=dict)


class NewMemory(RequestModel):
    """A memory to add with ``add_memories``: it needs ``when_to_use`` or ``content``. Without a
    ``memory_id`` the service makes one."""

    memory_id: str = ""
    memory_type: MemoryType = "task"
    when_to_use: str = ""
    content: str = ""
    score: float = 0.0
    target: str = ""
    reflection_subject: str = ""
    author: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    event_time: datetime | None = None


class MemoryPatch(RequestModel):
    """Fields to change; only the fields set are sent. A ``None`` metadata value removes that key,
    ``event_time=None`` clears the event time."""

    when_to_use: str | None = None
    content: str | None = None
    score: float | None = None
    target: str | None = None
    metadata: dict[str, Any] | None = None
    event_time: datetime | None = None


class Memory(ResponseModel):
    workspace_id: str
    memory_id: str
    memory_type: str
    when_to_use: str
    content: str
    score: float
    target: str
    reflection_subject: str
    author: str
    metadata: dict[str, Any]
    freq: int
    utility: int
    event_time: datetime | None
    time_created: datetime
    time_modified: datetime
    source_trajectory_id: uuid.UUID | None


class MemoryPage(ResponseModel):
    items: list[Memory]
    next_cursor: str | None


class MemoriesAdded(ResponseModel):
    items: list[Memory]


class MemoryEvent(ResponseModel):
    id: int
    memory_id: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str
    request_id: str | None
    created_at: datetime


class MemoryHistory(ResponseModel):
    memory_id: str
    events: list[MemoryEvent]


class SearchRequest(RequestModel):
    query: str
    mode: SearchMode = "vector"
    top_k: int = 5
    memory_type: MemoryType | None = None
    target: str | None = None
    min_score: float | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    event_after: datetime | None = None
    event_before: datetime | None = None
    metadata: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class SearchHit(Memory):
    similarity: float | None
    text_rank: float | None
    fused_score: float


class SearchResult(ResponseModel):
    items: list[SearchHit]


class Trajectory(ResponseModel):
    id: uuid.UUID
    workspace_id: str
    kind: str
    task_id: str
    score: float | None
    metadata: dict[str, Any]
    status: str
    error: str | None
    attempts: int
    created_at: datetime
    processed_at: datetime | None


class TrajectoryPage(ResponseModel):
    items: list[Trajectory]
    next_cursor: str | None


class ValidationRecord(ResponseModel):
    id: int
    memory_id: str | None
    candidate: dict[str, Any]
    is_valid: bool
    score: float
    feedback: str
    model: str
    created_at: datetime


class TrajectoryDetail(Trajectory):
    messages: list[Any]
    memories: list[Memory]
    validation_records: list[ValidationRecord]


class TrajectoryRetryRequest(RequestModel):
    user_name: str | None = None


class TrajectoryRetry(ResponseModel):
    """A failed trajectory queued again: poll ``get_job(job_id)``."""

    trajectory_id: uuid.UUID
    job_id: uuid.UUID
    status: str


class ImportResult(ResponseModel):
    workspace_id: str
    imported: int


class Library(ResponseModel):
    """A memory library shipped with the service (ReMe's AppWorld and BFCL v3 task memories)."""

    name: str
    description: str
    memory_count: int


class LibraryList(ResponseModel):
    items: list[Library]


class LibraryLoadRequest(RequestModel):
    workspace_id: str | None = None
    replace: bool = False


class LibraryLoaded(ResponseModel):
    """What ``load_library`` wrote: how many memories of which library into which workspace."""

    library: str
    workspace_id: str
    loaded: int
    replaced: bool


class Job(ResponseModel):
    """An asynchronous job: ``result`` holds the flow's metadata once ``status`` is ``done``."""

    job_id: uuid.UUID
    workspace_id: str
    flow: str
    status: JobStatus
    attempts: int
    max_attempts: int
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    def result_as(self, model: type[Result]) -> Result:
        """The result of a ``done`` job as the flow's typed result, e.g. ``TaskSummaryResult``
        (flows keep it either as the envelope or as its metadata; both are read)."""
        if self.result is None:
            raise ValueError(f"job {self.job_id} is {self.status}: it has no result")
        found = self.result
        if isinstance(found.get("metadata"), dict) and "answer" in found:
            found = {**found["metadata"], "answer": found["answer"], "success": found.get("success", True)}
        return model.model_validate(found)
