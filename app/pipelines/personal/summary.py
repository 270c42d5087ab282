"""summary_personal_memory: facts about a user, read from conversations and reconciled.

The input is stored first (trajectories, status pending); then, with no transaction open:

1. score_messages       one LLM call rates every user message for personal information
2. extract_facts        one LLM call reads facts (with keywords and time phrases) from the kept ones
3. resolve_event_times  each fact's time phrase becomes an absolute event_time (app.timeexpr first)
4. embed_facts          vectors of the new facts
5. load_known_facts     a short read: exact duplicates and nearest stored facts of the same user
6. reconcile_facts      one LLM call decides add / update / replace / drop per fact
7. write_profile        per-subject insights once the user has enough facts (optional)
8. embed_changes        vectors of merged facts and insights
9. persist_outcome      one transaction under the workspace lock writes memories, events, status

A failure at any step leaves the trajectories ``failed`` with the reason and writes nothing else.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from pydantic import BaseModel, Field

from app.errors import InvalidInput, ReMeError
from app.pipelines.base import Pipeline
from app.pipelines.personal.facts import (
    FactDraft,
    SummaryContext,
    clip,
    describe_time,
    normalise_text,
    render_prompt,
    user_messages,
)
from app.pipelines.personal.persist import persist_outcome
from app.pipelines.personal.profile import embed_changes, write_profile
from app.pipelines.personal.reconcile import load_known_facts, reconcile_facts
from app.schemas.personal import SummaryPersonalMemoryRequest
from app.services import Services
from app.store.jobs import enqueue_job
from app.store.memories import parse_time
from app.store.personal import load_trajectories, store_trajectories
from app.store.trajectories import set_trajectory_status
from app.timeexpr import resolve_time_range

FLOW = "summary_personal_memory"
SCORE_MESSAGE_CHARS = 1500
log = logging.getLogger(__name__)


class MessageInfoScore(BaseModel):
    index: int = Field(description="the number of the message")
    score: float = Field(ge=0.0, le=1.0, description="0 = nothing about the user, 1 = clearly personal")


class PersonalInfoScores(BaseModel):
    scores: list[MessageInfoScore]


class ExtractedFact(BaseModel):
    message_index: int = Field(description="the number of the message the fact comes from")
    content: str = Field(description="the fact, one sentence, naming the user")
    keywords: list[str] = Field(default_factory=list)
    observation_type: str = "personal_info"
    time_expression: str = Field(default="", description="the time phrase as written, if any")
    event_time: str = Field(default="", description="ISO 8601 time the fact happened, if known")


class ExtractedFacts(BaseModel):
    facts: list[ExtractedFact]


async def score_messages(ctx: SummaryContext) -> None:
    """Keep the user messages that say something about the user."""
    if not ctx.messages:
        return
    # Rating needs the gist only: long messages are cut shorter than for extraction.
    listing = "\n".join(f"[{m.index}] {clip(m.content, SCORE_MESSAGE_CHARS)}" for m in ctx.messages)
    answer = await ctx.llm.structured(
        [
            {"role": "system", "content": render_prompt("score_messages", user_name=ctx.user_name)},
            {"role": "user", "content": f"Messages of {ctx.user_name}:\n{listing}"},
        ],
        PersonalInfoScores,
        step="score_messages",
        usage=ctx.usage,
    )
    ctx.scores = {s.index: s.score for s in answer.scores}
    threshold = ctx.settings.info_score_threshold
    ctx.informative = [m for m in ctx.messages if ctx.scores.get(m.index, 0.0) >= threshold]


async def extract_facts(ctx: SummaryContext) -> None:
    """Read facts from the informative messages; repeats within the request are kept once."""
    if not ctx.informative:
        return
    blocks = []
    for m in ctx.informative:
        context = f"\n    (answering: {m.context})" if m.context else ""
        blocks.append(f"[{m.index}] said {describe_time(m.said_at)}{context}\n    {clip(m.content)}")
    answer = await ctx.llm.structured(
        [
            {"role": "system", "content": render_prompt("extract_facts", user_name=ctx.user_name)},
            {"role": "user", "content": "\n".join(blocks)},
        ],
        ExtractedFacts,
        step="extract_facts",
        usage=ctx.usage,
    )
    by_index = {m.index: m for m in ctx.informative}
    seen: set[str] = set()
    for fact in answer.facts:
        message = by_index.get(fact.message_index)
        key = normalise_text(fact.content)
        if message is None or not key or key in seen:
            continue
        seen.add(key)
        ctx.facts.append(
            FactDraft(
                content=fact.content.strip(),
                keywords=[k.strip() for k in fact.keywords if k.strip()],
                observation_type=fact.observation_type.strip().lower() or "personal_info",
                message=message,
                time_expression=fact.time_expression.strip(),
                llm_event_time=fact.event_time.strip(),
            )
        )


async def resolve_event_times(ctx: SummaryContext) -> None:
    """Give each fact that mentions a time an absolute event_time, against its message's time.

    The deterministic resolver reads the fact's time phrase (else the fact itself); the model's
    own ISO answer is used only when the resolver finds nothing.
    """
    for fact in ctx.facts:
        said_at = fact.message.said_at
        found = resolve_time_range(fact.time_expression, said_at) if fact.time_expression else None
        found = found or resolve_time_range(fact.content, said_at)
        if found is not None:
            fact.event_range, fact.event_time, fact.time_source = found, found.start, "resolver"
            continue
        if fact.llm_event_time:
            try:
                fact.event_time = parse_time(fact.llm_event_time)
                fact.time_source = "llm"
            except ValueError:
                log.info("ignoring unreadable event_time %r from the model", fact.llm_event_time)


async def embed_facts(ctx: SummaryContext) -> None:
    if not ctx.facts:
        return
    vectors = await ctx.services.embedder.embed([f.content for f in ctx.facts])
    for fact, vector in zip(ctx.facts, vectors, strict=True):
        fact.embedding = vector


SUMMARY = Pipeline[SummaryContext](
    FLOW,
    [
        score_messages,
        extract_facts,
        resolve_event_times,
        embed_facts,
        load_known_facts,
        reconcile_facts,
        write_profile,
        embed_changes,
        persist_outcome,
    ],
)


def _check_limits(services: Services, request: SummaryPersonalMemoryRequest) -> list[dict[str, Any]]:
    """The request's trajectories as stored, after checking the size limits."""
    limits = services.settings.limits
    trajectories = [t.model_dump(mode="json", exclude_none=True) for t in request.trajectories]
    if not trajectories and request.messages:
        trajectories = [{"messages": request.messages}]  # ReMe clients may send messages alone
    if not trajectories:
        raise InvalidInput(
            "trajectories is empty: give at least one conversation",
            errors=[{"loc": ["body", "trajectories"], "msg": "must not be empty"}],
        )
    if len(trajectories) > limits.max_trajectories:
        raise InvalidInput(
            f"too many trajectories: {len(trajectories)} > {limits.max_trajectories}",
            errors=[{"loc": ["body", "trajectories"], "msg": "too many items"}],
        )
    for i, trajectory in enumerate(trajectories):
        messages = trajectory.get("messages") or []
        if len(messages) > limits.max_messages:
            raise InvalidInput(
                f"trajectory {i} has {len(messages)} messages, more than {limits.max_messages}",
                errors=[{"loc": ["body", "trajectories", i, "messages"], "msg": "too many items"}],
            )
        for j, message in enumerate(messages):
            if len(str(message.get("content") or "")) > limits.max_message_chars:
                raise InvalidInput(
                    f"message {j} of trajectory {i} is longer than {limits.max_message_chars} characters",
                    errors=[
                        {"loc": ["body", "trajectories", i, "messages", j, "content"], "msg": "too long"}
                    ],
                )
    return trajectories


