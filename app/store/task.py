"""SQL of the task-memory flows: trajectories, duplicates, validation records, counters, pruning."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Float, cast, func, select, text, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from app.citus import on_citus
from app.errors import Conflict
from app.models import Memory, Trajectory
from app.pipelines.task.domain import NewTrajectory, StoredTrajectory
from app.store.memories import (
    EventRecord,
    NewMemory,
    hold_workspace,
    lock_workspace,
    memory_snapshot,
    record_deletions,
    record_events,
)
from app.store.sql import among

# Stored task memories whose vector or normalised content matches a candidate's: the nearest
# neighbour per candidate (HNSW-friendly ORDER BY ... LIMIT 1) plus one pass for equal text.
# Each probe's vector is cast and its text normalised once (in ``c``). The stored texts with
# one of the probes' keys are found in one pass (``same_key``), so that on statistics from
# before a burst of summaries (the planner believes the workspace empty and filters its rows)
# each stored text is normalised once, not once per probe and twice: 10 probes against 400
# task memories 32 -> 4 ms (EXPLAIN ANALYZE). The former join of all probes against the
# workspace parsed the probe's vector once per stored row compared: on the pipeline
# benchmark's database 43.8 ms with 782 task memories, against 7.7 ms with 1,290 after it.
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
same_key AS MATERIALIZED (
    -- each stored text normalised once, whatever the plan: through ix_memory_task_content_key
    -- (app.models.memory.TASK_CONTENT_KEY) where the statistics know the workspace
    SELECT m.memory_id, lower(regexp_replace(btrim(m.content), '\s+', ' ', 'g')) AS norm
    FROM memory m
    WHERE m.workspace_id = :workspace_id AND m.memory_type = 'task'
      AND md5(lower(regexp_replace(btrim(m.content), '\s+', ' ', 'g'))) = ANY (ARRAY(SELECT key FROM c))
),
same_text AS (
    SELECT c.idx, s.memory_id
    FROM c CROSS JOIN LATERAL (SELECT min(k.memory_id) AS memory_id FROM same_key k WHERE k.norm = c.norm) s
    WHERE s.memory_id IS NOT NULL
)
SELECT idx, memory_id FROM same_text
UNION ALL
SELECT idx, memory_id FROM near
"""
)


# The workspace (created on its first write) and the trajectories, pending, in one statement;
# the foreign key to the workspace is checked at the statement's end, after both inserts.
_INSERT_TRAJECTORIES_SQL = text(
    """
WITH new_workspace AS (
    INSERT INTO workspace (id, description) VALUES (:workspace_id, '') ON CONFLICT (id) DO NOTHING
)
INSERT INTO trajectory (workspace_id, id, kind, task_id, messages, score, metadata, status, lease_until)
SELECT :workspace_id, t.id, 'task', t.task_id, CAST(t.messages AS jsonb), t.score,
       CAST(t.metadata AS jsonb), 'pending', now() + make_interval(secs => CAST(:lease_seconds AS float8))
FROM unnest(CAST(:ids AS uuid[]), CAST(:task_ids AS text[]), CAST(:messages AS text[]),
            CAST(:scores AS float8[]), CAST(:metadata AS text[])) AS t(id, task_id, messages, score, metadata)
"""
)


async def insert_trajectories(
    session: AsyncSession,
    workspace_id: str,
    trajectories: Sequence[NewTrajectory],
    *,
    lease_seconds: float | None = None,
) -> list[StoredTrajectory]:
    """Store trajectories as pending (creating the workspace on its first write).

    With ``lease_seconds`` they are leased to this process for that long (see
    :func:`app.store.trajectories.lease_trajectories`); without, a job will own them.
    """
    stored = [
        StoredTrajectory(
            task_id=t.task_id, messages=t.messages, score=t.score, metadata=t.metadata, id=uuid.uuid4()
        )
        for t in trajectories
    ]
    await session.execute(
        _INSERT_TRAJECTORIES_SQL,
        {
            "workspace_id": workspace_id,
            "lease_seconds": lease_seconds,
            "ids": [t.id for t in stored],
            "task_ids": [t.task_id for t in stored],
            "messages": [_json(t.messages) for t in stored],
            "scores": [float(t.score) for t in stored],
            "metadata": [_json(t.metadata) for t in stored],
        },
    )
    return stored


