"""Hybrid search of a small filtered set: exact lists, fused by normalised score.

Where the filtered set is small (app.store.search ranks it exactly), both lists are exact:
cosine similarity over every vector of the set, and Okapi BM25 over every memory holding a
query word (app.store.bm25). They are fused by a convex combination of min-max normalised
scores (each list's best candidate is 1, its last is 0), which keeps how far ahead a memory
is in each list, where reciprocal rank fusion keeps only its place. Two deterministic lifts
are added on the same scale:

- people: a memory whose ``target`` is a person the query names (app.store.people);
- time: a memory whose ``event_time`` (else ``time_created``) falls in the range that the
  query's time phrase resolves to.

Measured on conversational recall (docs/benchmarks.md): normalised-score fusion beat
reciprocal rank fusion of the same two lists, and each lift added recall on its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from app.models import Memory
from app.store.bm25 import ranked_bm25

# Weights of the two normalised lists (equal: neither list is trusted more than the other).
VECTOR_WEIGHT = 0.5
TEXT_WEIGHT = 0.5
# Lifts, in the same units as the fused score (which runs from 0 to 1).
PEOPLE_LIFT = 0.1
TIME_LIFT = 0.1


def _normalised(value: Any, low: Any, high: Any) -> Any:
    """(value - low) / (high - low), 1 when the list's scores are all equal, never below 0."""
    return func.greatest(func.coalesce((value - low) / func.nullif(high - low, 0), 1.0), 0.0)


async def exact_hybrid(
    session: AsyncSession,
    *,
    clauses: list[ColumnElement[bool]],
    workspace_id: str,
    top_k: int,
    depth: int,
    embedding: list[float] | None,
    text: str,
    people: list[str],
    time_range: tuple[datetime, datetime] | None,
) -> list[tuple[Memory, float | None, float | None, float]]:
    """(memory, similarity, text score, fused score), best first, at most ``top_k``."""
    moment = func.coalesce(Memory.event_time, Memory.time_created)
    in_range = None if time_range is None else and_(moment >= time_range[0], moment < time_range[1])
    lists: list[Any] = []
    vector = text_list = None
    if embedding is not None:
        distance = Memory.embedding.cosine_distance(embedding)
        # "+ 0": not index-orderable, so PostgreSQL filters first and sorts the few rows.
        base = select(Memory.memory_id.label("memory_id"), distance.label("distance")).where(
            *clauses, Memory.embedding.is_not(None)
        )
        vector = base.order_by(distance + 0.0).limit(depth).cte("v")
        lists.append(vector)
        if in_range is not None:
            # The range's own nearest memories join the candidates (they may be in neither list).
            lists.append(base.where(in_range).order_by(distance + 0.0).limit(depth).cte("e"))
    if text.strip():
        text_list = ranked_bm25(text, clauses, depth).cte("t")
        lists.append(text_list)
    if not lists:
        return []
    candidates = union(*(select(x.c.memory_id) for x in lists)).subquery("candidates")

    fused: Any = literal(0.0)
    columns: list[Any] = [Memory]
    stmt_from: Any = candidates.join(
        Memory, and_(Memory.workspace_id == workspace_id, Memory.memory_id == candidates.c.memory_id)
    )
    both = vector is not None and text_list is not None
    if vector is not None and embedding is not None:
        stats = select(
            func.min(vector.c.distance).label("low"), func.max(vector.c.distance).label("high")
        ).subquery("vs")
        distance = Memory.embedding.cosine_distance(embedding)
        # Closer is better: normalise the distance from the far end of the list.
        fused = fused + (VECTOR_WEIGHT if both else 1.0) * _normalised(
            stats.c.high - distance, 0.0, stats.c.high - stats.c.low
        )
        stmt_from = stmt_from.join(stats, literal(True))
        columns.append((1.0 - distance).label("similarity"))
    if text_list is not None:
        stats_t = select(
            func.min(text_list.c.text_rank).label("low"), func.max(text_list.c.text_rank).label("high")
        ).subquery("ts")
        stmt_from = stmt_from.outerjoin(text_list, text_list.c.memory_id == candidates.c.memory_id).join(
            stats_t, literal(True)
        )
        score = _normalised(text_list.c.text_rank, stats_t.c.low, stats_t.c.high)
        fused = fused + (TEXT_WEIGHT if both else 1.0) * func.coalesce(
            case((text_list.c.text_rank.is_not(None), score)), 0.0
        )
        columns.append(text_list.c.text_rank.label("text_rank"))
    if people:
        fused = fused + case((Memory.target.in_(people), PEOPLE_LIFT), else_=0.0)
    if in_range is not None:
        fused = fused + case((in_range, TIME_LIFT), else_=0.0)
    stmt = (
        select(*columns, fused.label("fused"))
        .select_from(stmt_from)
        .options(defer(Memory.embedding))
        .order_by(fused.desc(), Memory.memory_id)
        .limit(top_k)
    )
    out = []
    for row in (await session.execute(stmt)).all():
        mapping = row._mapping
        similarity = mapping.get("similarity")
        text_rank = mapping.get("text_rank")
        out.append(
            (
                row[0],
                None if similarity is None else float(similarity),
                None if text_rank is None else float(text_rank),
                float(mapping["fused"]),
            )
        )
    return out
