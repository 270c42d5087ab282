"""Many memories or history events in one statement each, from column arrays (``unnest``).

One INSERT per chunk instead of one per row: parameters travel as arrays (vectors as one flat
``real[]`` in binary), so neither the driver nor SQLAlchemy does per-row work.

Large loads write their rows first into a temporary staging table (``pg_temp.memory_load``,
private to one connection, gone with it), chunk by chunk as the vectors arrive; one statement
then moves them all into ``memory`` in the load's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.memories import EventRecord, NewMemory

# Rows per statement; arrays have no parameter limit, this only bounds memory per round trip.
INSERT_CHUNK = 1000

# Columns written in bulk, with the array type each one travels as. JSON travels as text and
# is cast in SQL, so asyncpg needs no codec for it; vectors travel apart (see _bulk_insert_sql).
BULK_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("memory_id", "text[]", "text"),
    ("memory_type", "text[]", "text"),
    ("when_to_use", "text[]", "text"),
    ("content", "text[]", "text"),
    ("score", "float8[]", "float8"),
    ("target", "text[]", "text"),
    ("reflection_subject", "text[]", "text"),
    ("author", "text[]", "text"),
    ("metadata", "text[]", "jsonb"),
    ("freq", "int4[]", "int4"),
    ("utility", "int4[]", "int4"),
    ("event_time", "timestamptz[]", "timestamptz"),
    ("time_created", "timestamptz[]", "timestamptz"),
    ("time_modified", "timestamptz[]", "timestamptz"),
    ("source_trajectory_id", "text[]", "uuid"),
)


STAGE_TABLE = "pg_temp.memory_load"
# The memory columns a staged row carries (search_text is computed when the row moves).
STAGED_COLUMNS = ("workspace_id", *(name for name, _, _ in BULK_COLUMNS), "embedding")


def _upsert_clause() -> str:
    updates = ", ".join(
        f"{name} = EXCLUDED.{name}" for name, _, _ in [*BULK_COLUMNS[1:], ("embedding", "", "")]
    )
    return f" ON CONFLICT (workspace_id, memory_id) DO UPDATE SET {updates}"


def _bulk_insert_sql(upsert: bool, table: str = "memory") -> TextClause:
    """One INSERT of many rows from column arrays (``unnest``): one statement, one round trip.

    The vectors arrive as one flat real[] (binary on the wire, no float formatting); row ``n``
    takes its slice of ``:dim`` values and casts it to ``vector``.
    """
    names = ", ".join(name for name, _, _ in BULK_COLUMNS)
    arrays = ", ".join(f"CAST(:{name} AS {array})" for name, array, _ in BULK_COLUMNS)
    values = ", ".join(f"CAST(r.{name} AS {cast})" for name, _, cast in BULK_COLUMNS)
    vector = "CAST((CAST(:vectors AS real[]))[(r.n - 1) * :dim + 1 : r.n * :dim] AS vector)"
    sql = (
        f"INSERT INTO {table} (workspace_id, {names}, embedding) "
        f"SELECT :workspace_id, {values}, {vector} "
        f"FROM unnest({arrays}) WITH ORDINALITY AS r({names}, n)"
    )
    if upsert:
        sql += _upsert_clause()
    return text(sql)


def _bulk_parameters(workspace_id: str, memories: Sequence[NewMemory]) -> dict[str, Any]:
    now = datetime.now(UTC)
    params: dict[str, Any] = {"workspace_id": workspace_id}
    params["memory_id"] = [m.memory_id for m in memories]
    params["memory_type"] = [m.memory_type for m in memories]
    params["when_to_use"] = [m.when_to_use for m in memories]
    params["content"] = [m.content for m in memories]
    params["score"] = [float(m.score) for m in memories]
    params["target"] = [m.target for m in memories]
    params["reflection_subject"] = [m.reflection_subject for m in memories]
    params["author"] = [m.author for m in memories]
    params["metadata"] = [json.dumps(m.metadata, ensure_ascii=False) for m in memories]
    params["freq"] = [m.freq for m in memories]
    params["utility"] = [m.utility for m in memories]
    params["event_time"] = [m.event_time for m in memories]
    params["time_created"] = [m.time_created or now for m in memories]
    params["time_modified"] = [m.time_modified or m.time_created or now for m in memories]
    vectors = np.asarray([m.embedding for m in memories], dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError("every memory written in bulk needs its vector first")
    params["vectors"] = vectors.ravel().tolist()
    params["dim"] = vectors.shape[1]
    params["source_trajectory_id"] = [
        None if m.source_trajectory_id is None else str(m.source_trajectory_id) for m in memories
    ]
    return params


async def write_memory_rows(
    session: AsyncSession, workspace_id: str, memories: Sequence[NewMemory], *, upsert: bool
) -> None:
    """Insert (or, with ``upsert``, insert or replace) memories that already have their vectors."""
    statement = _bulk_insert_sql(upsert)
    for start in range(0, len(memories), INSERT_CHUNK):
        chunk = memories[start : start + INSERT_CHUNK]
        await session.execute(statement, _bulk_parameters(workspace_id, chunk))


async def create_stage(session: AsyncSession) -> None:
    """An empty staging table on this session's connection (one left by a cancelled load goes)."""
    await session.execute(text(f"DROP TABLE IF EXISTS {STAGE_TABLE}"))
    # No constraints beyond NOT NULL, no indexes: rows land at the cost of the heap alone.
    await session.execute(text("CREATE TEMP TABLE memory_load (LIKE memory INCLUDING DEFAULTS)"))


