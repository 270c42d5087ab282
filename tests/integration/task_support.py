"""Helpers of the task-memory tests: trajectories, scripted model answers, seeded memories, rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.providers.embeddings import Embedder
from app.store.memories import NewMemory, ensure_workspace, insert_memories
from tests.support.fixtures import TASK_MESSAGES
from tests.support.standin import schema_name

REME_TRAJECTORY = TASK_MESSAGES

SUCCESS = {
    "when_to_use": "When researching a public company for an investment overview",
    "content": "Split the research into history, finances, products and competitors, and search each.",
    "tags": ["decomposition"],
}
FAILURE = {
    "when_to_use": "When a spreadsheet export fails because of a locked file",
    "content": "Close other programs holding the file before retrying the export; do not retry blindly.",
    "tags": ["files"],
}
COMPARATIVE = {
    "when_to_use": "When booking travel with strict budget constraints",
    "content": "Compare total prices with fees before committing; a cheaper base fare often costs more.",
    "tags": ["travel"],
}


def trajectory(task_id: str, score: float, question: str = "Analyze Xiaomi Corporation") -> dict[str, Any]:
    return {
        "task_id": task_id,
        "score": score,
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": "", "tool_calls": [{"name": "web_search", "arguments": "{}"}]},
            {"role": "tool", "content": "search results", "tool_call_id": "call_1"},
            {"role": "assistant", "content": "Here is the analysis."},
        ],
    }


def reme_messages() -> list[dict[str, Any]]:
    return json.loads(REME_TRAJECTORY.read_text(encoding="utf-8"))


def judged(score: float = 0.8, valid: bool = True) -> dict[str, Any]:
    """A judge answer giving every candidate the same verdict."""
    return {
        "judgements": [
            {"index": i, "is_valid": valid, "score": score, "feedback": "clear and actionable"}
            for i in range(10)
        ]
    }


def responder(
    success: list[dict[str, Any]] | None = None,
    failure: list[dict[str, Any]] | None = None,
    comparative: list[dict[str, Any]] | None = None,
    judge: dict[str, Any] | None = None,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Answers by step: each extraction gives its experiences, the judge its verdicts
    (summary_task_memory_simple's one call answers the success experiences)."""
    answers = {
        "SuccessPatterns": {"experiences": [SUCCESS] if success is None else success},
        "FailureLessons": {"experiences": [FAILURE] if failure is None else failure},
        "ComparativeInsights": {"experiences": [COMPARATIVE] if comparative is None else comparative},
        "CandidateJudgements": judged() if judge is None else judge,
        "TrajectoryExperiences": {"experiences": [SUCCESS] if success is None else success},
    }

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        return answers[schema_name(request) or ""]

    return answer


def steps_called(chat_requests: list[dict[str, Any]]) -> list[str]:
    return [schema_name(r) or "" for r in chat_requests]


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(text(sql), params)
        return [dict(r._mapping) for r in result]


async def seed_memories(
    engine: AsyncEngine, embedder: Embedder | None, workspace_id: str, memories: list[dict[str, Any]]
) -> list[str]:
    """Insert memories directly (embedded by the app's local model, if given); returns their ids."""
    items = [
        NewMemory(
            memory_type=m.get("memory_type", "task"),
            when_to_use=m["when_to_use"],
            content=m.get("content", m["when_to_use"]),
            score=m.get("score", 0.5),
            freq=m.get("freq", 0),
            utility=m.get("utility", 0),
            metadata=m.get("metadata", {}),
            time_created=m.get("time_created"),
            **({"memory_id": m["memory_id"]} if "memory_id" in m else {}),
        )
        for m in memories
    ]
    if embedder is not None:
        vectors = await embedder.embed([i.embedding_text() for i in items])
        for item, vector in zip(items, vectors, strict=True):
            item.embedding = vector
    async with AsyncSession(engine) as session, session.begin():
        await ensure_workspace(session, workspace_id)
        await insert_memories(session, workspace_id, items)
    return [i.memory_id for i in items]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)