async def summarise_personal_memory(
    services: Services, request: SummaryPersonalMemoryRequest, request_id: str | None
) -> dict[str, Any]:
    """Store the conversations, then run the pipeline on them; returns the response metadata."""
    services.llm(FLOW)  # no model configured: refuse before anything is stored
    trajectories = _check_limits(services, request)
    async with services.db.session() as session:
        stored = await store_trajectories(session, request.workspace_id, trajectories)
    ctx = SummaryContext(
        workspace_id=request.workspace_id,
        request_id=request_id,
        services=services,
        llm=services.llm(FLOW),
        user_name=request.user_name,
        trajectory_ids=[t.id for t in stored],
        messages=user_messages(stored),
    )
    return await _run(ctx)


async def enqueue_personal_summary(services: Services, request: SummaryPersonalMemoryRequest) -> uuid.UUID:
    """``async_mode``: store the conversations and a job together; ``reme worker`` runs it."""
    services.llm(FLOW)
    trajectories = _check_limits(services, request)
    async with services.db.session() as session:
        stored = await store_trajectories(session, request.workspace_id, trajectories)
        payload = {"trajectory_ids": [str(t.id) for t in stored], "user_name": request.user_name}
        return await enqueue_job(session, request.workspace_id, FLOW, payload)


async def run_personal_summary_job(
    services: Services, workspace_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """Run the pipeline on conversations stored by an ``async_mode`` request."""
    ids = [uuid.UUID(i) for i in payload.get("trajectory_ids", [])]
    async with services.db.session() as session:
        stored = await load_trajectories(session, workspace_id, ids)
    ctx = SummaryContext(
        workspace_id=workspace_id,
        services=services,
        llm=services.llm(FLOW),
        user_name=str(payload.get("user_name") or "user"),
        trajectory_ids=[t.id for t in stored],
        messages=user_messages(stored),
    )
    return await _run(ctx)


async def _run(ctx: SummaryContext) -> dict[str, Any]:
    try:
        await SUMMARY.run(ctx)
    except Exception as exc:
        reason = exc.message if isinstance(exc, ReMeError) else f"{type(exc).__name__}: {exc}"
        async with ctx.services.db.session() as session:
            await set_trajectory_status(session, ctx.workspace_id, ctx.trajectory_ids, "failed", error=reason)
        raise
    return ctx.result()