def _json(value: Any) -> str | None:
    # Escaped as SQLAlchemy's JSON types write it (a lone surrogate from a client is then
    # PostgreSQL's to refuse, not the driver's to fail on).
    return None if value is None else json.dumps(value)


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
    """pgvector's text form, ``[0.1,0.2,...]``: a JSON array of the numbers, written by msgspec
    in C (12 us for 384 numbers, against 270 us for Python's repr of each)."""
    values = embedding if isinstance(embedding, list) else [float(x) for x in embedding]
    return _VECTOR_ENCODER.encode(values).decode()


_VECTOR_ENCODER = msgspec.json.Encoder()


async def hold_and_lock_workspace(session: AsyncSession, workspace_id: str, *, doing: str) -> None:
    """:func:`~app.store.memories.hold_workspace` then :func:`~app.store.memories.lock_workspace`,
    in one statement on PostgreSQL: the row lock is taken first (the CTE), then the advisory lock,
    in the order every other writer takes them.

    On Citus the two statements run as they are (the advisory lock must be taken on the worker
    that holds the workspace's shard).
    """
    if on_citus(session):
        await hold_workspace(session, workspace_id, doing=doing)
        await lock_workspace(session, workspace_id)
        return
    held = (await session.execute(_HOLD_AND_LOCK_SQL, {"workspace_id": workspace_id})).first()
    if held is None:
        raise Conflict(
            f"workspace {workspace_id!r} was deleted while {doing} was running; nothing was stored"
        )


# The same row lock as hold_workspace (SQLAlchemy's key_share=True is FOR NO KEY UPDATE) and
# the same advisory lock key as lock_workspace.
_HOLD_AND_LOCK_SQL = text(
    """
WITH held AS MATERIALIZED (
    SELECT id FROM workspace WHERE id = :workspace_id FOR NO KEY UPDATE
)
SELECT held.id, pg_advisory_xact_lock(hashtext('reme:ws:' || :workspace_id)) FROM held
"""
)

# A summary's writes in one statement: its memories, a validation record per judged candidate,
# an "add" event per memory, and its trajectories done.
_WRITE_SUMMARY_SQL = text(
    """
WITH new_memory AS (
    INSERT INTO memory (workspace_id, memory_id, memory_type, when_to_use, content, score, target,
                        reflection_subject, author, metadata, freq, utility, event_time, time_created,
                        time_modified, embedding, source_trajectory_id)
    SELECT :workspace_id, m.memory_id, m.memory_type, m.when_to_use, m.content, m.score, m.target,
           m.reflection_subject, m.author, CAST(m.metadata AS jsonb), m.freq, m.utility, m.event_time,
           m.time_created, m.time_modified, CAST(m.embedding AS vector), m.source_trajectory_id
    FROM unnest(CAST(:memory_id AS text[]), CAST(:memory_type AS text[]), CAST(:when_to_use AS text[]),
                CAST(:content AS text[]), CAST(:score AS float8[]), CAST(:target AS text[]),
                CAST(:reflection_subject AS text[]), CAST(:author AS text[]), CAST(:metadata AS text[]),
                CAST(:freq AS int4[]), CAST(:utility AS int4[]), CAST(:event_time AS timestamptz[]),
                CAST(:time_created AS timestamptz[]), CAST(:time_modified AS timestamptz[]),
                CAST(:embedding AS text[]), CAST(:source_trajectory_id AS uuid[]))
         AS m(memory_id, memory_type, when_to_use, content, score, target, reflection_subject, author,
              metadata, freq, utility, event_time, time_created, time_modified, embedding,
              source_trajectory_id)
),
validation AS (
    INSERT INTO validation_record (workspace_id, trajectory_id, memory_id, candidate, is_valid, score,
                                   feedback, model)
    SELECT :workspace_id, v.trajectory_id, v.memory_id, CAST(v.candidate AS jsonb), v.is_valid, v.score,
           v.feedback, v.model
    FROM unnest(CAST(:record_trajectory_id AS uuid[]), CAST(:record_memory_id AS text[]),
                CAST(:record_candidate AS text[]), CAST(:record_is_valid AS boolean[]),
                CAST(:record_score AS float8[]), CAST(:record_feedback AS text[]),
                CAST(:record_model AS text[]))
         AS v(trajectory_id, memory_id, candidate, is_valid, score, feedback, model)
),
history AS (
    INSERT INTO memory_event (workspace_id, memory_id, action, after, reason, request_id)
    SELECT :workspace_id, e.memory_id, 'add', CAST(e.after AS jsonb), :reason, :request_id
    FROM unnest(CAST(:memory_id AS text[]), CAST(:after AS text[])) AS e(memory_id, after)
)
UPDATE trajectory SET status = 'done', error = NULL, attempts = attempts + 1, processed_at = now()
WHERE workspace_id = :workspace_id AND id = ANY(CAST(:trajectory_ids AS uuid[]))
"""
)