async def stage_memory_rows(session: AsyncSession, workspace_id: str, memories: Sequence[NewMemory]) -> None:
    """Add memories that have their vectors to the staging table."""
    statement = _bulk_insert_sql(upsert=False, table=STAGE_TABLE)
    for start in range(0, len(memories), INSERT_CHUNK):
        chunk = memories[start : start + INSERT_CHUNK]
        await session.execute(statement, _bulk_parameters(workspace_id, chunk))


async def move_staged_rows(session: AsyncSession, *, upsert: bool) -> None:
    """Every staged row into ``memory`` in one statement, then the staging table goes."""
    columns = ", ".join(STAGED_COLUMNS)
    sql = f"INSERT INTO memory ({columns}) SELECT {columns} FROM {STAGE_TABLE}"
    if upsert:
        sql += _upsert_clause()
    await session.execute(text(sql))
    await session.execute(text(f"DROP TABLE {STAGE_TABLE}"))


async def write_events(
    session: AsyncSession,
    workspace_id: str,
    events: Sequence[EventRecord],
    request_id: str | None,
) -> None:
    """Many history rows in one statement per chunk."""
    statement = text(
        "INSERT INTO memory_event (workspace_id, memory_id, action, before, after, reason, request_id) "
        "SELECT :workspace_id, r.memory_id, r.action, CAST(r.before AS jsonb), CAST(r.after AS jsonb), "
        "r.reason, :request_id FROM unnest(CAST(:memory_id AS text[]), CAST(:action AS text[]), "
        "CAST(:before AS text[]), CAST(:after AS text[]), CAST(:reasons AS text[])) "
        "AS r(memory_id, action, before, after, reason)"
    )
    for start in range(0, len(events), INSERT_CHUNK):
        chunk = events[start : start + INSERT_CHUNK]
        await session.execute(
            statement,
            {
                "workspace_id": workspace_id,
                "request_id": request_id,
                "memory_id": [e.memory_id for e in chunk],
                "action": [e.action for e in chunk],
                "before": [
                    None if e.before is None else json.dumps(e.before, ensure_ascii=False) for e in chunk
                ],
                "after": [
                    None if e.after is None else json.dumps(e.after, ensure_ascii=False) for e in chunk
                ],
                "reasons": [e.reason for e in chunk],
            },
        )
