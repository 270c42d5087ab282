"""Request and response models of the /v1 REST API. Vectors never appear in them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from app.models import Memory, MemoryEvent, Trajectory, ValidationRecord, Workspace
from app.schemas.flow import WorkspaceId
from app.store.memories import NewMemory, new_memory_id
from app.store.search import SearchFilters, SearchHit, SearchRequest
from app.store.workspaces import WorkspaceStats

MemoryType = Literal["task", "personal", "tool"]
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# Larger sets go through the NDJSON import.
MAX_MEMORIES_PER_ADD = 1000


class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: WorkspaceId
    description: str = ""
    settings: dict[str, Any] = Field(default_factory=dict)


class WorkspaceOut(BaseModel):
    id: str
    description: str
    settings: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, workspace: Workspace) -> WorkspaceOut:
        return cls(
            id=workspace.id,
            description=workspace.description,
            settings=workspace.settings,
            created_at=workspace.created_at,
        )


class WorkspacePage(BaseModel):
    items: list[WorkspaceOut]
    next_cursor: str | None


class WorkspaceStatsOut(BaseModel):
    workspace_id: str
    memory_count: int
    by_type: dict[str, int]
    avg_score: float | None
    freq_sum: int
    utility_sum: int
    trajectory_count: int
    last_write: datetime | None

    @classmethod
    def of(cls, stats: WorkspaceStats) -> WorkspaceStatsOut:
        return cls(**vars(stats))


class WorkspaceDeleted(BaseModel):
    workspace_id: str
    deleted: bool
    memory_count: int


class MemoryIn(BaseModel):
    """A memory added directly: it is embedded and stored as given, without an LLM."""

    model_config = ConfigDict(extra="forbid")

    memory_id: str = Field(default_factory=new_memory_id, min_length=1, max_length=128)
    memory_type: MemoryType = "task"
    when_to_use: str = ""
    content: str = ""
    score: float = 0.0
    target: str = ""
    reflection_subject: str = ""
    author: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    event_time: datetime | None = None

    @model_validator(mode="after")
    def _has_text(self) -> MemoryIn:
        if not (self.when_to_use.strip() or self.content.strip()):
            raise ValueError("a memory needs when_to_use or content")
        return self

    def to_new(self) -> NewMemory:
        return NewMemory(
            memory_type=self.memory_type,
            when_to_use=self.when_to_use,
            content=self.content,
            memory_id=self.memory_id,
            score=self.score,
            target=self.target,
            reflection_subject=self.reflection_subject,
            author=self.author,
            metadata=self.metadata,
            event_time=self.event_time,
        )


class MemoriesIn(RootModel[MemoryIn | list[MemoryIn]]):
    """One memory, or a list of them."""

    def as_list(self) -> list[MemoryIn]:
        return self.root if isinstance(self.root, list) else [self.root]


class MemoryPatchIn(BaseModel):
    """Fields to change. ``metadata`` is merged into the stored one; a null value removes a key."""

    model_config = ConfigDict(extra="forbid")

    when_to_use: str | None = None
    content: str | None = None
    score: float | None = None
    target: str | None = None
    metadata: dict[str, Any] | None = None
    event_time: datetime | None = None

    def column_changes(self) -> dict[str, Any]:
        """The given fields other than metadata (``event_time: null`` clears it)."""
        return {
            name: getattr(self, name)
            for name in self.model_fields_set
            if name != "metadata" and (name == "event_time" or getattr(self, name) is not None)
        }


class MemoryOut(BaseModel):
    """ReMe's memory fields plus the columns this service keeps beside them."""

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

    @classmethod
    def of(cls, memory: Memory) -> MemoryOut:
        return cls(
            workspace_id=memory.workspace_id,
            memory_id=memory.memory_id,
            memory_type=memory.memory_type,
            when_to_use=memory.when_to_use,
            content=memory.content,
            score=memory.score,
            target=memory.target,
            reflection_subject=memory.reflection_subject,
            author=memory.author,
            metadata=memory.metadata_,
            freq=memory.freq,
            utility=memory.utility,
            event_time=memory.event_time,
            time_created=memory.time_created,
            time_modified=memory.time_modified,
            source_trajectory_id=memory.source_trajectory_id,
        )


