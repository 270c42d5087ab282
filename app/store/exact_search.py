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

The text list needs no query vector, so a caller that must still embed the query can rank the
words first (:func:`rank_text_exactly`, in its own statement, while the query is embedded) and
hand the list to :func:`exact_hybrid`, which then ranks only the vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Float, Integer, Select, Text, and_, bindparam, case, func, literal, select, union
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from app.models import Memory
from app.store.bm25 import ranked_bm25

if TYPE_CHECKING:
    from app.store.search import SearchFilters

# Weights of the two normalised lists (equal: neither list is trusted more than the other).
VECTOR_WEIGHT = 0.5
TEXT_WEIGHT = 0.5
# Lifts, in the same units as the fused score (which runs from 0 to 1).
PEOPLE_LIFT = 0.1
TIME_LIFT = 0.1


@dataclass(frozen=True)
class TextRanking:
    """A filtered set's BM25 list, best first, ranked ahead of the rest of the search."""

    memory_ids: list[str]
    scores: list[float]


async def rank_text_exactly(
    session: AsyncSession, *, filters: SearchFilters, text: str, depth: int, max_rows: int
) -> TextRanking | None:
    """The BM25 list of the filtered set, at most ``depth`` long, or None when the set holds
    more than ``max_rows`` memories (a large set is not ranked exactly; nothing of it is read).

    One statement: the capped count decides, from the index alone, before any BM25 work.
    """
    params: dict[str, Any] = {**filters.params(), "text": text, "depth": depth, "max_rows": max_rows}
    rows = (await session.execute(_text_statement(filters.shape()), params)).all()
    if rows and rows[0].too_many:
        return None
    listed = [row for row in rows if row.memory_id is not None]
    return TextRanking([row.memory_id for row in listed], [float(row.text_rank) for row in listed])


@lru_cache(maxsize=64)
def _text_statement(shape: tuple[bool, ...]) -> Select[Any]:
    from app.store.search import SearchFilters, more_than

    clauses = SearchFilters.of_shape(shape).bound_clauses()
    too_many = more_than(clauses, bindparam("max_rows", type_=Integer))
    ranked = ranked_bm25(
        bindparam("text", type_=Text), [*clauses, ~too_many], bindparam("depth", type_=Integer)
    ).subquery("ranked")
    # One row with too_many and no memory when nothing matched (or the set is too large).
    return (
        select(too_many.label("too_many"), ranked.c.memory_id, ranked.c.text_rank)
        .select_from(select(literal(1)).subquery("one").outerjoin(ranked, literal(True)))
        .order_by(ranked.c.rank)
    )


def _normalised(value: Any, low: Any, high: Any) -> Any:
    """(value - low) / (high - low), 1 when the list's scores are all equal, never below 0."""
    return func.greatest(func.coalesce((value - low) / func.nullif(high - low, 0), 1.0), 0.0)


async def exact_hybrid(
    session: AsyncSession,
    *,
    filters: SearchFilters,
    top_k: int,
    depth: int,
    embedding: list[float] | None,
    text: str,
    people: list[str],
    time_range: tuple[datetime, datetime] | None,
    text_ranking: TextRanking | None = None,
) -> list[tuple[Memory, float | None, float | None, float]]:
    """(memory, similarity, text score, fused score), best first, at most ``top_k``.

    ``text_ranking``, when given, is the text list of this ``text`` and filters at this
    ``depth`` (from :func:`rank_text_exactly`); it is used instead of ranking the words again.

    The statement depends only on which inputs are given (its shape); it is built once per
    shape with bound parameters and run with this request's values (building and compiling it
    anew cost more than running it on a small set).
    """
    has_text = bool(text.strip())
    if embedding is None and not has_text:
        return []
    stmt = _statement(
        filters.shape(),
        vector=embedding is not None,
        text=has_text,
        people=bool(people),
        time=time_range is not None,
        ranked_text=has_text and text_ranking is not None,
    )
    params: dict[str, Any] = {**filters.params(), "top_k": top_k, "depth": depth}
    if embedding is not None:
        params["embedding"] = embedding
    if has_text and text_ranking is not None:
        params["ranked_ids"], params["ranked_scores"] = text_ranking.memory_ids, text_ranking.scores
    elif has_text:
        params["text"] = text
    if people:
        params["people"] = people
    if time_range is not None:
        params["range_start"], params["range_end"] = time_range
    out = []
    for row in (await session.execute(stmt, params)).all():
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


