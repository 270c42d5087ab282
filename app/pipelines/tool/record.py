"""``add_tool_call_result``: record tool calls, judge the new ones, refresh each tool's memory.

Steps, in order:

1. ``validate_calls``   each item on its own; invalid ones are reported by index, valid ones kept
2. ``store_calls``      one short transaction: insert (a recorded call is skipped by its hash),
                        keep the latest N per tool, note which tool rows still need a vector
3. ``judge_new_calls`` + ``embed_tool_names``, concurrently and outside any transaction
4. ``persist_results``  one transaction: judgements, statistics, the tools' memory rows

A failing judge never loses calls: they were committed in step 2 and stay ``is_judged = false``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.errors import InvalidInput, LLMNotConfigured, ReMeError
from app.models import ToolCall
from app.pipelines.base import Pipeline, PipelineContext
from app.pipelines.tool.common import ToolFlowResult, clip, enqueue_tool_flow, render_prompt
from app.services import Services
from app.store.memories import ensure_workspace, parse_time
from app.store.tool import (
    CallJudgement,
    NewToolCall,
    ToolStatistics,
    insert_tool_calls,
    lock_tools,
    recent_tool_calls,
    save_judgements,
    tool_statistics,
    trim_tool_calls,
)
from app.store.tool_memory import ToolMemoryUpdate, find_tool_memories, save_tool_memory, tool_memory_to_reme

FLOW = "add_tool_call_result"
log = logging.getLogger(__name__)


class ToolCallInput(BaseModel):
    """One item of ``tool_call_results``, as ReMe clients send it."""

    model_config = ConfigDict(extra="ignore")

    tool_name: str = Field(min_length=1, max_length=256)
    input: Any = ""
    output: str = ""
    success: bool = True
    time_cost: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    # Absent (or ReMe's -1 "unknown"): estimated from the input and output length.
    token_cost: float | None = Field(default=None, allow_inf_nan=False)
    create_time: datetime | None = None

    @field_validator("tool_name", mode="before")
    @classmethod
    def _strip_name(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("input", mode="before")
    @classmethod
    def _input_or_empty(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("output", mode="before")
    @classmethod
    def _output_as_text(cls, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False, default=str)

    @field_validator("token_cost")
    @classmethod
    def _known_or_estimated(cls, value: float | None) -> float | None:
        if value is None or value == -1:
            return None
        if value < 0:
            raise ValueError("must be >= 0 (or -1 / absent to have it estimated)")
        return value

    @field_validator("create_time", mode="before")
    @classmethod
    def _reme_or_iso_time(cls, value: Any) -> Any:
        try:
            return parse_time(value)
        except (TypeError, ValueError):
            raise ValueError("expected 'YYYY-mm-dd HH:MM:SS' or an ISO 8601 time") from None

    def to_new_call(self) -> NewToolCall:
        input_text = self.input if isinstance(self.input, str) else json.dumps(self.input, ensure_ascii=False)
        # ReMe's estimate when the client does not know: about four characters per token.
        tokens = self.token_cost if self.token_cost is not None else (len(input_text) + len(self.output)) // 4
        return NewToolCall(
            tool_name=self.tool_name,
            input=self.input,
            output=self.output,
            success=self.success,
            time_cost=self.time_cost,
            token_cost=float(tokens),
            call_time=self.create_time,
        )


class ToolCallJudgement(BaseModel):
    """The judge's verdict on one tool call."""

    summary: str = Field(description="One sentence: what the call asked for and what came back.")
    evaluation: str = Field(description="Why the call did or did not achieve its purpose; what to change.")
    score: float = Field(ge=0, le=1, description="1 if the call achieved its purpose, 0 if it did not.")


@dataclass
class RecordContext(PipelineContext):
    services: Services = field(kw_only=True)
    raw_calls: list[Any] = field(default_factory=list)
    default_tool_name: str = ""
    calls: list[NewToolCall] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    tool_names: list[str] = field(default_factory=list)
    new_calls: list[ToolCall] = field(default_factory=list)
    inserted_count: int = 0
    trimmed_count: int = 0
    tools_to_embed: list[str] = field(default_factory=list)
    judgements: list[CallJudgement] = field(default_factory=list)
    judge_failures: list[str] = field(default_factory=list)
    tool_vectors: dict[str, list[float]] = field(default_factory=dict)
    embed_warning: str | None = None
    memory_list: list[dict[str, Any]] = field(default_factory=list)
    statistics: dict[str, ToolStatistics] = field(default_factory=dict)


