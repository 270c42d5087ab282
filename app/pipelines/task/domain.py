"""The objects task-memory flows pass between their steps."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

Origin = Literal["success", "failure", "comparative", "simple"]


@dataclass
class NewTrajectory:
    """A trajectory as a client sent it, before it is stored."""

    task_id: str
    messages: list[dict[str, Any]]
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class StoredTrajectory(NewTrajectory):
    """A trajectory once stored; ``id`` is its row id."""

    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass
class Experience:
    """What an extraction step proposes: when a lesson applies, and the lesson."""

    when_to_use: str
    content: str
    tags: list[str] = field(default_factory=list)
    tools_used: list[str] = field(default_factory=list)
    confidence: float | None = None
    step_type: str = ""


@dataclass
class Verdict:
    """The judge's reading of one candidate; an unreadable verdict is a rejection."""

    is_valid: bool
    score: float
    feedback: str


@dataclass
class Candidate:
    """One proposed memory, followed from extraction to storage."""

    origin: Origin
    experience: Experience
    sources: list[StoredTrajectory]
    verdict: Verdict | None = None
    embedding: list[float] | None = None
    duplicate_of: str | None = None
    memory_id: str | None = None

    @property
    def task_id(self) -> str:
        return self.sources[0].task_id

    @property
    def quality(self) -> float:
        """The judge's score, else the proposer's own confidence (simple flow), else 0."""
        if self.verdict is not None:
            return self.verdict.score
        return self.experience.confidence or 0.0

    def as_record(self) -> dict[str, Any]:
        """The candidate as kept in ``validation_record.candidate``."""
        record: dict[str, Any] = {
            "origin": self.origin,
            "when_to_use": self.experience.when_to_use,
            "content": self.experience.content,
            "tags": self.experience.tags,
            "task_id": self.task_id,
            "trajectory_ids": [str(t.id) for t in self.sources],
        }
        if self.duplicate_of:
            record["duplicate_of"] = self.duplicate_of
        return record


@dataclass
class RetrievalFilters:
    min_score: float | None = None
    created_after: str | None = None
    created_before: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class FlowResult:
    """What a flow answers: the envelope's ``answer`` and ``metadata``."""

    answer: str
    metadata: dict[str, Any]

    def as_job_result(self) -> dict[str, Any]:
        return {"answer": self.answer, **self.metadata}
