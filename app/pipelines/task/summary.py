"""summary_task_memory: learn validated experiences from scored trajectories.

split runs by outcome
-> (success patterns | failure lessons | comparative insights), concurrently
-> judge every candidate
-> embed the accepted ones
-> drop duplicates of the batch
-> persist in one transaction, under the workspace lock: drop duplicates of stored memories,
   then write memories, validation records, events and trajectory status
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
from app.pipelines.task.domain import Candidate, FlowResult, NewTrajectory, Origin, StoredTrajectory, Verdict
from app.pipelines.task.llm_outputs import (
    CandidateJudgements,
    ComparativeInsights,
    ExtractedExperiences,
    FailureLessons,
    SuccessPatterns,
    prompt,
)
from app.pipelines.task.runs import store_and_summarise, summarise_queued
from app.pipelines.task.trajectories import comparison_pairs, render_trajectory, split_by_outcome
from app.services import Services

FLOW = "summary_task_memory"


async def split_runs(ctx: SummaryContext) -> None:
    """Successes and failures by the score threshold; best-versus-worst pairs per task_id."""
    threshold = ctx.services.settings.task.success_threshold
    ctx.successes, ctx.failures = split_by_outcome(ctx.trajectories, threshold)
    ctx.pairs = comparison_pairs(ctx.trajectories)


async def extract_success_patterns(ctx: SummaryContext) -> None:
    await run_all(
        _extract(ctx, "success", SuccessPatterns, [run], _single_run_prompt(ctx, "success_patterns", run))
        for run in ctx.successes
    )


async def extract_failure_lessons(ctx: SummaryContext) -> None:
    await run_all(
        _extract(ctx, "failure", FailureLessons, [run], _single_run_prompt(ctx, "failure_lessons", run))
        for run in ctx.failures
    )


async def extract_comparative_insights(ctx: SummaryContext) -> None:
    settings = ctx.services.settings.task
    half = settings.prompt_trajectory_chars // 2
    await run_all(
        _extract(
            ctx,
            "comparative",
            ComparativeInsights,
            [better, worse],
            prompt(
                "comparative_insights",
                better_score=f"{better.score:g}",
                worse_score=f"{worse.score:g}",
                max_items=str(settings.max_experiences_per_call),
                better=render_trajectory(better, half),
                worse=render_trajectory(worse, half),
            ),
        )
        for better, worse in ctx.pairs
    )


def _single_run_prompt(ctx: SummaryContext, name: str, run: StoredTrajectory) -> str:
    settings = ctx.services.settings.task
    return prompt(
        name,
        score=f"{run.score:g}",
        max_items=str(settings.max_experiences_per_call),
        trajectory=render_trajectory(run, settings.prompt_trajectory_chars),
    )


async def _extract(
    ctx: SummaryContext,
    origin: Origin,
    output: type[ExtractedExperiences],
    sources: list[StoredTrajectory],
    text: str,
) -> None:
    """One extraction call; its candidates form one batch for the judge."""
    llm = ctx.services.llm(FLOW)
    answer = await llm.structured([{"role": "user", "content": text}], output, step=origin, usage=ctx.usage)
    limit = ctx.services.settings.task.max_experiences_per_call
    batch = [
        Candidate(origin=origin, experience=item.to_experience(), sources=sources)
        for item in answer.experiences[:limit]
    ]
    if batch:
        ctx.batches.append(batch)


async def judge_candidates(ctx: SummaryContext) -> None:
    """One judge call per extraction batch; a candidate without a readable verdict is rejected."""
    await run_all(_judge_batch(ctx, batch) for batch in ctx.batches)


async def _judge_batch(ctx: SummaryContext, batch: list[Candidate]) -> None:
    settings = ctx.services.settings.task
    share = settings.prompt_trajectory_chars // len(batch[0].sources)
    listing = "\n".join(
        f"{i}. when_to_use: {c.experience.when_to_use}\n   content: {c.experience.content}"
        for i, c in enumerate(batch)
    )
    text = prompt(
        "judge_candidates",
        candidates=listing,
        trajectory="\n\n".join(render_trajectory(t, share) for t in batch[0].sources),
    )
    llm = ctx.services.llm(FLOW)
    answer = await llm.structured(
        [{"role": "user", "content": text}], CandidateJudgements, step="judge", usage=ctx.usage
    )
    verdicts: dict[int, Verdict] = {}
    for judgement in answer.judgements:
        verdicts.setdefault(
            judgement.index, Verdict(judgement.is_valid, judgement.score, judgement.feedback.strip())
        )
    for index, candidate in enumerate(batch):
        candidate.verdict = verdicts.get(
            index, Verdict(False, 0.0, "rejected: the judge gave no readable verdict for this candidate")
        )


SUMMARY: Pipeline[SummaryContext] = Pipeline(
    FLOW,
    [
        split_runs,
        (extract_success_patterns, extract_failure_lessons, extract_comparative_insights),
        judge_candidates,
        embed_candidates,
        drop_duplicates,
        persist_memories,
    ],
)


async def summarise_task_memory(
    services: Services, workspace_id: str, trajectories: list[NewTrajectory], request_id: str | None
) -> FlowResult:
    """Store the trajectories, then learn validated, deduplicated task memories from them."""
    return await store_and_summarise(services, SUMMARY, workspace_id, trajectories, request_id)


async def summarise_task_memory_job(
    services: Services, workspace_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    return await summarise_queued(services, SUMMARY, workspace_id, payload)