async def write_summary(
    session: AsyncSession,
    workspace_id: str,
    memories: Sequence[NewMemory],
    records: Sequence[dict[str, Any]],
    trajectory_ids: Sequence[uuid.UUID],
    *,
    reason: str,
    request_id: str | None,
) -> list[Memory]:
    """Write a summary's results in one statement and return the memories as written.

    The memories (with their vectors and creation times), a ``validation_record`` row per
    record (trajectory_id, memory_id, candidate, verdict, model), an ``add`` event per memory
    with ``reason``, and the trajectories marked done (their attempt counted). The memories
    returned are built from what was written, not read back.
    """
    rows = [Memory(**memory.row(workspace_id)) for memory in memories]
    await session.execute(
        _WRITE_SUMMARY_SQL,
        {
            "workspace_id": workspace_id,
            **_memory_columns(rows),
            "after": [_json(memory_snapshot(m)) for m in rows],
            "reason": reason,
            "request_id": request_id,
            "record_trajectory_id": [r["trajectory_id"] for r in records],
            "record_memory_id": [r["memory_id"] for r in records],
            "record_candidate": [_json(r["candidate"]) for r in records],
            "record_is_valid": [bool(r["is_valid"]) for r in records],
            "record_score": [float(r["score"]) for r in records],
            "record_feedback": [r["feedback"] for r in records],
            "record_model": [r["model"] for r in records],
            "trajectory_ids": list(trajectory_ids),
        },
    )
    return rows


def _memory_columns(rows: Sequence[Memory]) -> dict[str, list[Any]]:
    return {
        "memory_id": [m.memory_id for m in rows],
        "memory_type": [m.memory_type for m in rows],
        "when_to_use": [m.when_to_use for m in rows],
        "content": [m.content for m in rows],
        "score": [float(m.score) for m in rows],
        "target": [m.target for m in rows],
        "reflection_subject": [m.reflection_subject for m in rows],
        "author": [m.author for m in rows],
        "metadata": [_json(m.metadata_) for m in rows],
        "freq": [m.freq for m in rows],
        "utility": [m.utility for m in rows],
        "event_time": [m.event_time for m in rows],
        "time_created": [m.time_created for m in rows],
        "time_modified": [m.time_modified for m in rows],
        "embedding": [None if m.embedding is None else _vector_literal(m.embedding) for m in rows],
        "source_trajectory_id": [m.source_trajectory_id for m in rows],
    }


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
