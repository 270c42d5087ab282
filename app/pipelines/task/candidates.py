"""What both summary flows do with proposed memories: embed, drop duplicates, persist."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from app.pipelines.base import PipelineContext, first_error
from app.pipelines.task.domain import Candidate, StoredTrajectory
from app.services import Services
from app.store.memories import NewMemory, memory_to_reme, new_memory_id
from app.store.task import DuplicateProbe, find_stored_duplicates, hold_and_lock_workspace, write_summary

T = TypeVar("T")


@dataclass(kw_only=True)
class SummaryContext(PipelineContext):
    services: Services
    flow: str
    trajectories: list[StoredTrajectory]
    # Set by summary_task_memory's split step: runs by outcome, best-versus-worst per task_id.
    successes: list[StoredTrajectory] = field(default_factory=list)
    failures: list[StoredTrajectory] = field(default_factory=list)
    pairs: list[tuple[StoredTrajectory, StoredTrajectory]] = field(default_factory=list)
    # One list per extraction call: the judge sees each list together with its source runs.
    batches: list[list[Candidate]] = field(default_factory=list)
    memory_list: list[dict[str, Any]] = field(default_factory=list)

    @property
    def candidates(self) -> list[Candidate]:
        return [c for batch in self.batches for c in batch]

    def accepted(self) -> list[Candidate]:
        """Candidates the judge kept (or, unjudged, the simple flow proposed)."""
        floor = self.services.settings.task.validation_min_score
        return [
            c
            for c in self.candidates
            if c.verdict is None or (c.verdict.is_valid and c.verdict.score >= floor)
        ]

    def survivors(self) -> list[Candidate]:
        return [c for c in self.accepted() if c.duplicate_of is None]


async def run_all(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Await concurrently; on the first failure the others are cancelled and it is raised."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_awaited(a)) for a in awaitables]
    except BaseExceptionGroup as errors:
        raise first_error(errors) from None
    return [t.result() for t in tasks]


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


def normalised_text(text: str) -> str:
    return " ".join(text.lower().split())


async def embed_candidates(ctx: SummaryContext) -> None:
    """One embedding call for every accepted candidate's situation (what retrieval matches)."""
    accepted = ctx.accepted()
    vectors = await ctx.services.embedder.embed([c.experience.when_to_use for c in accepted])
    for candidate, vector in zip(accepted, vectors, strict=True):
        candidate.embedding = vector
        candidate.memory_id = new_memory_id()


async def drop_duplicates(ctx: SummaryContext) -> None:
    """Drop candidates repeating a better one of the batch.

    Those repeating stored memories are found by :func:`persist_memories`, under the workspace
    lock (a check here as well would find nothing that one misses, at a transaction's cost).
    """
    threshold = ctx.services.settings.task.dedup_similarity
    ranked = sorted(ctx.accepted(), key=lambda c: c.quality, reverse=True)
    kept: list[Candidate] = []
    for candidate in ranked:
        original = _repeated_in(candidate, kept, threshold)
        if original is not None:
            candidate.duplicate_of = original.memory_id
        else:
            kept.append(candidate)


def _repeated_in(candidate: Candidate, kept: list[Candidate], threshold: float) -> Candidate | None:
    text = normalised_text(candidate.experience.content)
    vector = np.asarray(candidate.embedding)
    for other in kept:
        if normalised_text(other.experience.content) == text:
            return other
        if float(np.dot(vector, np.asarray(other.embedding))) >= threshold:
            return other
    return None


async def _mark_stored_duplicates(
    session: AsyncSession, workspace_id: str, candidates: list[Candidate], threshold: float
) -> None:
    probes = [DuplicateProbe(c.embedding or [], c.experience.content) for c in candidates]
    found = await find_stored_duplicates(session, workspace_id, probes, threshold)
    for index, memory_id in found.items():
        candidates[index].duplicate_of = memory_id


async def persist_memories(ctx: SummaryContext) -> None:
    """One transaction: memories, validation records, events and trajectory status.

    The workspace lock makes concurrent summaries of one workspace take turns here, and the
    duplicate check is repeated under it against memories written in the meantime. Three
    statements: the locks, the duplicate check, then every write at once.
    """
    services, workspace_id = ctx.services, ctx.workspace_id
    threshold = services.settings.task.dedup_similarity
    model = services.settings.llm.model
    async with services.db.session() as session:
        # The trajectories were stored (and the workspace created) before the model calls.
        await hold_and_lock_workspace(session, workspace_id, doing=ctx.flow)
        await _mark_stored_duplicates(session, workspace_id, ctx.survivors(), threshold)
        survivors = ctx.survivors()
        stored_ids = {c.memory_id for c in survivors}
        rows = await write_summary(
            session,
            workspace_id,
            [_new_memory(c, model) for c in survivors],
            _validation_records(ctx.candidates, stored_ids, model),
            [t.id for t in ctx.trajectories],
            reason=ctx.flow,
            request_id=ctx.request_id,
        )
    ctx.memory_list = [memory_to_reme(m) for m in rows]


def _new_memory(candidate: Candidate, model: str) -> NewMemory:
    experience = candidate.experience
    metadata: dict[str, Any] = {
        "when_to_use": experience.when_to_use,
        "experience": experience.content,
        "tags": experience.tags,
        "tools_used": experience.tools_used,
        "origin": candidate.origin,
        "task_id": candidate.task_id,
        "source_trajectory_id": str(candidate.sources[0].id),
    }
    if len(candidate.sources) > 1:
        metadata["source_trajectory_ids"] = [str(t.id) for t in candidate.sources]
    # ReMe's fields: the proposer's confidence (else the judge's score) and the kind of step.
    metadata["confidence"] = experience.confidence if experience.confidence is not None else candidate.quality
    metadata["step_type"] = experience.step_type
    assert candidate.memory_id is not None and candidate.embedding is not None
    return NewMemory(
        memory_type="task",
        memory_id=candidate.memory_id,
        when_to_use=experience.when_to_use,
        content=experience.content,
        embedding=candidate.embedding,
        score=candidate.quality,
        author=model,
        metadata=metadata,
        source_trajectory_id=candidate.sources[0].id,
    )


def _validation_records(
    candidates: list[Candidate], stored_ids: set[str | None], model: str
) -> list[dict[str, Any]]:
    """One record per judged candidate; ``memory_id`` only for those that became memories."""
    records = []
    for candidate in candidates:
        if candidate.verdict is None:
            continue
        records.append(
            {
                "trajectory_id": candidate.sources[0].id,
                "memory_id": candidate.memory_id if candidate.memory_id in stored_ids else None,
                "candidate": candidate.as_record(),
                "is_valid": candidate.verdict.is_valid,
                "score": candidate.verdict.score,
                "feedback": candidate.verdict.feedback,
                "model": model,
            }
        )
    return records
