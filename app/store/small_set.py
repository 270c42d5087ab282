"""Vector search of a small filtered set in one statement, outside any transaction.

Most searches are of one workspace's memories of one type, and most workspaces are small
(up to ``EXACT_SCAN_MAX_ROWS``): app.store.search ranks them exactly, by a top-N sort of every
vector of the set. Through the ORM in a read transaction that is four round trips (BEGIN,
the scan choice, the search, COMMIT) and an ORM statement built and loaded per request.
Here it is one statement on a connection in autocommit (a lone statement is its own
transaction): the capped count that chooses the scan and the exact ranking together, the
rows read as plain tuples. Measured on 700-memory workspaces, in process: 3.73 ms through the
ORM path, 1.96 ms this way (docs/benchmarks.md).

When the count says the set is large, the statement returns no memory and the caller searches
the index as before; the answer is never different, only how it is found. A large set is
remembered for a while so that its searches go straight to the index.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import REAL, Integer, Select, and_, bindparam, cast, literal, select, true
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
    connection: AsyncConnection, filters: SearchFilters, embedding: list[float], top_k: int, max_rows: int
) -> list[SearchHit] | None:
    """The ``top_k`` nearest memories of the filtered set by exact cosine distance, or None
    when the set holds more than ``max_rows`` memories (nothing of it is then read)."""
    from app.store.search import SearchHit

    params: dict[str, Any] = {
        **filters.params(),
        "embedding": embedding,
        "top_k": top_k,
        "max_rows": max_rows,
    }
    rows = (await connection.execute(_statement(filters.shape()), params)).all()
    if not rows or rows[0].too_many:
        return None
    hits = []
    for row in rows:
        if row.memory_id is None:
            continue
        memory = _loaded_memory(row[1:-1])
        similarity = 1.0 - float(row.distance)
        hits.append(SearchHit(memory=memory, similarity=similarity, text_rank=None, fused_score=similarity))
    return hits


def _loaded_memory(values: Sequence[Any]) -> Memory:
    """A Memory holding the read values, as the ORM fills one it loads (17 us per object through
    the constructor's attribute events, 1.3 us this way); read-only, in no session."""
    memory: Memory = _MANAGER.new_instance()
    instance_state(memory).dict.update(zip(_ATTRIBUTES, values, strict=True))
    return memory


@lru_cache(maxsize=64)
def _statement(shape: tuple[bool, ...]) -> Select[Any]:
    """One row per memory found, best first, each saying whether the set was too large; one
    row with ``too_many`` and no memory when it was (or nothing matched)."""
    from app.store.search import SearchFilters, more_than, scan_choice_clauses

    filters = SearchFilters.of_shape(shape)
    # Counted as app.store.search's scan choice counts, so both choose alike.
    bound = scan_choice_clauses(
        bool(filters.memory_type), filters.created_after is not None, filters.created_before is not None
    )
    too_many = more_than(bound, bindparam("max_rows", type_=Integer))
    # The vector arrives as real[] (binary on the wire) and becomes a vector in the database.
    query = cast(cast(bindparam("embedding"), ARRAY(REAL)), Memory.embedding.type)
    distance = Memory.embedding.cosine_distance(query)
    ranked = (
        select(Memory.memory_id.label("memory_id"), distance.label("distance"))
        .where(*filters.bound_clauses(), Memory.embedding.is_not(None), ~too_many)
        # "+ 0": not index-orderable, so PostgreSQL filters first and sorts the few rows.
        .order_by(distance + 0.0)
        .limit(bindparam("top_k", type_=Integer))
        .subquery("ranked")
    )
    found = and_(Memory.workspace_id == bindparam("f_workspace_id"), Memory.memory_id == ranked.c.memory_id)
    one = select(literal(1)).subquery("one")
    return (
        select(too_many.label("too_many"), *_COLUMNS, ranked.c.distance)
        .select_from(one.outerjoin(ranked, true()).outerjoin(Memory, found))
        .order_by(ranked.c.distance, Memory.memory_id)
    )
