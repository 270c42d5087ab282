"""``summary_tool_memory``: the model writes each tool's usage guideline from its recent calls.

Steps, in order:

1. ``find_pending_calls``  one short read: which tools have calls no guideline has used yet
                           (the others are skipped, names with no calls at all are unknown)
2. ``write_guidelines`` + ``embed_tool_names``, concurrently and outside any transaction
3. ``persist_guidelines``  one transaction: statistics in SQL appended to each guideline, the
                           memory rows and their events, the calls marked summarised

A model failure raises before anything is written (503, or 504 on timeout).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from app.errors import NotFound
from app.models import Memory, ToolCall
from app.pipelines.base import Pipeline, PipelineContext, first_error
from app.pipelines.tool.common import SECTION_BREAK, ToolFlowResult, clip, render_prompt
from app.schemas.tool import split_tool_names
from app.services import Services
from app.store.memories import format_time
from app.store.tool import (
    ToolStatistics,
    lock_tools,
    mark_summarized,
    recent_tool_calls,
    tool_statistics,
    tools_with_calls,
    unsummarized_call_ids,
)
from app.store.tool_memory import ToolMemoryUpdate, find_tool_memories, save_tool_memory, tool_memory_to_reme

FLOW = "summary_tool_memory"
STATISTICS_HEADING = "## Statistics"


class ToolGuideline(BaseModel):
    """A tool's usage guideline, written by the model."""

    guideline: str = Field(min_length=1, description="The usage guideline, in Markdown.")


@dataclass
class SummaryContext(PipelineContext):
    services: Services = field(kw_only=True)
    tool_names: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    to_summarize: list[str] = field(default_factory=list)
    pending_ids: dict[str, list[int]] = field(default_factory=dict)
    recent_calls: dict[str, list[ToolCall]] = field(default_factory=dict)
    tools_to_embed: list[str] = field(default_factory=list)
    guidelines: dict[str, str] = field(default_factory=dict)
    tool_vectors: dict[str, list[float]] = field(default_factory=dict)
    statistics: dict[str, ToolStatistics] = field(default_factory=dict)
    memory_list: list[dict[str, Any]] = field(default_factory=list)


async def find_pending_calls(ctx: SummaryContext) -> None:
    """Sort the named tools into to-summarise, skipped (nothing new) and unknown (never called)."""
    limit = ctx.services.settings.tool.summary_recent_calls
    async with ctx.services.db.session() as session:
        pending = await unsummarized_call_ids(session, ctx.workspace_id, ctx.tool_names)
        called = await tools_with_calls(session, ctx.workspace_id, ctx.tool_names)
        memories = await find_tool_memories(session, ctx.workspace_id, ctx.tool_names)
        ctx.to_summarize = [name for name in ctx.tool_names if pending.get(name)]
        ctx.recent_calls = await recent_tool_calls(session, ctx.workspace_id, ctx.to_summarize, limit)
    ctx.pending_ids = {name: pending[name] for name in ctx.to_summarize}
    ctx.unknown = [name for name in ctx.tool_names if name not in called and name not in memories]
    ctx.skipped = [
        name for name in ctx.tool_names if name not in ctx.unknown and name not in ctx.to_summarize
    ]
    ctx.tools_to_embed = [
        name for name in ctx.to_summarize if name not in memories or memories[name].embedding is None
    ]
    if len(ctx.unknown) == len(ctx.tool_names):
        raise NotFound(
            f"no tool calls recorded for {_quoted(ctx.unknown)} in workspace {ctx.workspace_id!r}; "
            "record some with add_tool_call_result first"
        )


async def write_guidelines(ctx: SummaryContext) -> None:
    """One model call per tool with something new, a few at a time; any failure fails the flow."""
    if not ctx.to_summarize:
        return
    llm = ctx.services.llm(FLOW)
    settings = ctx.services.settings.tool
    semaphore = asyncio.Semaphore(max(1, settings.judge_concurrency))

    async def write(name: str) -> None:
        calls = ctx.recent_calls.get(name, [])
        prompt = render_prompt(
            "write_guideline",
            tool_name=name,
            call_count=len(calls),
            calls="\n\n".join(
                _describe_call(n, c, settings.prompt_field_chars) for n, c in enumerate(calls, 1)
            ),
        )
        async with semaphore:
            answer = await llm.structured(
                [{"role": "user", "content": prompt}],
                ToolGuideline,
                step="write_tool_guideline",
                usage=ctx.usage,
            )
        ctx.guidelines[name] = answer.guideline.strip()

    try:
        async with asyncio.TaskGroup() as group:
            for name in ctx.to_summarize:
                group.create_task(write(name))
    except BaseExceptionGroup as errors:
        raise first_error(errors) from None