async def validate_calls(ctx: RecordContext) -> None:
    """Validate every item; keep the valid ones, report the others by index and field."""
    limit = ctx.services.settings.tool.max_calls_per_request
    if not ctx.raw_calls:
        raise InvalidInput(
            "tool_call_results is empty: give at least one tool call",
            errors=[{"loc": ["body", "tool_call_results"], "msg": "must not be empty"}],
        )
    if len(ctx.raw_calls) > limit:
        raise InvalidInput(
            f"tool_call_results has {len(ctx.raw_calls)} items; at most {limit} per request",
            errors=[{"loc": ["body", "tool_call_results"], "msg": f"at most {limit} items"}],
        )
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(ctx.raw_calls):
        checked = _check_item(index, item, ctx.default_tool_name)
        if not isinstance(checked, NewToolCall):
            ctx.rejected.append({"index": index, "errors": checked})
        elif (checked.tool_name, checked.call_hash) not in seen:  # twice in one batch counts once
            seen.add((checked.tool_name, checked.call_hash))
            ctx.calls.append(checked)
    if not ctx.calls:
        described = "; ".join(_describe_rejection(r) for r in ctx.rejected[:5])
        raise InvalidInput(
            f"no valid tool call in tool_call_results: {described}",
            errors=[error for r in ctx.rejected for error in r["errors"]],
        )
    ctx.tool_names = list(dict.fromkeys(call.tool_name for call in ctx.calls))


def _describe_rejection(rejected: dict[str, Any]) -> str:
    """``item 2: time_cost Input should be greater than or equal to 0``."""
    problems = ", ".join(
        f"{'.'.join(map(str, error['loc'][3:])) or '(item)'} {error['msg']}" for error in rejected["errors"]
    )
    return f"item {rejected['index']}: {problems}"


def _check_item(index: int, item: Any, default_tool_name: str) -> NewToolCall | list[dict[str, Any]]:
    """The item as a call to store, or its errors with paths into the request body."""
    where: list[Any] = ["body", "tool_call_results", index]
    if not isinstance(item, dict):
        return [{"loc": where, "msg": f"expected an object, got {type(item).__name__}"}]
    if default_tool_name and not item.get("tool_name"):
        item = {**item, "tool_name": default_tool_name}  # ReMe clients also send tool_name beside the list
    try:
        return ToolCallInput.model_validate(item).to_new_call()
    except ValidationError as exc:
        return [{"loc": [*where, *e["loc"]], "msg": e["msg"]} for e in exc.errors()]


async def store_calls(ctx: RecordContext) -> None:
    """Insert the calls (recorded ones skipped), trim each tool to its latest N, in one transaction."""
    keep_last = ctx.services.settings.tool.keep_last
    async with ctx.services.db.session() as session:
        await ensure_workspace(session, ctx.workspace_id)
        await lock_tools(session, ctx.workspace_id, ctx.tool_names)
        inserted = await insert_tool_calls(session, ctx.workspace_id, ctx.calls)
        trimmed = set(await trim_tool_calls(session, ctx.workspace_id, ctx.tool_names, keep_last))
        memories = await find_tool_memories(session, ctx.workspace_id, ctx.tool_names)
    ctx.inserted_count = len(inserted)
    ctx.trimmed_count = len(trimmed)
    ctx.new_calls = [call for call in inserted if call.id not in trimmed]
    ctx.tools_to_embed = [
        name for name in ctx.tool_names if name not in memories or memories[name].embedding is None
    ]


async def judge_new_calls(ctx: RecordContext) -> None:
    """Ask the model about each new call, a few at a time; failures leave calls unjudged."""
    if not ctx.new_calls:
        return
    llm = ctx.services.llm_client
    if llm is None:
        ctx.judge_failures.append(LLMNotConfigured(FLOW).message)
        return
    settings = ctx.services.settings.tool
    semaphore = asyncio.Semaphore(max(1, settings.judge_concurrency))

    async def judge(call: ToolCall) -> None:
        async with semaphore:
            if ctx.judge_failures:  # the model is failing: do not wait out a timeout per call
                return
            prompt = render_prompt(
                "judge_call",
                tool_name=call.tool_name,
                input=clip(_as_text(call.input), settings.prompt_field_chars),
                output=clip(call.output, settings.prompt_field_chars),
                success=str(call.success).lower(),
                time_cost=f"{call.time_cost:g}",
                token_cost=f"{call.token_cost:g}",
            )
            try:
                verdict = await llm.structured(
                    [{"role": "user", "content": prompt}],
                    ToolCallJudgement,
                    step="judge_tool_call",
                    usage=ctx.usage,
                )
            except ReMeError as exc:
                ctx.judge_failures.append(exc.message)
                return
            except Exception as exc:  # a bug must not lose the stored calls either
                log.exception("judging tool call %s failed", call.id)
                ctx.judge_failures.append(f"{type(exc).__name__}: {exc}")
                return
        score = 1.0 if verdict.score >= 0.5 else 0.0
        ctx.judgements.append(
            CallJudgement(call.id, verdict.summary.strip(), verdict.evaluation.strip(), score)
        )

    await asyncio.gather(*(judge(call) for call in ctx.new_calls))


async def embed_tool_names(ctx: RecordContext) -> None:
    """Vectors for tool rows that have none; without them the rows are still written."""
    if not ctx.tools_to_embed:
        return
    try:
        vectors = await ctx.services.embedder.embed(ctx.tools_to_embed)
    except ReMeError as exc:
        ctx.embed_warning = (
            f"tool memory rows written without a vector ({exc.message}); the next call adds it"
        )
        return
    ctx.tool_vectors = dict(zip(ctx.tools_to_embed, vectors, strict=True))


