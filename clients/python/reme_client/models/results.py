"""Typed results of the ReMe-compatible flows: the envelope's ``answer`` and ``success`` beside the
fields of its ``metadata``. The OpenAPI schema leaves ``metadata`` open, so the test suite checks these
models against live answers instead: a key the service sends that a model does not declare fails it."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from reme_client.models.v1 import ResponseModel


class ReMeMemory(ResponseModel):
    """A memory in ReMe's dict format (times as "YYYY-mm-dd HH:MM:SS", UTC). Retrieval adds
    ``similarity`` (and in hybrid mode ``text_rank``, ``fused_score``); ``score`` is never overwritten."""

    workspace_id: str
    memory_id: str
    memory_type: str
    when_to_use: str
    content: str
    score: float
    time_created: str
    time_modified: str
    author: str
    metadata: dict[str, Any]
    target: str | None = None
    reflection_subject: str | None = None
    similarity: float | None = None
    text_rank: float | None = None
    fused_score: float | None = None
    tool_call_results: list[dict[str, Any]] | None = None

    @property
    def confidence(self) -> float | None:
        """How sure the summariser was of a task memory (0-1; ``metadata["confidence"]``)."""
        value = self.metadata.get("confidence")
        return float(value) if isinstance(value, int | float) else None

    @property
    def step_type(self) -> str | None:
        """The kind of step a task memory is about (``metadata["step_type"]``), if the model said."""
        value = self.metadata.get("step_type")
        return value if isinstance(value, str) and value else None

    @property
    def time_info(self) -> str:
        """The time a personal fact is about, as said and as resolved (``metadata["time_info"]``)."""
        value = self.metadata.get("time_info")
        return value if isinstance(value, str) else ""


class Usage(ResponseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    calls: int = 0


class FlowResult(ResponseModel):
    """What every flow answers: ``answer``, ``success`` and the request id."""

    answer: str = ""
    success: bool = True
    request_id: str | None = None


class RunResult(FlowResult):
    """A flow that runs a pipeline also reports its step timings and model usage."""

    timings_ms: dict[str, float] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage)


class JobAccepted(FlowResult):
    """A flow sent with ``async_mode``: poll ``get_job(job_id)`` or ``wait_for_job(job_id)``."""

    job_id: uuid.UUID
    status: str


class UpdateResult(ResponseModel):
    inserted_count: int = 0
    deleted_count: int = 0
    updated_count: int | None = None
    dropped_count: int | None = None


class CandidateCounts(ResponseModel):
    proposed: int
    accepted: int
    duplicates: int


class TaskSummaryResult(RunResult):
    memory_list: list[ReMeMemory]
    update_result: UpdateResult
    trajectory_ids: list[uuid.UUID]
    candidates: CandidateCounts


class TaskRetrieveResult(RunResult):
    """``answer`` is ``""`` when nothing matched; ``notes`` says why (nothing found, ``top_k`` capped
    at the service's limit)."""

    memory_list: list[ReMeMemory]
    query: str
    search_mode: str
    notes: list[str] = Field(default_factory=list)


class ReactMessage(ResponseModel):
    """A message of a ``react`` conversation, in ReMe's message shape."""

    role: str
    content: str
    reasoning_content: str = ""
    tool_calls: list[Any] = Field(default_factory=list)
    tool_call_id: str = ""
    time_created: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class ReactResult(RunResult):
    """The chat model's ``answer`` to a task, the conversation (the task's messages, then the answer)
    in ``messages``, and the task memories it was given in ``memory_list``."""

    messages: list[ReactMessage]
    memory_list: list[ReMeMemory]
    query: str
    notes: list[str] = Field(default_factory=list)

    def as_trajectory(self, score: float, *, task_id: str = "") -> dict[str, Any]:
        """The conversation as a scored run for ``summary_task_memory`` (ReMe's react-then-learn loop)."""
        messages = [{"role": m.role, "content": m.content} for m in self.messages]
        return {"task_id": task_id, "score": score, "messages": messages}


class MemoryUse(ResponseModel):
    memory_id: str
    freq: int
    utility: int


class TaskRecordResult(FlowResult):
    """The counters after the update (``updated_memories``) and the ids that matched no memory.
    ``memory_list`` (the memories as they are now), ``deleted_memory_ids`` (always empty: uses are
    counted in place) and ``update_result`` are ReMe's keys. Recording no memories is not an error."""

    updated_memories: list[MemoryUse]
    not_found_memory_ids: list[str]
    memory_list: list[ReMeMemory]
    deleted_memory_ids: list[str]
    update_result: UpdateResult


class TaskDeleteResult(FlowResult):
    deleted_memory_ids: list[str]
    update_result: UpdateResult
    freq_threshold: int
    utility_threshold: float


class FactDecision(ResponseModel):
    fact: str
    action: str
    memory_id: str | None
    target_memory_id: str | None
    event_time: str | None
    reason: str


class PersonalSummaryResult(RunResult):
    memory_list: list[ReMeMemory]
    deleted_memory_ids: list[str]
    update_result: UpdateResult
    decisions: list[FactDecision]
    user_name: str
    trajectory_ids: list[uuid.UUID]


class TimeRange(ResponseModel):
    start: str
    end: str
    expression: str
    source: str


class PersonalRetrieveResult(RunResult):
    memory_list: list[ReMeMemory]
    time_range: TimeRange | None
    user_name: str | None
    notes: list[str] = Field(default_factory=list)


class ToolStatistics(ResponseModel):
    call_count: int
    judged_count: int
    success_rate: float
    avg_score: float | None
    avg_time_cost: float
    avg_token_cost: float
    window: int


class ValidationStats(ResponseModel):
    total_input: int
    valid: int
    filtered: int


class DeduplicationStats(ResponseModel):
    total_new: int
    added: int
    deduplicated: int


class RejectedCall(ResponseModel):
    index: int
    errors: list[dict[str, Any]]


class ToolCallsRecorded(RunResult):
    memory_list: list[ReMeMemory]
    stats: dict[str, ToolStatistics]
    validation_stats: ValidationStats
    deduplication_stats: DeduplicationStats
    rejected: list[RejectedCall]
    trimmed_count: int
    judged: bool
    judged_count: int
    unjudged_count: int
    warning: str | None = None


class ToolSummaryResult(RunResult):
    memory_list: list[ReMeMemory]
    summarized: list[str]
    skipped: list[str]
    unknown: list[str]
    stats: dict[str, ToolStatistics]


class ToolRetrieveResult(RunResult):
    """The known tools' guidelines; names without tool memory are listed in ``unknown`` (and in
    ``notes``), as in ReMe not an error. ``answer`` is ``""`` when no name was known."""

    memory_list: list[ReMeMemory]
    unknown: list[str]
    notes: list[str] = Field(default_factory=list)


class FlowFunction(ResponseModel):
    name: str
    description: str
    parameters: dict[str, Any]


class FlowListing(ResponseModel):
    """A flow as ReMe's ``GET /list`` describes it: an OpenAI-style function tool whose
    ``parameters`` is the JSON schema of the flow's request."""

    type: str
    function: FlowFunction


class VectorStoreResult(FlowResult):
    action: str
    action_result: Any
