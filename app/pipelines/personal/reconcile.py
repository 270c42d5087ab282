"""Reconciling new facts with what is already known about the same user.

A new fact that repeats a stored one word for word is dropped without asking the model. The
others are shown to the model next to their nearest stored facts of the same user (by vector
similarity over all of the user's facts, however old) and it decides, per fact:

- add:     nothing stored says this; keep it as a new memory
- update:  it refines a stored fact; merge into that memory (same id, new content)
- replace: it contradicts a stored fact; delete the old one and keep the new one
- drop:    it is already known; write nothing

A fact with no stored neighbour is added without a model call.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, Field

from app.models import Memory
from app.pipelines.personal.facts import (
    Action,
    FactDecision,
    FactDraft,
    KnownFact,
    SummaryContext,
    describe_time,
    render_prompt,
)
from app.store.personal import count_facts, find_duplicate_facts, nearest_facts, recent_facts, user_insights

log = logging.getLogger(__name__)


class FactReconciliation(BaseModel):
    fact_index: int = Field(description="the number of the new fact")
    action: Literal["add", "update", "replace", "drop"]
    memory: str = Field(default="", description="label of the stored fact updated, replaced or repeated")
    merged_content: str = Field(
        default="", description="for update: the stored fact rewritten to include the new"
    )
    keywords: list[str] = Field(default_factory=list)
    reason: str = ""


class ReconcileDecisions(BaseModel):
    decisions: list[FactReconciliation]


async def load_known_facts(ctx: SummaryContext) -> None:
    """One short read: word-for-word repeats, nearest stored facts, and what the profile needs."""
    if not ctx.facts:
        return
    workspace, user = ctx.workspace_id, ctx.user_name
    async with ctx.services.db.session() as session:
        repeats = await find_duplicate_facts(session, workspace, user, [f.content for f in ctx.facts])
        label = 0
        for position, fact in enumerate(ctx.facts):
            if position in repeats:
                ctx.duplicates[fact.memory_id] = repeats[position]
                continue
            assert fact.embedding is not None
            known = []
            for memory, similarity in await nearest_facts(
                session, workspace, user, fact.embedding, ctx.settings.reconcile_neighbours
            ):
                label += 1
                known.append(KnownFact(f"m{label}", memory, similarity))
            ctx.neighbours[fact.memory_id] = known
        if ctx.settings.profile:
            ctx.stored_fact_count = await count_facts(session, workspace, user)
            ctx.recent_facts = await recent_facts(
                session, workspace, user, ctx.settings.profile_max_observations
            )
            ctx.insights = await user_insights(session, workspace, user)


async def reconcile_facts(ctx: SummaryContext) -> None:
    """Decide per new fact; facts the model leaves out, or points at an unknown memory, are added."""
    to_ask: list[FactDraft] = []
    for fact in ctx.facts:
        if fact.memory_id in ctx.duplicates:
            stored = ctx.duplicates[fact.memory_id]
            ctx.decisions.append(
                FactDecision(
                    fact, "drop", target_id=stored, reason=f"repeats stored fact {stored} word for word"
                )
            )
        elif ctx.neighbours.get(fact.memory_id):
            to_ask.append(fact)
        else:
            ctx.decisions.append(FactDecision(fact, "add", reason="nothing similar is stored"))
    if not to_ask:
        return
    answer = await ctx.llm.structured(
        [
            {"role": "system", "content": render_prompt("reconcile_facts", user_name=ctx.user_name)},
            {"role": "user", "content": _describe_cases(ctx, to_ask)},
        ],
        ReconcileDecisions,
        step="reconcile_facts",
        usage=ctx.usage,
    )
    chosen = {d.fact_index: d for d in answer.decisions}
    claimed: set[str] = set()
    for index, fact in enumerate(to_ask):
        ctx.decisions.append(_decide(fact, chosen.get(index), ctx.neighbours[fact.memory_id], claimed))


def _describe_cases(ctx: SummaryContext, facts: list[FactDraft]) -> str:
    blocks = []
    for index, fact in enumerate(facts):
        when = f" (happened {describe_time(fact.event_time)})" if fact.event_time else ""
        lines = [f"New fact {index}: {fact.content}{when}", "  Stored facts:"]
        for known in ctx.neighbours[fact.memory_id]:
            lines.append(f"  - {known.label}: {known.memory.content}{_stored_when(known.memory)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _stored_when(memory: Memory) -> str:
    parts = [f"recorded {describe_time(memory.time_modified)}"]
    if memory.event_time is not None:
        parts.append(f"happened {describe_time(memory.event_time)}")
    return f" ({', '.join(parts)})"


def _decide(
    fact: FactDraft, answer: FactReconciliation | None, known: list[KnownFact], claimed: set[str]
) -> FactDecision:
    """Turn the model's answer into a decision that is safe to apply; nothing is lost silently."""
    if answer is None:
        return FactDecision(fact, "add", reason="the model gave no decision; kept as new")
    by_label = {k.label: k.memory for k in known} | {k.memory.memory_id: k.memory for k in known}
    action: Action = answer.action
    if action == "add":
        return FactDecision(fact, "add", reason=answer.reason)
    target = by_label.get(answer.memory.strip())
    if action == "drop":
        # A drop needs no valid target: the fact is simply not written again.
        return FactDecision(
            fact, "drop", target_id=target.memory_id if target else None, reason=answer.reason
        )
    if target is None or target.memory_id in claimed:
        problem = "names no stored fact" if target is None else "names a fact another new fact changes"
        log.info("reconcile: %s for %r %s; adding it instead", action, fact.content, problem)
        return FactDecision(fact, "add", reason=f"{action} {problem}; kept as new")
    claimed.add(target.memory_id)
    if action == "replace":
        return FactDecision(fact, "replace", target=target, target_id=target.memory_id, reason=answer.reason)
    return FactDecision(
        fact,
        "update",
        target=target,
        target_id=target.memory_id,
        merged_content=answer.merged_content.strip() or fact.content,
        merged_keywords=[k.strip() for k in answer.keywords if k.strip()],
        reason=answer.reason,
    )