async def persist_results(ctx: RecordContext) -> None:
    """Judgements, statistics and each tool's memory row, in one transaction."""
    settings = ctx.services.settings.tool
    async with ctx.services.db.session() as session:
        await lock_tools(session, ctx.workspace_id, ctx.tool_names)
        await save_judgements(session, ctx.workspace_id, ctx.judgements)
        ctx.statistics = await tool_statistics(
            session, ctx.workspace_id, ctx.tool_names, settings.statistics_window
        )
        memories = [
            await save_tool_memory(
                session,
                ctx.workspace_id,
                ToolMemoryUpdate(
                    tool_name=name,
                    statistics=ctx.statistics.get(name, ToolStatistics(window=settings.statistics_window)),
                    embedding=ctx.tool_vectors.get(name),
                ),
                reason=f"{FLOW}: tool calls recorded",
                request_id=ctx.request_id,
            )
            for name in ctx.tool_names
        ]
        calls = await recent_tool_calls(session, ctx.workspace_id, ctx.tool_names)
    ctx.memory_list = [tool_memory_to_reme(m, calls.get(m.when_to_use, [])) for m in memories]


PIPELINE: Pipeline[RecordContext] = Pipeline(
    FLOW, [validate_calls, store_calls, (judge_new_calls, embed_tool_names), persist_results]
)


async def record_tool_calls(
    services: Services,
    workspace_id: str,
    raw_calls: list[Any],
    *,
    default_tool_name: str = "",
    request_id: str | None = None,
) -> ToolFlowResult:
    """Run ``add_tool_call_result`` and describe the outcome in ReMe's terms."""
    ctx = await PIPELINE.run(
        RecordContext(
            workspace_id=workspace_id,
            request_id=request_id,
            services=services,
            raw_calls=list(raw_calls),
            default_tool_name=default_tool_name.strip(),
        )
    )
    return _result(ctx)


def _result(ctx: RecordContext) -> ToolFlowResult:
    new_count = len(ctx.new_calls)
    judged = len(ctx.judgements)
    valid = len(ctx.raw_calls) - len(ctx.rejected)
    duplicates = valid - ctx.inserted_count
    metadata: dict[str, Any] = {
        "memory_list": ctx.memory_list,
        "stats": {name: stats.as_dict() for name, stats in ctx.statistics.items()},
        "validation_stats": {
            "total_input": len(ctx.raw_calls),
            "valid": valid,
            "filtered": len(ctx.rejected),
        },
        "deduplication_stats": {"total_new": valid, "added": ctx.inserted_count, "deduplicated": duplicates},
        "rejected": ctx.rejected,
        "trimmed_count": ctx.trimmed_count,
        "judged": judged == new_count,
        "judged_count": judged,
        "unjudged_count": new_count - judged,
        **ctx.run_metadata(),
    }
    warnings = []
    if ctx.judge_failures:
        warnings.append(
            f"{new_count - judged} of {new_count} new call(s) stored unjudged: {ctx.judge_failures[0]}"
        )
    if ctx.embed_warning:
        warnings.append(ctx.embed_warning)
    if warnings:
        metadata["warning"] = "; ".join(warnings)
    lines = [
        f"Recorded {ctx.inserted_count} new call(s) of {len(ctx.tool_names)} tool(s); "
        f"{duplicates} already recorded, {len(ctx.rejected)} rejected; judged {judged} of {new_count}."
    ]
    for name in ctx.tool_names:
        stats = ctx.statistics.get(name)
        if stats is not None:
            score = "n/a" if stats.avg_score is None else f"{stats.avg_score:.2f}"
            lines.append(
                f"{name}: {stats.call_count} recent call(s), success rate {stats.success_rate:.0%}, "
                f"average score {score}"
            )
    lines += [f"rejected {_describe_rejection(rejected)}" for rejected in ctx.rejected]
    if warnings:
        lines.append("warning: " + metadata["warning"])
    return ToolFlowResult("\n".join(lines), metadata=metadata)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


async def queue_tool_calls(services: Services, workspace_id: str, payload: dict[str, Any]) -> uuid.UUID:
    """``async_mode``: check the items now (so bad input is still a 400), record them in a job."""
    ctx = RecordContext(
        workspace_id=workspace_id,
        services=services,
        raw_calls=list(payload.get("tool_call_results") or []),
        default_tool_name=str(payload.get("tool_name") or "").strip(),
    )
    await validate_calls(ctx)
    return await enqueue_tool_flow(services, workspace_id, FLOW, payload)


async def run_record_job(services: Services, workspace_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """``async_mode``: the worker records the calls of a queued request."""
    result = await record_tool_calls(
        services,
        workspace_id,
        list(payload.get("tool_call_results") or []),
        default_tool_name=str(payload.get("tool_name") or ""),
    )
    return result.as_dict()