@lru_cache(maxsize=256)
def _statement(
    shape: tuple[bool, ...], *, vector: bool, text: bool, people: bool, time: bool, ranked_text: bool = False
) -> Select[Any]:
    """The exact hybrid statement of one shape, every value a bound parameter."""
    from app.store.search import SearchFilters

    # Any filters of this shape: only which clauses exist matters, their values are parameters.
    clauses = SearchFilters.of_shape(shape).bound_clauses()
    workspace_id: Any = bindparam("f_workspace_id")
    depth = bindparam("depth", type_=Integer)
    query_vector = bindparam("embedding", type_=Memory.embedding.type)
    moment = func.coalesce(Memory.event_time, Memory.time_created)
    in_range = None
    if time:
        in_range = and_(moment >= bindparam("range_start"), moment < bindparam("range_end"))
    lists: list[Any] = []
    vector_list = text_list = None
    if vector:
        distance = Memory.embedding.cosine_distance(query_vector)
        # "+ 0": not index-orderable, so PostgreSQL filters first and sorts the few rows.
        base = select(Memory.memory_id.label("memory_id"), distance.label("distance")).where(
            *clauses, Memory.embedding.is_not(None)
        )
        vector_list = base.order_by(distance + 0.0).limit(depth).cte("v")
        lists.append(vector_list)
        if in_range is not None:
            # The range's own nearest memories join the candidates (they may be in neither list).
            lists.append(base.where(in_range).order_by(distance + 0.0).limit(depth).cte("e"))
    if text and ranked_text:
        text_list = _given_text_list().cte("t")
        lists.append(text_list)
    elif text:
        text_list = ranked_bm25(bindparam("text", type_=Text), clauses, depth).cte("t")
        lists.append(text_list)
    candidates = union(*(select(x.c.memory_id) for x in lists)).subquery("candidates")

    fused: Any = literal(0.0)
    columns: list[Any] = [Memory]
    stmt_from: Any = candidates.join(
        Memory, and_(Memory.workspace_id == workspace_id, Memory.memory_id == candidates.c.memory_id)
    )
    both = vector_list is not None and text_list is not None
    if vector_list is not None:
        stats = select(
            func.min(vector_list.c.distance).label("low"), func.max(vector_list.c.distance).label("high")
        ).subquery("vs")
        # The vector list's distance where it has one (no second read of the stored vector),
        # computed for the candidates that only the other lists found.
        distance = func.coalesce(vector_list.c.distance, Memory.embedding.cosine_distance(query_vector))
        # Closer is better: normalise the distance from the far end of the list.
        fused = fused + (VECTOR_WEIGHT if both else 1.0) * _normalised(
            stats.c.high - distance, 0.0, stats.c.high - stats.c.low
        )
        stmt_from = stmt_from.outerjoin(vector_list, vector_list.c.memory_id == candidates.c.memory_id).join(
            stats, literal(True)
        )
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
        fused = fused + case((Memory.target.in_(bindparam("people", expanding=True)), PEOPLE_LIFT), else_=0.0)
    if in_range is not None:
        fused = fused + case((in_range, TIME_LIFT), else_=0.0)
    return (
        select(*columns, fused.label("fused"))
        .select_from(stmt_from)
        .options(defer(Memory.embedding))
        .order_by(fused.desc(), Memory.memory_id)
        .limit(bindparam("top_k", type_=Integer))
    )


def _given_text_list() -> Select[Any]:
    """A text list passed in as two arrays (ids and scores, best first), as ranked_bm25's columns."""
    given = (
        func.unnest(
            bindparam("ranked_ids", type_=ARRAY(Text)), bindparam("ranked_scores", type_=ARRAY(Float))
        )
        .table_valued("memory_id", "text_rank", with_ordinality="rank")
        .render_derived("given")
    )
    return select(given.c.memory_id, given.c.text_rank, literal(1.0).label("weight"), given.c.rank)