def _describe_call(number: int, call: ToolCall, field_chars: int) -> str:
    """One call as the guideline prompt shows it; unjudged calls show their raw output instead."""
    verdict = f"score {call.score:g}" if call.is_judged and call.score is not None else "not judged"
    lines = [
        f"### Call {number} ({format_time(call.call_time or call.created_at)})",
        f"- success flag: {str(call.success).lower()}; {verdict}; "
        f"time {call.time_cost:g}s; tokens {call.token_cost:g}",
        f"- input: {clip(_as_text(call.input), field_chars // 2)}",
    ]
    if call.is_judged:
        lines += [f"- summary: {call.summary}", f"- evaluation: {call.evaluation}"]
    else:
        lines.append(f"- output: {clip(call.output, field_chars // 2)}")
    return "\n".join(lines)


async def embed_tool_names(ctx: SummaryContext) -> None:
    """Vectors for tool rows that have none yet (the vector encodes the tool's name)."""
    if ctx.tools_to_embed:
        vectors = await ctx.services.embedder.embed(ctx.tools_to_embed)
        ctx.tool_vectors = dict(zip(ctx.tools_to_embed, vectors, strict=True))


async def persist_guidelines(ctx: SummaryContext) -> None:
    """Guideline + SQL statistics into each tool's row, calls marked summarised, in one transaction."""
    settings = ctx.services.settings
    known = [name for name in ctx.tool_names if name not in ctx.unknown]
    async with ctx.services.db.session() as session:
        await lock_tools(session, ctx.workspace_id, ctx.to_summarize)
        ctx.statistics = await tool_statistics(
            session, ctx.workspace_id, known, settings.tool.statistics_window
        )
        written: dict[str, Memory] = {}
        for name in ctx.to_summarize:
            stats = ctx.statistics.get(name, ToolStatistics(window=settings.tool.statistics_window))
            written[name] = await save_tool_memory(
                session,
                ctx.workspace_id,
                ToolMemoryUpdate(
                    tool_name=name,
                    statistics=stats,
                    embedding=ctx.tool_vectors.get(name),
                    content=f"{ctx.guidelines[name]}\n\n{STATISTICS_HEADING}\n{stats.as_markdown()}",
                    author=settings.llm.model,
                    extra_metadata={"summarized_call_count": len(ctx.pending_ids[name])},
                ),
                reason=f"{FLOW}: guideline written from {len(ctx.recent_calls.get(name, []))} recent call(s)",
                request_id=ctx.request_id,
            )
            await mark_summarized(session, ctx.workspace_id, ctx.pending_ids[name])
        others = await find_tool_memories(session, ctx.workspace_id, ctx.skipped)
        calls = await recent_tool_calls(session, ctx.workspace_id, known)
    memories = {**others, **written}
    ctx.memory_list = [
        tool_memory_to_reme(memories[name], calls.get(name, [])) for name in known if name in memories
    ]


PIPELINE: Pipeline[SummaryContext] = Pipeline(
    FLOW, [find_pending_calls, (write_guidelines, embed_tool_names), persist_guidelines]
)


async def summarize_tools(
    services: Services, workspace_id: str, tool_names: list[str], *, request_id: str | None = None
) -> ToolFlowResult:
    """Run ``summary_tool_memory`` for the named tools."""
    ctx = await PIPELINE.run(
        SummaryContext(
            workspace_id=workspace_id, request_id=request_id, services=services, tool_names=tool_names
        )
    )
    overview = (
        f"Processed {len(ctx.tool_names)} tool(s): {len(ctx.to_summarize)} summarized, "
        f"{len(ctx.skipped)} skipped (no new calls), {len(ctx.unknown)} unknown"
    )
    if ctx.unknown:
        overview += f"\nunknown (no calls recorded): {_quoted(ctx.unknown)}"
    by_name = {memory["when_to_use"]: memory for memory in ctx.memory_list}
    sections = [overview] + [f"Tool: {name}\n{by_name[name]['content']}" for name in ctx.to_summarize]
    metadata = {
        "memory_list": ctx.memory_list,
        "summarized": ctx.to_summarize,
        "skipped": ctx.skipped,
        "unknown": ctx.unknown,
        "stats": {name: stats.as_dict() for name, stats in ctx.statistics.items()},
        **ctx.run_metadata(),
    }
    return ToolFlowResult(SECTION_BREAK.join(sections), metadata=metadata)


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


async def run_summary_job(services: Services, workspace_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """``async_mode``: the worker writes the guidelines of a queued request."""
    try:
        result = await summarize_tools(services, workspace_id, split_tool_names(payload.get("tool_names")))
    except NotFound as exc:  # another attempt cannot find calls that were never recorded
        return ToolFlowResult(exc.message, success=False).as_dict()
    return result.as_dict()