class MemoryPage(BaseModel):
    items: list[MemoryOut]
    next_cursor: str | None


class MemoriesAdded(BaseModel):
    items: list[MemoryOut]


class MemoryEventOut(BaseModel):
    id: int
    memory_id: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str
    request_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, event: MemoryEvent) -> MemoryEventOut:
        return cls(
            id=event.id,
            memory_id=event.memory_id,
            action=event.action,
            before=event.before,
            after=event.after,
            reason=event.reason,
            request_id=event.request_id,
            created_at=event.created_at,
        )


class MemoryHistory(BaseModel):
    memory_id: str
    events: list[MemoryEventOut]


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1)
    mode: Literal["vector", "text", "hybrid"] = "vector"
    top_k: int = Field(default=5, ge=1)
    memory_type: MemoryType | None = None
    target: str | None = None
    min_score: float | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    event_after: datetime | None = None
    event_before: datetime | None = None
    # Equality on metadata keys (JSON containment); no operators.
    metadata: dict[str, str | int | float | bool | None] = Field(default_factory=dict)

    def to_request(self, workspace_id: str, embedding: list[float] | None) -> SearchRequest:
        filters = SearchFilters(
            workspace_id,
            memory_type=self.memory_type,
            target=self.target,
            min_score=self.min_score,
            created_after=self.created_after,
            created_before=self.created_before,
            event_after=self.event_after,
            event_before=self.event_before,
            metadata=dict(self.metadata),
        )
        # Hybrid mode looks for people the query names (app.store.people) unless a target is given.
        people = self.mode == "hybrid" and self.target is None
        return SearchRequest(
            filters,
            top_k=self.top_k,
            mode=self.mode,
            embedding=embedding,
            text=self.query,
            find_people=people,
        )


class SearchHitOut(MemoryOut):
    similarity: float | None
    text_rank: float | None
    fused_score: float

    @classmethod
    def of_hit(cls, hit: SearchHit) -> SearchHitOut:
        base = MemoryOut.of(hit.memory).model_dump()
        return cls(**base, similarity=hit.similarity, text_rank=hit.text_rank, fused_score=hit.fused_score)


class SearchOut(BaseModel):
    items: list[SearchHitOut]


class TrajectoryOut(BaseModel):
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

    @classmethod
    def of(cls, trajectory: Trajectory) -> TrajectoryOut:
        return cls(
            id=trajectory.id,
            workspace_id=trajectory.workspace_id,
            kind=trajectory.kind,
            task_id=trajectory.task_id,
            score=trajectory.score,
            metadata=trajectory.metadata_,
            status=trajectory.status,
            error=trajectory.error,
            attempts=trajectory.attempts,
            created_at=trajectory.created_at,
            processed_at=trajectory.processed_at,
        )


class TrajectoryPage(BaseModel):
    items: list[TrajectoryOut]
    next_cursor: str | None


class ValidationRecordOut(BaseModel):
    id: int
    memory_id: str | None
    candidate: dict[str, Any]
    is_valid: bool
    score: float
    feedback: str
    model: str
    created_at: datetime

    @classmethod
    def of(cls, record: ValidationRecord) -> ValidationRecordOut:
        return cls(
            id=record.id,
            memory_id=record.memory_id,
            candidate=record.candidate,
            is_valid=record.is_valid,
            score=record.score,
            feedback=record.feedback,
            model=record.model,
            created_at=record.created_at,
        )


class TrajectoryDetailOut(TrajectoryOut):
    messages: list[Any]
    memories: list[MemoryOut]
    validation_records: list[ValidationRecordOut]


class ImportResult(BaseModel):
    workspace_id: str
    imported: int
