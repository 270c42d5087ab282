"""Recorded tool calls: inserts deduplicated by hash, retention, judgements and statistics in SQL.

Each tool's memory row (its guideline) lives in :mod:`app.store.tool_memory`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, cast, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.citus import workspace_lock_statement
from app.models import ToolCall
from app.store.sql import among

TOOL_MEMORY_TYPE = "tool"


def call_hash(input_value: Any, output: str) -> str:
    """sha256 of the canonical JSON of a call's input and output (key order does not matter)."""
    canonical = json.dumps(
        {"input": input_value, "output": output}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class NewToolCall:
    """A validated call about to be stored."""

    tool_name: str
    input: Any
    output: str
    success: bool
    time_cost: float
    token_cost: float
    call_time: datetime | None

    @property
    def call_hash(self) -> str:
        return call_hash(self.input, self.output)

    def row(self, workspace_id: str) -> dict[str, Any]:
        return {
            "workspace_id": workspace_id,
            "tool_name": self.tool_name,
            "call_hash": self.call_hash,
            "input": self.input,
            "output": self.output,
            "success": self.success,
            "time_cost": self.time_cost,
            "token_cost": self.token_cost,
            "call_time": self.call_time,
        }


@dataclass
class CallJudgement:
    call_id: int
    summary: str
    evaluation: str
    score: float


@dataclass
class ToolStatistics:
    """Aggregates over a tool's latest calls; ``avg_score`` counts judged calls only."""

    call_count: int = 0
    judged_count: int = 0
    success_rate: float = 0.0
    avg_score: float | None = None
    avg_time_cost: float = 0.0
    avg_token_cost: float = 0.0
    window: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_markdown(self) -> str:
        score = "n/a (no judged calls)" if self.avg_score is None else f"{self.avg_score:.3f}"
        return "\n".join(
            [
                f"- **Calls considered**: {self.call_count} (latest, at most {self.window})",
                f"- **Success Rate**: {self.success_rate:.2%}",
                f"- **Average Score**: {score} over {self.judged_count} judged call(s)",
                f"- **Average Time Cost**: {self.avg_time_cost:.3f}s",
                f"- **Average Token Cost**: {self.avg_token_cost:.1f}",
            ]
        )


def _tool_lock_key(workspace_id: str, tool_name: str) -> int:
    digest = hashlib.blake2b(f"reme:tool:{workspace_id}:{tool_name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_tools(session: AsyncSession, workspace_id: str, tool_names: Sequence[str]) -> None:
    """Serialise the writers of these tools until the transaction ends.

    Locks are taken in key order, so two requests naming the same tools in another order
    cannot deadlock on them (nor on the call and memory rows they then write).
    """
    keys = sorted({_tool_lock_key(workspace_id, name) for name in tool_names})
    statement = text(workspace_lock_statement(session))
    for key in keys:
        await session.execute(statement, {"key": key, "workspace_id": workspace_id})


async def insert_tool_calls(
    session: AsyncSession, workspace_id: str, calls: Sequence[NewToolCall]
) -> list[ToolCall]:
    """Insert calls in one statement; a call already recorded (same tool and hash) is skipped.

    Returns the rows actually inserted. The unique constraint decides, so concurrent requests
    with the same call cannot both insert it.
    """
    if not calls:
        return []
    statement = (
        pg_insert(ToolCall)
        .values([c.row(workspace_id) for c in calls])
        .on_conflict_do_nothing(index_elements=["workspace_id", "tool_name", "call_hash"])
        .returning(ToolCall)
    )
    result = await session.scalars(statement)
    return list(result.all())


def _ranked_calls(workspace_id: str, tool_names: Sequence[str]) -> Any:
    """Calls of the given tools with their rank, 1 = most recently recorded."""
    return (
        select(
            ToolCall.id,
            func.row_number()
            .over(partition_by=ToolCall.tool_name, order_by=ToolCall.id.desc())
            .label("rank"),
        )
        .where(ToolCall.workspace_id == workspace_id, among(ToolCall.tool_name, tool_names))
        .subquery("ranked")
    )


async def trim_tool_calls(
    session: AsyncSession, workspace_id: str, tool_names: Sequence[str], keep_last: int
) -> list[int]:
    """Keep only the latest ``keep_last`` calls of each tool, in one DELETE; returns deleted ids."""
    if not tool_names:
        return []
    ranked = _ranked_calls(workspace_id, tool_names)
    deleted = await session.scalars(
        delete(ToolCall)
        .where(
            ToolCall.workspace_id == workspace_id,
            ToolCall.id.in_(select(ranked.c.id).where(ranked.c.rank > keep_last)),
        )
        .returning(ToolCall.id)
        .execution_options(synchronize_session=False)
    )
    return list(deleted.all())


async def save_judgements(
    session: AsyncSession, workspace_id: str, judgements: Sequence[CallJudgement]
) -> None:
    """Write the judge's summary, evaluation and score of each call (one executemany UPDATE).

    Calls trimmed or deleted since they were judged are skipped (an UPDATE by primary key of a
    missing row is an error for the ORM).
    """
    if not judgements:
        return
    still_there = set(
        await session.scalars(
            select(ToolCall.id).where(
                ToolCall.workspace_id == workspace_id, among(ToolCall.id, [j.call_id for j in judgements])
            )
        )
    )
    judgements = [j for j in judgements if j.call_id in still_there]
    if not judgements:
        return
    rows = [
        {
            "workspace_id": workspace_id,
            "id": j.call_id,
            "summary": j.summary,
            "evaluation": j.evaluation,
            "score": j.score,
            "is_judged": True,
        }
        for j in judgements
    ]
    await session.execute(update(ToolCall), rows)


async def mark_summarized(session: AsyncSession, workspace_id: str, call_ids: Sequence[int]) -> None:
    if call_ids:
        await session.execute(
            update(ToolCall)
            .where(ToolCall.workspace_id == workspace_id, among(ToolCall.id, call_ids))
            .values(is_summarized=True)
        )


async def unsummarized_call_ids(
    session: AsyncSession, workspace_id: str, tool_names: Sequence[str]
) -> dict[str, list[int]]:
    """Ids of the calls of each tool that no guideline has used yet."""
    rows = await session.execute(
        select(ToolCall.tool_name, ToolCall.id).where(
            ToolCall.workspace_id == workspace_id,
            among(ToolCall.tool_name, tool_names),
            ToolCall.is_summarized.is_(False),
        )
    )
    out: dict[str, list[int]] = {}
    for name, call_id in rows.all():
        out.setdefault(name, []).append(call_id)
    return out


async def tools_with_calls(session: AsyncSession, workspace_id: str, tool_names: Sequence[str]) -> set[str]:
    rows = await session.scalars(
        select(ToolCall.tool_name)
        .where(ToolCall.workspace_id == workspace_id, among(ToolCall.tool_name, tool_names))
        .distinct()
    )
    return set(rows.all())


async def recent_tool_calls(
    session: AsyncSession, workspace_id: str, tool_names: Sequence[str], limit: int | None = None
) -> dict[str, list[ToolCall]]:
    """The latest ``limit`` calls of each tool (all retained calls if None), oldest first."""
    if not tool_names:
        return {}
    statement = select(ToolCall).where(
        ToolCall.workspace_id == workspace_id, among(ToolCall.tool_name, tool_names)
    )
    if limit is not None:
        ranked = _ranked_calls(workspace_id, tool_names)
        statement = statement.where(ToolCall.id.in_(select(ranked.c.id).where(ranked.c.rank <= limit)))
    rows = await session.scalars(statement.order_by(ToolCall.tool_name, ToolCall.id))
    out: dict[str, list[ToolCall]] = {}
    for call in rows.all():
        out.setdefault(call.tool_name, []).append(call)
    return out


async def tool_statistics(
    session: AsyncSession, workspace_id: str, tool_names: Sequence[str], window: int
) -> dict[str, ToolStatistics]:
    """Statistics of each tool over its latest ``window`` calls, in one aggregate statement."""
    if not tool_names:
        return {}
    recent = (
        select(
            ToolCall.tool_name,
            ToolCall.success,
            ToolCall.score,
            ToolCall.is_judged,
            ToolCall.time_cost,
            ToolCall.token_cost,
            func.row_number()
            .over(partition_by=ToolCall.tool_name, order_by=ToolCall.id.desc())
            .label("rank"),
        )
        .where(ToolCall.workspace_id == workspace_id, among(ToolCall.tool_name, tool_names))
        .subquery("recent")
    )
    judged = recent.c.is_judged.is_(True)
    rows = await session.execute(
        select(
            recent.c.tool_name,
            func.count(),
            func.count().filter(judged),
            func.avg(cast(recent.c.success, Integer)),
            func.avg(recent.c.score).filter(judged),
            func.avg(recent.c.time_cost),
            func.avg(recent.c.token_cost),
        )
        .where(recent.c.rank <= window)
        .group_by(recent.c.tool_name)
    )
    return {
        name: ToolStatistics(
            call_count=int(count),
            judged_count=int(judged_count),
            success_rate=float(success_rate or 0.0),
            avg_score=None if avg_score is None else float(avg_score),
            avg_time_cost=float(avg_time or 0.0),
            avg_token_cost=float(avg_tokens or 0.0),
            window=window,
        )
        for name, count, judged_count, success_rate, avg_score, avg_time, avg_tokens in rows.all()
    }
