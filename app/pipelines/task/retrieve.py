"""retrieve_task_memory and retrieve_task_memory_simple: the experiences that fit a new task.

build the query (given, or from the messages)
-> embed it
-> one SQL search (vector, or hybrid with full text) with filters
-> optional model rerank            (retrieve_task_memory only, off by default)
-> optional model rewrite to advice (retrieve_task_memory only, off by default)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from app.errors import InvalidInput
from app.pipelines.base import Pipeline, PipelineContext, clamp_top_k
from app.pipelines.task.domain import FlowResult, RetrievalFilters
from app.pipelines.task.llm_outputs import RerankedMemories, RetrievalGuidance, prompt
from app.pipelines.task.trajectories import retrieval_query
from app.services import Services
from app.store.memories import memory_to_reme, parse_time
from app.store.search import SearchFilters, SearchHit, SearchRequest, search

FLOW = "retrieve_task_memory"
FLOW_SIMPLE = "retrieve_task_memory_simple"
# ReMe answers "" when nothing matched (agents paste the answer into prompts); the reason
# goes to metadata.notes instead.
NOTHING_FOUND_NOTE = "no task memory matched the query"


@dataclass
class RetrievalOptions:
    """What a retrieval request asks for; None means the setting decides."""

    query: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    top_k: int = 3
    search_mode: Literal["vector", "hybrid"] | None = None
    filters: RetrievalFilters = field(default_factory=RetrievalFilters)
    rerank: bool | None = None
    rewrite: bool | None = None


@dataclass(kw_only=True)
class RetrievalContext(PipelineContext):
    services: Services
    flow: str
    options: RetrievalOptions
    search_filters: SearchFilters
    query: str = ""
    embedding: list[float] | None = None
    hits: list[SearchHit] = field(default_factory=list)
    guidance: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rerank(self) -> bool:
        return self.flow == FLOW and _choose(self.options.rerank, self.services.settings.task.rerank)

    @property
    def rewrite(self) -> bool:
        return self.flow == FLOW and _choose(self.options.rewrite, self.services.settings.task.rewrite)

    @property
    def mode(self) -> Literal["vector", "hybrid"]:
        return self.options.search_mode or self.services.settings.task.retrieve_mode


def _choose(asked: bool | None, default: bool) -> bool:
    return default if asked is None else asked


async def build_query(ctx: RetrievalContext) -> None:
    ctx.query = retrieval_query(ctx.options.query, ctx.options.messages)
    if not ctx.query:
        raise InvalidInput(
            "nothing to search with: give a query, or messages with text",
            errors=[{"loc": ["body", "query"], "msg": "empty, and no message has text"}],
        )


async def embed_query(ctx: RetrievalContext) -> None:
    ctx.embedding = await ctx.services.embedder.embed_query(ctx.query)


async def search_task_memories(ctx: RetrievalContext) -> None:
    """One SQL search; with rerank on, a wider pool for the model to order."""
    top_k = ctx.options.top_k
    if ctx.rerank:
        settings = ctx.services.settings
        top_k = min(top_k * settings.task.rerank_pool_factor, settings.limits.max_top_k)
    request = SearchRequest(
        filters=ctx.search_filters, top_k=top_k, mode=ctx.mode, embedding=ctx.embedding, text=ctx.query
    )
    ctx.hits = await search(ctx.services.db, request)


async def rerank_memories(ctx: RetrievalContext) -> None:
    if ctx.rerank and len(ctx.hits) > 1:
        text = prompt("rerank_memories", query=ctx.query, memories=_numbered(ctx.hits))
        answer = await ctx.services.llm(FLOW).structured(
            [{"role": "user", "content": text}], RerankedMemories, step="rerank", usage=ctx.usage
        )
        # Numbers the model left out keep their search order after the ones it ranked.
        order = list(dict.fromkeys(i for i in answer.ranking if 0 <= i < len(ctx.hits)))
        order += [i for i in range(len(ctx.hits)) if i not in order]
        ctx.hits = [ctx.hits[i] for i in order]
    ctx.hits = ctx.hits[: ctx.options.top_k]


async def rewrite_guidance(ctx: RetrievalContext) -> None:
    if ctx.rewrite and ctx.hits:
        text = prompt("rewrite_guidance", query=ctx.query, memories=_numbered(ctx.hits))
        answer = await ctx.services.llm(FLOW).structured(
            [{"role": "user", "content": text}], RetrievalGuidance, step="rewrite", usage=ctx.usage
        )
        ctx.guidance = answer.guidance.strip()


def _numbered(hits: list[SearchHit]) -> str:
    return "\n".join(
        f"{i}. when_to_use: {h.memory.when_to_use}\n   content: {h.memory.content}"
        for i, h in enumerate(hits)
    )


RETRIEVE: Pipeline[RetrievalContext] = Pipeline(
    FLOW, [build_query, embed_query, search_task_memories, rerank_memories, rewrite_guidance]
)
RETRIEVE_SIMPLE: Pipeline[RetrievalContext] = Pipeline(
    FLOW_SIMPLE, [build_query, embed_query, search_task_memories]
)


async def retrieve_task_memory(
    services: Services, workspace_id: str, options: RetrievalOptions, request_id: str | None
) -> FlowResult:
    """The most relevant task memories and a guidance text built from them."""
    ctx = await _run(services, RETRIEVE, workspace_id, options, request_id)
    return _result(ctx, ctx.guidance or guidance_text(ctx.hits))


async def retrieve_task_memory_simple(
    services: Services, workspace_id: str, options: RetrievalOptions, request_id: str | None
) -> FlowResult:
    """The most relevant task memories as a numbered list; never calls a chat model."""
    ctx = await _run(services, RETRIEVE_SIMPLE, workspace_id, options, request_id)
    return _result(ctx, numbered_list(ctx.hits))


async def _run(
    services: Services,
    pipeline: Pipeline[RetrievalContext],
    workspace_id: str,
    options: RetrievalOptions,
    request_id: str | None,
) -> RetrievalContext:
    top_k, notes = clamp_top_k(options.top_k, services.settings.limits.max_top_k)
    options = replace(options, top_k=top_k)
    ctx = RetrievalContext(
        workspace_id=workspace_id,
        request_id=request_id,
        services=services,
        flow=pipeline.name,
        options=options,
        search_filters=_search_filters(workspace_id, options.filters),
        notes=notes,
    )
    if ctx.rerank or ctx.rewrite:
        services.llm(pipeline.name)  # a clear 503 before any work when no model is configured
    return await pipeline.run(ctx)


def _search_filters(workspace_id: str, filters: RetrievalFilters) -> SearchFilters:
    return SearchFilters(
        workspace_id=workspace_id,
        memory_type="task",
        min_score=filters.min_score,
        created_after=_time_field("created_after", filters.created_after),
        created_before=_time_field("created_before", filters.created_before),
        metadata=filters.metadata,
    )


def _time_field(name: str, value: str | None) -> datetime | None:
    try:
        return parse_time(value)
    except ValueError:
        raise InvalidInput(
            f"{name} is not a time: {value!r}",
            errors=[{"loc": ["body", name], "msg": "expected ISO 8601 or 'YYYY-mm-dd HH:MM:SS'"}],
        ) from None


def _result(ctx: RetrievalContext, answer: str) -> FlowResult:
    metadata: dict[str, Any] = {
        "memory_list": [_memory_dict(h, hybrid=ctx.mode == "hybrid") for h in ctx.hits],
        "query": ctx.query,
        "search_mode": ctx.mode,
        **ctx.run_metadata(),
    }
    notes = ctx.notes + ([] if ctx.hits else [NOTHING_FOUND_NOTE])
    if notes:
        metadata["notes"] = notes
    return FlowResult(answer=answer, metadata=metadata)


def _memory_dict(hit: SearchHit, *, hybrid: bool) -> dict[str, Any]:
    extra: dict[str, Any] = {"similarity": hit.similarity}
    if hybrid:
        extra["text_rank"] = hit.text_rank
        extra["fused_score"] = hit.fused_score
    return memory_to_reme(hit.memory, **extra)


def guidance_text(hits: list[SearchHit]) -> str:
    """The memories as advice for the agent, most relevant first."""
    if not hits:
        return ""
    items = [
        f"{i}. Situation: {h.memory.when_to_use}\n   Advice: {h.memory.content}"
        for i, h in enumerate(hits, 1)
    ]
    return "Experience from earlier tasks that may help with this one:\n\n" + "\n\n".join(items)


def numbered_list(hits: list[SearchHit]) -> str:
    if not hits:
        return ""
    return "\n".join(f"{i}. {h.memory.when_to_use}: {h.memory.content}" for i, h in enumerate(hits, 1))
