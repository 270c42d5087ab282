"""The last step of summary_personal_memory: one transaction writes the whole outcome.

It holds the workspace's advisory lock, so two summaries of the same workspace apply their
decisions one after the other. Decisions were taken before the lock, so each is checked again
against what is stored now: a fact another request stored meanwhile is dropped, and a fact to
merge into or replace that has since disappeared is added instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Memory
from app.pipelines.personal.facts import FactDecision, InsightDraft, SummaryContext
from app.store.memories import (
    EventRecord,
    NewMemory,
    delete_memories,
    hold_workspace,
    insert_memories,
    lock_workspace,
    memory_snapshot,
    memory_to_reme,
    record_events,
)
from app.store.personal import find_duplicate_facts, revise_memory
from app.store.trajectories import set_trajectory_status

TIME_KEYS = ("event_time", "event_time_end", "event_time_source", "time_expression")


async def persist_outcome(ctx: SummaryContext) -> None:
    """Write memories, their history and the trajectories' status together."""
    events: list[EventRecord] = []
    written: list[Memory] = []
    async with ctx.services.db.session() as session:
        await hold_workspace(session, ctx.workspace_id, doing="summary_personal_memory")
        await lock_workspace(session, ctx.workspace_id)
        await _drop_facts_stored_meanwhile(session, ctx)
        written += await _merge_updates(session, ctx, events)
        await _delete_contradicted(session, ctx)
        written += await _insert_new_facts(session, ctx, events)
        written += await _write_insights(session, ctx, events)
        await record_events(session, ctx.workspace_id, events, ctx.request_id)
        await set_trajectory_status(session, ctx.workspace_id, ctx.trajectory_ids, "done")
    ctx.memory_list = [memory_to_reme(m) for m in written]


async def _drop_facts_stored_meanwhile(session: AsyncSession, ctx: SummaryContext) -> None:
    new = [d for d in ctx.decisions if d.action in ("add", "replace")]
    repeats = await find_duplicate_facts(
        session, ctx.workspace_id, ctx.user_name, [d.fact.content for d in new]
    )
    for position, memory_id in repeats.items():
        decision = new[position]
        decision.action, decision.target, decision.target_id = "drop", None, memory_id
        decision.reason = f"stored meanwhile as {memory_id} by another request"


async def _merge_updates(
    session: AsyncSession, ctx: SummaryContext, events: list[EventRecord]
) -> list[Memory]:
    merged: list[Memory] = []
    for decision in ctx.decisions:
        if decision.action != "update" or decision.target is None:
            continue
        revised = await revise_memory(
            session, ctx.workspace_id, decision.target.memory_id, _merged_values(decision)
        )
        if revised is None:
            decision.action, decision.target, decision.target_id = "add", None, None
            decision.reason = "the fact to merge into was deleted meanwhile; kept as new"
            continue
        before, after = revised
        merged.append(after)
        events.append(
            EventRecord(
                after.memory_id, "update", before, memory_snapshot(after), _reason(decision, "merged")
            )
        )
    return merged


def _merged_values(decision: FactDecision) -> dict[str, Any]:
    assert decision.target is not None
    old, fact = decision.target, decision.fact
    keywords = decision.merged_keywords or _union(old.when_to_use.split(","), fact.keywords)
    kept = dict(old.metadata_ or {})
    if fact.event_time is not None:
        # The new fact's time replaces the old one: no stale end or phrase from the old version.
        for key in TIME_KEYS:
            kept.pop(key, None)
    metadata = {**kept, **fact.metadata(), "keywords": ", ".join(keywords)}
    return {
        "content": decision.merged_content,
        "when_to_use": ", ".join(keywords),
        "metadata_": metadata,
        "embedding": decision.merged_embedding,
        "event_time": fact.event_time or old.event_time,
    }


def _union(first: list[str], second: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for word in [*first, *second]:
        if word.strip():
            seen.setdefault(word.strip().lower(), word.strip())
    return list(seen.values())


async def _delete_contradicted(session: AsyncSession, ctx: SummaryContext) -> None:
    for decision in ctx.decisions:
        if decision.action != "replace" or decision.target_id is None:
            continue
        ctx.deleted_memory_ids += await delete_memories(
            session,
            ctx.workspace_id,
            [decision.target_id],
            reason=f"contradicted by {decision.fact.memory_id}",
            request_id=ctx.request_id,
        )


async def _insert_new_facts(
    session: AsyncSession, ctx: SummaryContext, events: list[EventRecord]
) -> list[Memory]:
    new = [d for d in ctx.decisions if d.action in ("add", "replace")]
    rows = await insert_memories(
        session, ctx.workspace_id, [d.fact.new_memory(ctx.user_name, ctx.author) for d in new]
    )
    for decision, row in zip(new, rows, strict=True):
        default = f"replaces {decision.target_id}" if decision.action == "replace" else "new fact"
        events.append(
            EventRecord(row.memory_id, "add", None, memory_snapshot(row), _reason(decision, default))
        )
    return rows


async def _write_insights(
    session: AsyncSession, ctx: SummaryContext, events: list[EventRecord]
) -> list[Memory]:
    written: list[Memory] = []
    fresh: list[InsightDraft] = []
    for draft in ctx.insight_drafts:
        if draft.existing is None:
            fresh.append(draft)
            continue
        values = {
            "content": draft.content,
            "when_to_use": ", ".join(draft.keywords) or draft.subject,
            "metadata_": {**(draft.existing.metadata_ or {}), **_insight_metadata(draft)},
            "embedding": draft.embedding,
        }
        revised = await revise_memory(session, ctx.workspace_id, draft.existing.memory_id, values)
        if revised is None:
            draft.existing = None
            fresh.append(draft)
            continue
        before, after = revised
        written.append(after)
        events.append(
            EventRecord(after.memory_id, "update", before, memory_snapshot(after), "profile rewritten")
        )
    rows = await insert_memories(
        session,
        ctx.workspace_id,
        [
            NewMemory(
                memory_type="personal",
                memory_id=draft.memory_id,
                when_to_use=", ".join(draft.keywords) or draft.subject,
                content=draft.content,
                embedding=draft.embedding,
                target=ctx.user_name,
                reflection_subject=draft.subject,
                author=ctx.author,
                metadata=_insight_metadata(draft),
            )
            for draft in fresh
        ],
    )
    for row in rows:
        events.append(EventRecord(row.memory_id, "add", None, memory_snapshot(row), "profile written"))
    return written + rows


def _insight_metadata(draft: InsightDraft) -> dict[str, Any]:
    return {"kind": "insight", "keywords": ", ".join(draft.keywords), "observation_type": "insight"}


def _reason(decision: FactDecision, default: str) -> str:
    return decision.reason or default
