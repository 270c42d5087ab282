"""retrieve_personal_memory: a user's facts for a question, with time awareness.

1. resolve_query_time  time phrases in the query become a range (app.timeexpr; the LLM only
                       for a phrase the resolver cannot read, and only when one is configured)
2. embed_query         the whole query, while
   rank_words          the words are ranked (BM25) in the database, where the memories
                       searched are few enough to be ranked exactly (the usual case)
3. search_facts        one hybrid SQL search over the user's personal memories (every user's
                       without user_name), people named in the query and the range's facts
                       lifted (app.store.exact_search); facts in the range first, insights lifted
4. rerank_facts        optional LLM rerank (``personal.rerank``, off by default)

The optional model calls never fail a retrieval: without them the answer is the search's.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from app.errors import InvalidInput, LLMUnavailable
from app.pipelines.base import Pipeline, PipelineContext, clamp_top_k
from app.pipelines.personal.facts import describe_time, message_text, render_prompt
from app.schemas.personal import RetrievePersonalMemoryRequest
from app.services import Services
from app.store.exact_search import TextRanking, rank_text_exactly
from app.store.memories import format_time, memory_to_reme, parse_time
from app.store.search import (
    EXACT_SCAN_MAX_ROWS,
    FUSION_DEPTH,
    SearchFilters,
    SearchHit,
    SearchRequest,
    check_text_length,
    search_memories,
)
from app.timeexpr import (
    TimeOutOfRange,
    TimeRange,
    find_time_expressions,
    mentions_time,
    resolve_time_range,
    strip_time_expressions,
)

FLOW = "retrieve_personal_memory"
log = logging.getLogger(__name__)
# The search returns this many candidates per requested result, reordered before the cut.
CANDIDATE_FACTOR = 3


class QueryTimeRange(BaseModel):
    has_time: bool = Field(description="whether the question refers to a particular time")
    start: str = Field(default="", description="ISO 8601 start of the period, inclusive")
    end: str = Field(default="", description="ISO 8601 end of the period, exclusive")
    expression: str = Field(default="", description="the words of the question naming the time")


class RerankedMemories(BaseModel):
    order: list[int] = Field(description="memory numbers, most useful first")


@dataclass(kw_only=True)
class RetrieveContext(PipelineContext):
    services: Services
    query: str
    top_k: int
    # None: every user's facts in the workspace.
    user_name: str | None
    now: datetime
    time_range: TimeRange | None = None
    time_source: str = ""
    # The query without its time phrases, for the full-text list (so "weekend" matches no word).
    search_text: str = ""
    embedding: list[float] | None = None
    text_ranking: TextRanking | None = None
    hits: list[SearchHit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def result(self) -> dict[str, Any]:
        time_range = None
        if self.time_range is not None:
            time_range = {
                "start": format_time(self.time_range.start),
                "end": format_time(self.time_range.end),
                "expression": self.time_range.expression,
                "source": self.time_source,
            }
        out: dict[str, Any] = {
            "memory_list": [memory_to_reme(h.memory, similarity=h.similarity) for h in self.hits],
            "time_range": time_range,
            "user_name": self.user_name,
            **self.run_metadata(),
        }
        if self.notes:
            out["notes"] = self.notes
        return out


async def resolve_query_time(ctx: RetrieveContext) -> None:
    try:
        found = find_time_expressions(ctx.query, ctx.now)
    except TimeOutOfRange as exc:
        raise InvalidInput(
            f"reference_time: {exc}", errors=[{"loc": ["body", "reference_time"], "msg": str(exc)}]
        ) from None
    ctx.search_text = strip_time_expressions(ctx.query, found) if found else ctx.query
    if found:
        ctx.time_range, ctx.time_source = resolve_time_range(ctx.query, ctx.now), "resolver"
        return
    if ctx.services.llm_client is None or not mentions_time(ctx.query):
        return
    try:
        answer = await ctx.services.llm_client.structured(
            [
                {
                    "role": "system",
                    "content": render_prompt("resolve_query_time", now=describe_time(ctx.now)),
                },
                {"role": "user", "content": ctx.query},
            ],
            QueryTimeRange,
            step="resolve_query_time",
            usage=ctx.usage,
        )
        ctx.time_range = _model_range(answer, ctx.now)
        ctx.time_source = "llm" if ctx.time_range else ""
    except LLMUnavailable as exc:
        ctx.notes.append(f"time phrase not resolved: {exc.message}")


def _model_range(answer: QueryTimeRange, now: datetime) -> TimeRange | None:
    if not answer.has_time:
        return None
    try:
        start, end = parse_time(answer.start), parse_time(answer.end)
    except ValueError:
        log.info("ignoring unreadable time range from the model: %r", answer)
        return None
    if start is None or end is None or start >= end:
        return None
    return TimeRange(start, end, answer.expression)


async def embed_query(ctx: RetrieveContext) -> None:
    ctx.embedding = await ctx.services.embedder.embed_query(ctx.query)


async def rank_words(ctx: RetrieveContext) -> None:
    """The text list of the search, ranked while the query is embedded (it needs no vector)."""
    text = _any_word(ctx.search_text)
    if not text.strip():
        return
    check_text_length(text)
    async with ctx.services.db.read_session() as session:
        ctx.text_ranking = await rank_text_exactly(
            session,
            filters=_filters(ctx),
            text=text,
            depth=ctx.top_k * CANDIDATE_FACTOR * FUSION_DEPTH,
            max_rows=EXACT_SCAN_MAX_ROWS,
        )


async def search_facts(ctx: RetrieveContext) -> None:
    """Hybrid search of the user's memories (without a user, the workspace's); facts in the time
    range come first, then by fused score."""
    time_range = ctx.time_range
    request = SearchRequest(
        filters=_filters(ctx),
        top_k=ctx.top_k * CANDIDATE_FACTOR,
        mode="hybrid",
        embedding=ctx.embedding,
        text=_any_word(ctx.search_text),
        boost_event_range=(time_range.start, time_range.end) if time_range else None,
        find_people=ctx.user_name is None,
        text_ranking=ctx.text_ranking,
    )
    async with ctx.services.db.read_session() as session:
        hits = await search_memories(session, request, ends_transaction=True)
    bonus = ctx.services.settings.personal.insight_bonus

    def rank(hit: SearchHit) -> tuple[bool, float]:
        # When a memory has no event time, when it was recorded stands in for it.
        moment = hit.memory.event_time or hit.memory.time_created
        in_range = time_range is not None and time_range.contains(moment)
        lift = bonus if hit.memory.reflection_subject else 0.0
        return in_range, hit.fused_score + lift

    ctx.hits = sorted(hits, key=rank, reverse=True)[: ctx.top_k]


def _filters(ctx: RetrieveContext) -> SearchFilters:
    return SearchFilters(workspace_id=ctx.workspace_id, memory_type="personal", target=ctx.user_name)


def _any_word(text: str) -> str:
    """A web-search query matching any of the words (the default would require all of them)."""
    words = [w for w in re.findall(r"\w+", text) if w.lower() not in ("or", "and")]
    return " or ".join(words)


async def rerank_facts(ctx: RetrieveContext) -> None:
    llm = ctx.services.llm_client
    if not ctx.services.settings.personal.rerank or llm is None or len(ctx.hits) < 2:
        return
    whose = ctx.user_name or "the people of this workspace"
    listing = "\n".join(f"[{i}] {h.memory.content}" for i, h in enumerate(ctx.hits))
    try:
        answer = await llm.structured(
            [
                {"role": "system", "content": render_prompt("rerank_memories", user_name=whose)},
                {"role": "user", "content": f"Question: {ctx.query}\n\nMemories:\n{listing}"},
            ],
            RerankedMemories,
            step="rerank_facts",
            usage=ctx.usage,
        )
    except LLMUnavailable as exc:
        ctx.notes.append(f"not reranked: {exc.message}")
        return
    order = [i for i in dict.fromkeys(answer.order) if 0 <= i < len(ctx.hits)]
    order += [i for i in range(len(ctx.hits)) if i not in order]
    ctx.hits = [ctx.hits[i] for i in order]


RETRIEVE = Pipeline[RetrieveContext](
    FLOW, [resolve_query_time, (embed_query, rank_words), search_facts, rerank_facts]
)


async def retrieve_personal_memory(
    services: Services, request: RetrievePersonalMemoryRequest, request_id: str | None
) -> tuple[str, dict[str, Any]]:
    """The answer (memory contents, one per line) and the response metadata."""
    query = request.query.strip() or _last_user_message(request.messages)
    if not query:
        raise InvalidInput(
            "query is empty: give a query (or messages)", errors=[{"loc": ["body", "query"], "msg": "empty"}]
        )
    top_k, notes = clamp_top_k(request.top_k, services.settings.limits.max_top_k)
    ctx = RetrieveContext(
        workspace_id=request.workspace_id,
        request_id=request_id,
        services=services,
        query=query,
        top_k=top_k,
        user_name=request.user_name,
        now=request.reference_datetime() or datetime.now(UTC),
    )
    await RETRIEVE.run(ctx)
    metadata = ctx.result()
    if notes:
        metadata["notes"] = notes
    return "\n".join(h.memory.content for h in ctx.hits), metadata


def _last_user_message(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role", "user") == "user":
            text = message_text(message.get("content")).strip()
            if text:
                return text
    return ""
