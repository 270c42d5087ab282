"""Request models of the ReMe-compatible task-memory flows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.pipelines.task.domain import NewTrajectory, RetrievalFilters
from app.schemas.flow import FlowRequest


class TaskMessage(BaseModel):
    """One message of a trajectory; fields other than ``role`` are kept as sent (ReMe's included)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[Any] | None = None


class TrajectoryIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    task_id: str = ""
    messages: list[TaskMessage] = Field(min_length=1)
    score: float
    metadata: dict[str, Any] = Field(default_factory=dict)

    def to_new(self) -> NewTrajectory:
        # exclude_unset keeps each message exactly as the client sent it.
        return NewTrajectory(
            task_id=self.task_id,
            messages=[m.model_dump(exclude_unset=True) for m in self.messages],
            score=self.score,
            metadata=self.metadata,
        )


class SummaryTaskRequest(FlowRequest):
    trajectories: list[TrajectoryIn] = Field(min_length=1)
    async_mode: bool = False

    def new_trajectories(self) -> list[NewTrajectory]:
        return [t.to_new() for t in self.trajectories]


class RetrieveTaskRequest(FlowRequest):
    top_k: int = Field(default=3, ge=1)
    search_mode: Literal["vector", "hybrid"] | None = None
    min_score: float | None = None
    created_after: str | None = None
    created_before: str | None = None
    # Equality on memory metadata keys, e.g. {"task_id": "t1"}.
    metadata_filter: dict[str, Any] = Field(default_factory=dict)
    rerank: bool | None = None
    rewrite: bool | None = None

    def filters(self) -> RetrievalFilters:
        return RetrievalFilters(
            min_score=self.min_score,
            created_after=self.created_after,
            created_before=self.created_before,
            metadata=self.metadata_filter,
        )


class RecordTaskRequest(FlowRequest):
    memory_dicts: list[dict[str, Any]] = Field(default_factory=list)
    memory_ids: list[str] = Field(default_factory=list)
    update_utility: bool = False


class DeleteTaskRequest(FlowRequest):
    freq_threshold: int | None = Field(default=None, ge=1)
    utility_threshold: float | None = Field(default=None, ge=0.0)


class ReactRequest(FlowRequest):
    """``react``: a task (``query``, or ``messages``) for the chat model, helped by task memories."""

    top_k: int = Field(default=3, ge=1, description="task memories put in the model's context")
