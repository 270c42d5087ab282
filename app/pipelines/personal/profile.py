"""The profile step: per-subject insights about a user, kept up to date as facts change.

Once a user has ``personal.profile_min_observations`` facts, every summary that changes them
asks the model to (re)write short insights per subject (``reflection_subject``: "food", "work"...)
from the user's current facts. An insight whose subject already exists is updated in place,
never duplicated; retrieval ranks insights slightly above single observations.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.pipelines.personal.facts import InsightDraft, SummaryContext, normalise_text, render_prompt


class ProfileInsight(BaseModel):
    subject: str = Field(description="a short subject, e.g. food, work, family, health")
    content: str = Field(description="what the facts on this subject say about the user, 1-2 sentences")
    keywords: list[str] = Field(default_factory=list)


class UserProfileInsights(BaseModel):
    insights: list[ProfileInsight]


async def write_profile(ctx: SummaryContext) -> None:
    """Rewrite the user's insights when their facts changed and there are enough of them."""
    if not ctx.settings.profile:
        return
    changes = [d for d in ctx.decisions if d.action != "drop"]
    added = sum(1 for d in changes if d.action == "add")
    if not changes or ctx.stored_fact_count + added < ctx.settings.profile_min_observations:
        return
    existing = {normalise_text(m.reflection_subject): m for m in ctx.insights}
    current = "\n".join(f"- {fact}" for fact in _current_facts(ctx))
    known = "\n".join(f"- {m.reflection_subject}: {m.content}" for m in ctx.insights) or "(none yet)"
    answer = await ctx.llm.structured(
        [
            {"role": "system", "content": render_prompt("write_profile", user_name=ctx.user_name)},
            {
                "role": "user",
                "content": f"Facts about {ctx.user_name}:\n{current}\n\nInsights so far:\n{known}",
            },
        ],
        UserProfileInsights,
        step="write_profile",
        usage=ctx.usage,
    )
    seen: set[str] = set()
    for insight in answer.insights:
        key, content = normalise_text(insight.subject), insight.content.strip()
        if not key or not content or key in seen:
            continue
        seen.add(key)
        old = existing.get(key)
        if old is not None and normalise_text(old.content) == normalise_text(content):
            continue  # unchanged: no new version in history
        keywords = [k.strip() for k in insight.keywords if k.strip()]
        ctx.insight_drafts.append(InsightDraft(insight.subject.strip(), content, keywords, existing=old))


def _current_facts(ctx: SummaryContext) -> list[str]:
    """The user's facts as they will be after this summary, newest first, within the limit."""
    superseded = {d.target_id for d in ctx.decisions if d.action in ("update", "replace")}
    facts = []
    for decision in ctx.decisions:
        if decision.action in ("add", "replace"):
            facts.append(decision.fact.content)
        elif decision.action == "update":
            facts.append(decision.merged_content)
    facts += [m.content for m in ctx.recent_facts if m.memory_id not in superseded]
    return facts[: ctx.settings.profile_max_observations]


async def embed_changes(ctx: SummaryContext) -> None:
    """Vectors for merged facts and insights (new facts were embedded before reconciling)."""
    updates = [d for d in ctx.decisions if d.action == "update"]
    texts = [d.merged_content for d in updates] + [i.content for i in ctx.insight_drafts]
    if not texts:
        return
    vectors = await ctx.services.embedder.embed(texts)
    for decision, vector in zip(updates, vectors, strict=False):
        decision.merged_embedding = vector
    for insight, vector in zip(ctx.insight_drafts, vectors[len(updates) :], strict=True):
        insight.embedding = vector
