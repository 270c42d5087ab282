"""``retrieve_tool_memory``: each named tool's guideline, found by exact name in SQL (no model).

One step, ``load_guidelines``: the tools' memory rows and their retained calls in one short read.
A name with no memory row is unknown: as in ReMe, the answer carries the guidelines of the names
that were found (``""`` when none was), and ``metadata.unknown`` lists the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.models import Memory, ToolCall
from app.pipelines.base import Pipeline, PipelineContext
from app.pipelines.tool.common import SECTION_BREAK, ToolFlowResult
from app.services import Services
from app.store.tool import recent_tool_calls
from app.store.tool_memory import find_tool_memories, tool_memory_to_reme

FLOW = "retrieve_tool_memory"


@dataclass
class RetrieveContext(PipelineContext):
    services: Services = field(kw_only=True)
    tool_names: list[str] = field(default_factory=list)
    memories: dict[str, Memory] = field(default_factory=dict)
    calls: dict[str, list[ToolCall]] = field(default_factory=dict)


async def load_guidelines(ctx: RetrieveContext) -> None:
    async with ctx.services.db.read_session() as session:
        ctx.memories = await find_tool_memories(session, ctx.workspace_id, ctx.tool_names)
        ctx.calls = await recent_tool_calls(session, ctx.workspace_id, list(ctx.memories))


PIPELINE: Pipeline[RetrieveContext] = Pipeline(FLOW, [load_guidelines])


async def retrieve_tool_guidelines(
    services: Services, workspace_id: str, tool_names: list[str], *, request_id: str | None = None
) -> ToolFlowResult:
    """The guidelines of the named tools that are known, joined; unknown names are listed apart."""
    ctx = await PIPELINE.run(
        RetrieveContext(
            workspace_id=workspace_id, request_id=request_id, services=services, tool_names=tool_names
        )
    )
    found = [name for name in ctx.tool_names if name in ctx.memories]
    unknown = [name for name in ctx.tool_names if name not in ctx.memories]
    sections = [_guideline_section(ctx.memories[name], len(ctx.calls.get(name, []))) for name in found]
    metadata = {
        "memory_list": [tool_memory_to_reme(ctx.memories[name], ctx.calls.get(name, [])) for name in found],
        "unknown": unknown,
        **ctx.run_metadata(),
    }
    if unknown:
        metadata["notes"] = [
            f"no tool memory in workspace {workspace_id!r} under these exact names: {', '.join(unknown)} "
            "(record calls with add_tool_call_result first)"
        ]
    return ToolFlowResult(SECTION_BREAK.join(sections), metadata=metadata)


def _guideline_section(memory: Memory, call_count: int) -> str:
    guideline = memory.content.strip() or (
        f"No guideline yet: {call_count} call(s) recorded; run summary_tool_memory to write one."
    )
    return f"Tool: {memory.when_to_use}\n{guideline}"
