"""Vector search in one statement, outside any transaction.

Most searches are vector searches of one workspace's memories of one type. Through the ORM in
a read transaction each is four round trips (BEGIN, the scan choice, the search, COMMIT) and an
ORM statement built and loaded per request. Here it is one statement on a connection in
autocommit (a lone statement is its own transaction), its rows read as plain tuples:

- A small set (up to ``EXACT_SCAN_MAX_ROWS`` of app.store.search) is ranked exactly: the capped
  count that chooses the scan and the exact top-N share the statement. When the count says the
  set is large, the statement returns no memory, and the set is remembered as large for a while.
- A set known to be large is searched through the HNSW index on a connection whose session
  already holds the index-scan settings (``INDEX_SCAN_SETTINGS``), which app.store.search
  otherwise sets per transaction.

The answer is the one app.store.search.search_memories gives; only how it is found differs.
Measured on 700-memory workspaces, in process: 3.73 ms through the ORM path, 1.96 ms this way
(docs/benchmarks.md).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    REAL,
    ColumnElement,
    Integer,
    Select,
    Subquery,
    and_,
    bindparam,
    cast,
    false,
    literal,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm.attributes import instance_state

from app.models import Memory

if TYPE_CHECKING:
    from app.store.search import SearchFilters, SearchHit

# How long a set found large is searched through the index without counting it again.
LARGE_SET_MEMORY_SECONDS = 30.0
# Entries kept at most (the oldest half goes when full).
LARGE_SET_MEMORY_SIZE = 10_000

_large_sets: dict[tuple[Any, ...], float] = {}

# The columns a search reads (every column but the vector, as the ORM path defers it), and
# the attribute each one fills.
_COLUMNS = [c for c in Memory.__table__.columns if c.name != "embedding"]
_ATTRIBUTES = [Memory.__mapper__.get_property_by_column(c).key for c in _COLUMNS]
_MANAGER = Memory.__mapper__.class_manager


def known_large(filters: SearchFilters) -> bool:
    expires = _large_sets.get(_scan_key(filters))
    return expires is not None and expires > time.monotonic()


def remember_large(filters: SearchFilters) -> None:
    if len(_large_sets) >= LARGE_SET_MEMORY_SIZE:
        for key in list(_large_sets)[: LARGE_SET_MEMORY_SIZE // 2]:
            del _large_sets[key]
    _large_sets[_scan_key(filters)] = time.monotonic() + LARGE_SET_MEMORY_SECONDS


def _scan_key(filters: SearchFilters) -> tuple[Any, ...]:
    """What the capped count depends on (the filters the scan-choice index answers)."""
    return (filters.workspace_id, filters.memory_type, filters.created_after, filters.created_before)


async def small_set_vector_search(
    connection: AsyncConnection,
    filters: SearchFilters,
    embedding: list[float],
    top_k: int,
    max_rows: int | None,
) -> list[SearchHit] | None:
    """The ``top_k`` nearest memories of the filtered set by exact cosine distance, or None
    when the set holds more than ``max_rows`` memories (nothing of it is then read); with
    ``max_rows`` None, the exact ranking of however many there are."""
    params: dict[str, Any] = {**filters.params(), "embedding": embedding, "top_k": top_k}
    if max_rows is not None:
        params["max_rows"] = max_rows
    statement = _small_set_statement(filters.shape(), capped=max_rows is not None)
    rows = (await connection.execute(statement, params)).all()
    if not rows or rows[0].too_many:
        return None
    return [_hit(row[1:-1], row.distance) for row in rows if row.memory_id is not None]


async def index_vector_search(
    connection: AsyncConnection, filters: SearchFilters, embedding: list[float], top_k: int
) -> list[SearchHit]:
    """The ``top_k`` nearest memories of a large filtered set, through the HNSW index.

    ``connection`` must hold ``INDEX_SCAN_SETTINGS`` of app.store.search for its session (the
    candidate list, the iterative scan that keeps filtered walks from ending short, and sorting
    off so that the planner walks the index even on statistics that call the set small).
    """
    params: dict[str, Any] = {**filters.params(), "embedding": embedding, "top_k": top_k}
    rows = (await connection.execute(_index_statement(filters.shape()), params)).all()
    return [_hit(row[:-1], row.distance) for row in rows]


def _hit(values: Sequence[Any], distance: float) -> SearchHit:
    """A vector-only hit: the memory of the read ``values`` at cosine ``distance``."""
    from app.store.search import SearchHit

    similarity = 1.0 - float(distance)
    return SearchHit(
        memory=_loaded_memory(values), similarity=similarity, text_rank=None, fused_score=similarity
    )


def _loaded_memory(values: Sequence[Any]) -> Memory:
    """A Memory holding the read values, as the ORM fills one it loads (17 us per object through
    the constructor's attribute events, 1.3 us this way); read-only, in no session."""
    memory: Memory = _MANAGER.new_instance()
    instance_state(memory).dict.update(zip(_ATTRIBUTES, values, strict=True))
    return memory


def _ranked(filters: SearchFilters, *, exact: bool, extra: Sequence[Any] = ()) -> Subquery:
    """The ids and distances of the ``top_k`` nearest memories of the filtered set, ranked as
    app.store.search ranks a vector list (exactly, or by walking the index)."""
    from app.store.search import rank_key

    # The vector arrives as real[] (binary on the wire) and becomes a vector in the database.
    query = cast(cast(bindparam("embedding"), ARRAY(REAL)), Memory.embedding.type)
    distance = Memory.embedding.cosine_distance(query)
    return (
        select(Memory.memory_id.label("memory_id"), distance.label("distance"))
        .where(*filters.bound_clauses(), Memory.embedding.is_not(None), *extra)
        .order_by(rank_key(distance, exact))
        .limit(bindparam("top_k", type_=Integer))
        .subquery("ranked")
    )


def _found(ranked: Subquery) -> ColumnElement[bool]:
    """The memory row of a ranked id (the primary key: workspace, memory id)."""
    return and_(Memory.workspace_id == bindparam("f_workspace_id"), Memory.memory_id == ranked.c.memory_id)


@lru_cache(maxsize=64)
def _index_statement(shape: tuple[bool, ...]) -> Select[Any]:
    """The memories found by walking the index, best first. relaxed_order may return them a
    little out of order, so the few found are sorted again."""
    from app.store.search import SearchFilters

    ranked = _ranked(SearchFilters.of_shape(shape), exact=False)
    return (
        select(*_COLUMNS, ranked.c.distance)
        .select_from(ranked.join(Memory, _found(ranked)))
        .order_by(ranked.c.distance, Memory.memory_id)
    )


@lru_cache(maxsize=128)
def _small_set_statement(shape: tuple[bool, ...], *, capped: bool) -> Select[Any]:
    """One row per memory found, best first, each saying whether the set was too large; one
    row with ``too_many`` and no memory when it was (or nothing matched). Uncapped, the set is
    never too large."""
    from app.store.search import SearchFilters, more_than, scan_choice_clauses

    filters = SearchFilters.of_shape(shape)
    # Counted as app.store.search's scan choice counts, so both choose alike.
    bound = scan_choice_clauses(
        bool(filters.memory_type), filters.created_after is not None, filters.created_before is not None
    )
    too_many = more_than(bound, bindparam("max_rows", type_=Integer)) if capped else false()
    ranked = _ranked(filters, exact=True, extra=[~too_many])
    one = select(literal(1)).subquery("one")
    return (
        select(too_many.label("too_many"), *_COLUMNS, ranked.c.distance)
        .select_from(one.outerjoin(ranked, true()).outerjoin(Memory, _found(ranked)))
        .order_by(ranked.c.distance, Memory.memory_id)
    )
