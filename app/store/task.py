"""SQL of the task-memory flows: trajectories, duplicates, validation records, counters, pruning."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, cast, func, insert, select, text, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from app.models import Memory, Trajectory, ValidationRecord
from app.pipelines.task.domain import NewTrajectory, StoredTrajectory
from app.store.memories import EventRecord, ensure_workspace, record_deletions, record_events
from app.store.sql import among

# Stored task memories whose vector or normalised content matches a candidate's: the nearest
# neighbour per candidate (HNSW-friendly ORDER BY ... LIMIT 1) plus one pass for equal text.
# Each probe's vector is cast and its text normalised once (in ``c``), and each probe looks up
# its own text (through ix_memory_task_content_key where the planner's statistics know the
# workspace). The former join of all probes against the workspace parsed the probe's vector
# once per stored row compared and, on statistics from before a burst of summaries,
# normalised every stored text: on the pipeline benchmark's database 43.8 ms with 782 task
# memories, against 7.7 ms with 1,290 now (EXPLAIN ANALYZE, docs/benchmarks.md).
_STORED_DUPLICATES_SQL = text(
    r"""
WITH c AS (
    SELECT CAST(u.vec AS vector) AS vec, u.norm, md5(u.norm) AS key, u.idx
    FROM (
        SELECT vec, lower(regexp_replace(btrim(content), '\s+', ' ', 'g')) AS norm, idx
        FROM unnest(CAST(:vectors AS text[]), CAST(:contents AS text[]))
             WITH ORDINALITY AS w(vec, content, idx)
    ) u
),
near AS (
    SELECT c.idx, n.memory_id
    FROM c CROSS JOIN LATERAL (
        SELECT m.memory_id, m.embedding <=> c.vec AS distance
        FROM memory m
        WHERE m.workspace_id = :workspace_id AND m.memory_type = 'task' AND m.embedding IS NOT NULL
        ORDER BY m.embedding <=> c.vec
        LIMIT 1
    ) n
    WHERE n.distance <= :max_distance
),
same_text AS (
    SELECT c.idx, s.memory_id
    FROM c CROSS JOIN LATERAL (
        -- through ix_memory_task_content_key (app.models.memory.TASK_CONTENT_KEY), then the texts
        SELECT min(m.memory_id) AS memory_id
        FROM memory m
        WHERE m.workspace_id = :workspace_id AND m.memory_type = 'task'
          AND md5(lower(regexp_replace(btrim(m.content), '\s+', ' ', 'g'))) = c.key
          AND lower(regexp_replace(btrim(m.content), '\s+', ' ', 'g')) = c.norm
    ) s
    WHERE s.memory_id IS NOT NULL
)
SELECT idx, memory_id FROM same_text
UNION ALL
SELECT idx, memory_id FROM near
"""
)


async def insert_trajectories(
    session: AsyncSession, workspace_id: str, trajectories: Sequence[NewTrajectory]
) -> list[StoredTrajectory]:
    """Store trajectories as pending (creating the workspace on its first write)."""
    await ensure_workspace(session, workspace_id)
    stored = [
        StoredTrajectory(
            task_id=t.task_id, messages=t.messages, score=t.score, metadata=t.metadata, id=uuid.uuid4()
        )
        for t in trajectories
    ]
    rows = [
        {
            "workspace_id": workspace_id,
            "id": t.id,
            "kind": "task",
            "task_id": t.task_id,
            "messages": t.messages,
            "score": t.score,
            "metadata_": t.metadata,
            "status": "pending",
        }
        for t in stored
    ]
    await session.execute(insert(Trajectory), rows)
    return stored


async def load_trajectories(
    session: AsyncSession, workspace_id: str, ids: Sequence[uuid.UUID]
) -> list[StoredTrajectory]:
    """Stored trajectories by id, in the order of ``ids``."""
    rows = await session.scalars(
        select(Trajectory).where(Trajectory.workspace_id == workspace_id, among(Trajectory.id, ids))
    )
    by_id = {
        row.id: StoredTrajectory(
            task_id=row.task_id,
            messages=row.messages,
            score=row.score or 0.0,
            metadata=row.metadata_,
            id=row.id,
        )
        for row in rows
    }
    return [by_id[i] for i in ids if i in by_id]


@dataclass
class DuplicateProbe:
    embedding: list[float]
    content: str


async def find_stored_duplicates(
    session: AsyncSession, workspace_id: str, probes: Sequence[DuplicateProbe], min_similarity: float
) -> dict[int, str]:
    """For each probe that repeats a stored task memory, the id of that memory (by probe index)."""
    if not probes:
        return {}
    # Without an iterative scan, other workspaces' rows can fill the HNSW candidate list.
    await session.execute(text("SELECT set_config('hnsw.iterative_scan', 'strict_order', true)"))
    rows = await session.execute(
        _STORED_DUPLICATES_SQL,
        {
            "vectors": [_vector_literal(p.embedding) for p in probes],
            "contents": [p.content for p in probes],
            "workspace_id": workspace_id,
            "max_distance": 1.0 - min_similarity,
        },
    )
    found: dict[int, str] = {}
    for idx, memory_id in rows.all():
        found.setdefault(int(idx) - 1, memory_id)
    return found


def _vector_literal(embedding: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in embedding) + "]"


async def insert_validation_records(
    session: AsyncSession, workspace_id: str, records: Sequence[dict[str, Any]]
) -> None:
    """Insert ``validation_record`` rows (trajectory_id, memory_id, candidate, verdict, model)."""
    if records:
        await session.execute(
            insert(ValidationRecord), [{"workspace_id": workspace_id, **record} for record in records]
        )


async def record_memory_use(
    session: AsyncSession,
    workspace_id: str,
    memory_ids: Sequence[str],
    *,
    helped: bool,
    request_id: str | None = None,
) -> list[Memory]:
    """Count one use of each memory (and one success when it helped), atomically in SQL.

    Returns the memories that exist, as they are after the update (without vectors).
    """
    if not memory_ids:
        return []
    gain = 1 if helped else 0
    rows = await session.execute(
        update(Memory)
        .where(Memory.workspace_id == workspace_id, among(Memory.memory_id, memory_ids))
        .values(freq=Memory.freq + 1, utility=Memory.utility + gain)
        .returning(Memory.memory_id, Memory.freq, Memory.utility)
    )
    updated = [(memory_id, freq, utility) for memory_id, freq, utility in rows.all()]
    await record_events(
        session,
        workspace_id,
        [
            EventRecord(
                memory_id,
                "record",
                before={"freq": freq - 1, "utility": utility - gain},
                after={"freq": freq, "utility": utility, "helped": helped},
                reason="record_task_memory",
            )
            for memory_id, freq, utility in updated
        ],
        request_id,
    )
    if not updated:
        return []
    memories = await session.scalars(
        select(Memory)
        .options(defer(Memory.embedding))
        .where(Memory.workspace_id == workspace_id, among(Memory.memory_id, [m for m, _, _ in updated]))
        .execution_options(populate_existing=True)
    )
    by_id = {m.memory_id: m for m in memories}
    return [by_id[m] for m in dict.fromkeys(memory_ids) if m in by_id]


async def prune_task_memories(
    session: AsyncSession,
    workspace_id: str,
    *,
    freq_threshold: int,
    utility_threshold: float,
    request_id: str | None = None,
) -> list[str]:
    """Delete task memories used at least ``freq_threshold`` times that helped in less than
    ``utility_threshold`` of their uses; their last version is kept in history."""
    helped_ratio = cast(Memory.utility, Float) / func.nullif(Memory.freq, 0)
    deleted = await session.scalars(
        sql_delete(Memory)
        .where(
            Memory.workspace_id == workspace_id,
            Memory.memory_type == "task",
            Memory.freq >= freq_threshold,
            helped_ratio < utility_threshold,
        )
        .returning(Memory)
    )
    reason = f"delete_task_memory: freq >= {freq_threshold} and utility/freq < {utility_threshold:g}"
    return await record_deletions(session, workspace_id, list(deleted.all()), reason, request_id)
