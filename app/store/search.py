"""Memory search as one SQL statement: vector, full-text, or both fused by reciprocal rank.

Filters (workspace, type, target, time ranges, score, metadata containment) apply inside
every ranked list, and pgvector's iterative index scan keeps filtered HNSW scans from
returning fewer rows than asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, func, literal, select, text, union
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from app.models import Memory

SearchMode = Literal["vector", "text", "hybrid"]

# Reciprocal rank fusion constant (Cormack et al.); larger flattens the rank curve.
RRF_K = 60
# Each ranked list fetches this many candidates per requested result before fusion.
FUSION_DEPTH = 4


@dataclass
class SearchFilters:
    workspace_id: str
    memory_type: str | None = None
    target: str | None = None
    min_score: float | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    event_after: datetime | None = None
    event_before: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = [Memory.workspace_id == self.workspace_id]
        if self.memory_type:
            out.append(Memory.memory_type == self.memory_type)
        if self.target is not None:
            out.append(Memory.target == self.target)
        if self.min_score is not None:
            out.append(Memory.score >= self.min_score)
        if self.created_after is not None:
            out.append(Memory.time_created >= self.created_after)
        if self.created_before is not None:
            out.append(Memory.time_created < self.created_before)
        if self.event_after is not None:
            out.append(Memory.event_time >= self.event_after)
        if self.event_before is not None:
            out.append(Memory.event_time < self.event_before)
        if self.metadata:
            # JSONB containment: only equality of given keys, never an operator from the caller.
            out.append(Memory.metadata_.contains(self.metadata))
        return out


@dataclass
class SearchRequest:
    filters: SearchFilters
    top_k: int = 5
    mode: SearchMode = "vector"
    embedding: list[float] | None = None
    text: str = ""
    # Memories whose event_time falls in this range get their own ranked list in the fusion.
    boost_event_range: tuple[datetime, datetime] | None = None


@dataclass
class SearchHit:
    memory: Memory
    similarity: float | None
    text_rank: float | None
    fused_score: float


async def search_memories(session: AsyncSession, request: SearchRequest) -> list[SearchHit]:
    """Run one search; ``similarity`` is cosine similarity, never written to ``score``."""
    if request.top_k <= 0:
        return []
    use_vector = request.mode in ("vector", "hybrid") and request.embedding is not None
    use_text = request.mode in ("text", "hybrid") and bool(request.text.strip())
    if not use_vector and not use_text:
        return []
    await _tune_index_scan(session, request.top_k * FUSION_DEPTH)
    if use_vector and not use_text and request.boost_event_range is None:
        return await _vector_only(session, request)
    return await _fused(session, request, use_vector=use_vector, use_text=use_text)


async def _tune_index_scan(session: AsyncSession, depth: int) -> None:
    await session.execute(
        text(
            "SELECT set_config('hnsw.ef_search', :ef, true),"
            " set_config('hnsw.iterative_scan', 'relaxed_order', true),"
            " set_config('plan_cache_mode', 'force_custom_plan', true)"
        ),
        {"ef": str(min(max(40, depth), 1000))},
    )


async def _vector_only(session: AsyncSession, request: SearchRequest) -> list[SearchHit]:
    distance = Memory.embedding.cosine_distance(request.embedding).label("distance")
    # relaxed_order may return index rows slightly out of order: sort the few found again.
    inner = (
        select(Memory.memory_id, distance)
        .where(*request.filters.clauses(), Memory.embedding.is_not(None))
        .order_by(distance)
        .limit(request.top_k)
        .subquery()
    )
    stmt = (
        select(Memory, inner.c.distance)
        .join(
            inner,
            and_(
                Memory.memory_id == inner.c.memory_id,
                Memory.workspace_id == request.filters.workspace_id,
            ),
        )
        .options(defer(Memory.embedding))
        .order_by(inner.c.distance, Memory.memory_id)
    )
    rows = (await session.execute(stmt)).all()
    return [
        SearchHit(memory=m, similarity=1.0 - float(d), text_rank=None, fused_score=1.0 - float(d))
        for m, d in rows
    ]


def _ranked_vector(request: SearchRequest, depth: int, extra: list[ColumnElement[bool]]) -> Select:
    distance = Memory.embedding.cosine_distance(request.embedding)
    inner = (
        select(Memory.memory_id.label("memory_id"), distance.label("distance"))
        .where(*request.filters.clauses(), Memory.embedding.is_not(None), *extra)
        .order_by(distance)
        .limit(depth)
        .subquery()
    )
    return select(
        inner.c.memory_id,
        inner.c.distance,
        func.row_number().over(order_by=inner.c.distance).label("rank"),
    )


def _ranked_text(request: SearchRequest, depth: int) -> Select:
    # The configuration must be typed regconfig: PostgreSQL has no (varchar, varchar) variant.
    query = func.websearch_to_tsquery(literal("english", REGCONFIG), request.text)
    rank = func.ts_rank_cd(Memory.search_text, query)
    inner = (
        select(Memory.memory_id.label("memory_id"), rank.label("text_rank"))
        .where(*request.filters.clauses(), Memory.search_text.op("@@")(query))
        .order_by(rank.desc())
        .limit(depth)
        .subquery()
    )
    return select(
        inner.c.memory_id,
        inner.c.text_rank,
        func.row_number().over(order_by=inner.c.text_rank.desc()).label("rank"),
    )


async def _fused(
    session: AsyncSession, request: SearchRequest, *, use_vector: bool, use_text: bool
) -> list[SearchHit]:
    depth = request.top_k * FUSION_DEPTH
    lists: list[tuple[str, Any]] = []
    if use_vector:
        lists.append(("v", _ranked_vector(request, depth, []).cte("v")))
    if use_text:
        lists.append(("t", _ranked_text(request, depth).cte("t")))
    if request.boost_event_range is not None and request.embedding is not None:
        start, end = request.boost_event_range
        window = [Memory.event_time >= start, Memory.event_time < end]
        lists.append(("e", _ranked_vector(request, depth, window).cte("e")))

    # One UNION of every list (chained .union() fails from the third list on).
    candidates = union(*(select(cte.c.memory_id) for _, cte in lists)).subquery("candidates")

    fused: ColumnElement[Any] = literal(0.0)
    stmt_cols: list[Any] = [Memory]
    joins = []
    for name, cte in lists:
        fused = fused + func.coalesce(1.0 / (RRF_K + cte.c.rank), 0.0)
        joins.append(cte)
        if name == "t":
            stmt_cols.append(cte.c.text_rank.label("text_rank"))
    if request.embedding is not None:
        similarity = 1.0 - Memory.embedding.cosine_distance(request.embedding)
        stmt_cols.append(similarity.label("similarity"))
    stmt = select(*stmt_cols, fused.label("fused")).select_from(candidates)
    stmt = stmt.join(
        Memory,
        and_(
            Memory.workspace_id == request.filters.workspace_id,
            Memory.memory_id == candidates.c.memory_id,
        ),
    )
    for cte in joins:
        stmt = stmt.outerjoin(cte, cte.c.memory_id == candidates.c.memory_id)
    stmt = stmt.options(defer(Memory.embedding)).order_by(fused.desc(), Memory.memory_id).limit(request.top_k)

    hits: list[SearchHit] = []
    for row in (await session.execute(stmt)).all():
        mapping = row._mapping
        similarity = mapping.get("similarity")
        hits.append(
            SearchHit(
                memory=row[0],
                similarity=None if similarity is None else float(similarity),
                text_rank=None if mapping.get("text_rank") is None else float(mapping["text_rank"]),
                fused_score=float(mapping["fused"]),
            )
        )
    return hits
