"""summary_task_memory_simple: one model call per trajectory, no judge.

extract experiences (one call per trajectory, concurrently)
-> embed -> drop duplicates of the batch -> persist (stored duplicates dropped there, under the
   workspace lock)
"""

from __future__ import annotations

from typing import Any

from app.pipelines.base import Pipeline
from app.pipelines.task.candidates import (
    SummaryContext,
    drop_duplicates,
    embed_candidates,
    persist_memories,
    run_all,
)
from app.pipelines.task.domain import Candidate, FlowResult, NewTrajectory, StoredTrajectory
from app.pipelines.task.llm_outputs import TrajectoryExperiences, prompt
from app.pipelines.task.runs import store_and_summarise, summarise_queued
from app.pipelines.task.trajectories import render_trajectory
from app.services import Services

FLOW = "summary_task_memory_simple"


async def extract_experiences(ctx: SummaryContext) -> None:
    await run_all(_extract_from(ctx, run) for run in ctx.trajectories)


async def _extract_from(ctx: SummaryContext, run: StoredTrajectory) -> None:
    settings = ctx.services.settings.task
    succeeded = run.score >= settings.success_threshold
    text = prompt(
        "trajectory_experiences",
        score=f"{run.score:g}",
        outcome="a success" if succeeded else "a failure",
        max_items=str(settings.max_experiences_per_call),
        trajectory=render_trajectory(run, settings.prompt_trajectory_chars),
    )
    llm = ctx.services.llm(FLOW)
    answer = await llm.structured(
        [{"role": "user", "content": text}], TrajectoryExperiences, step="experiences", usage=ctx.usage
    )
    batch = [
        Candidate(origin="simple", experience=item.to_experience(), sources=[run])
        for item in answer.experiences[: settings.max_experiences_per_call]
    ]
    if batch:
        ctx.batches.append(batch)


SUMMARY_SIMPLE: Pipeline[SummaryContext] = Pipeline(
    FLOW, [extract_experiences, embed_candidates, drop_duplicates, persist_memories]
)


async def summarise_task_memory_simple(
    services: Services, workspace_id: str, trajectories: list[NewTrajectory], request_id: str | None
) -> FlowResult:
    """Store the trajectories, then write the experiences one call per trajectory proposes."""
    return await store_and_summarise(services, SUMMARY_SIMPLE, workspace_id, trajectories, request_id)


async def summarise_task_memory_simple_job(
    services: Services, workspace_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    return await summarise_queued(services, SUMMARY_SIMPLE, workspace_id, payload)
