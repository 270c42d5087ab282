"""``react``: the chat model answers a task with the workspace's task memories in its context.

ReMe's demos run an agent through ``POST /react`` and then summarise the conversation it
returns; this flow gives them that conversation.

check a chat model is configured (503 before any work otherwise)
-> retrieve the task memories most relevant to the query (as retrieve_task_memory_simple)
-> answer: one chat call with the memories in the system message and the task after it
-> the conversation (task + answer) in ReMe's message shape, the memories in metadata
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.pipelines.base import Pipeline, PipelineContext
from app.pipelines.task.llm_outputs import prompt
from app.pipelines.task.retrieve import RetrievalOptions, retrieve_task_memory_simple
from app.services import Services
from app.store.memories import format_time

FLOW = "react"
NO_MEMORIES = "(none yet)"


@dataclass(kw_only=True)
class ReactContext(PipelineContext):
    services: Services
    options: RetrievalOptions
    memory_list: list[dict[str, Any]] = field(default_factory=list)
    retrieval: dict[str, Any] = field(default_factory=dict)
    conversation: list[dict[str, Any]] = field(default_factory=list)
    answer: str = ""


async def recall_memories(ctx: ReactContext) -> None:
    result = await retrieve_task_memory_simple(ctx.services, ctx.workspace_id, ctx.options, ctx.request_id)
    ctx.memory_list = result.metadata["memory_list"]
    ctx.retrieval = {key: result.metadata[key] for key in ("query", "notes") if key in result.metadata}


async def answer_task(ctx: ReactContext) -> None:
    ctx.conversation = task_conversation(ctx.options.query, ctx.options.messages)
    lessons = "\n".join(
        f"{i}. When {m['when_to_use']}: {m['content']}" if m["when_to_use"] else f"{i}. {m['content']}"
        for i, m in enumerate(ctx.memory_list, 1)
    )
    system = {"role": "system", "content": prompt("react_answer", memories=lessons or NO_MEMORIES)}
    ctx.answer = await ctx.services.llm(FLOW).chat(
        [system, *ctx.conversation], step="answer", usage=ctx.usage
    )


REACT: Pipeline[ReactContext] = Pipeline(FLOW, [recall_memories, answer_task])


async def react(
    services: Services, workspace_id: str, options: RetrievalOptions, request_id: str | None
) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """The model's answer, the conversation in ReMe's message shape, and the response metadata."""
    services.llm(FLOW)  # a clear 503 before any work when no model is configured
    ctx = await REACT.run(
        ReactContext(workspace_id=workspace_id, request_id=request_id, services=services, options=options)
    )
    now = format_time(datetime.now(UTC))
    messages = [reme_message(m, now) for m in ctx.conversation]
    messages.append(reme_message({"role": "assistant", "content": ctx.answer}, now))
    metadata = {"memory_list": ctx.memory_list, **ctx.retrieval, **ctx.run_metadata()}
    return ctx.answer, messages, metadata


def task_conversation(query: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the model is asked: the given messages (role and text only), then the query."""
    conversation = [
        {"role": str(m.get("role") or "user"), "content": m.get("content") or ""}
        for m in messages
        if m.get("role") in ("user", "assistant") and (m.get("content") or "")
    ]
    if query.strip():
        conversation.append({"role": "user", "content": query.strip()})
    return conversation


def reme_message(message: dict[str, Any], time_created: str) -> dict[str, Any]:
    """A message with the fields of ReMe's Message model, so clients can send it back as a trajectory."""
    return {
        "role": message["role"],
        "content": message["content"],
        "reasoning_content": "",
        "tool_calls": [],
        "tool_call_id": "",
        "time_created": time_created,
        "metadata": {},
    }
