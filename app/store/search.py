"""Memory search as one SQL statement: vector, full-text, or both fused by reciprocal rank.

Filters (workspace, type, target, time ranges, score, metadata containment) apply inside
every ranked list, and pgvector's iterative index scan keeps filtered HNSW scans from
returning fewer rows than asked for.

A small filtered set (a small workspace in a large table) is searched exactly instead: the
HNSW graph holds every workspace's rows, so a selective filter makes the index walk past
hundreds of foreign rows per hit, while a top-N sort over a few thousand rows is faster and
exact (docs/benchmarks.md has the measurements).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, Protocol

from sqlalchemy import ColumnElement, Select, Text, and_, bindparam, case, cast, func, literal, select, union
from sqlalchemy.dialects.postgresql import REGCONFIG, TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from app.db import Database
from app.errors import InvalidInput
from app.models import Memory
from app.store.exact_search import TextRanking, exact_hybrid
from app.store.people import MAX_TARGETS, names_in, people_params, targets_subquery
from app.store.vector_search import index_vector_search, known_large, remember_large, small_set_vector_search

SearchMode = Literal["vector", "text", "hybrid"]

# Reciprocal rank fusion constant (Cormack et al.); larger flattens the rank curve.
RRF_K = 60
# Each ranked list fetches this many candidates per requested result before fusion.
FUSION_DEPTH = 4
# Filtered sets up to this many rows are ranked exactly (top-N sort) rather than by HNSW.
EXACT_SCAN_MAX_ROWS = 2000
# Words of a query that text search reads (hybrid and text modes); more is a 400.
MAX_TEXT_QUERY_WORDS = 1000
# HNSW candidate list floor (pgvector's default is 40): recall rises more than latency does.
EF_SEARCH_MIN = 100
# What _scan_statement sets for a vector search of a large set whose filters the count covers
# and whose depth fits EF_SEARCH_MIN; held by the sessions of app.store.vector_search's index search.
INDEX_SCAN_SETTINGS = {
    "hnsw.ef_search": str(EF_SEARCH_MIN),
    "hnsw.iterative_scan": "relaxed_order",
    "enable_sort": "off",
}


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

    @classmethod
    def of_shape(cls, shape: tuple[bool, ...]) -> SearchFilters:
        """Filters with placeholder values, of the given :meth:`shape` (to build statements)."""
        memory_type, target, min_score, after, before, event_after, event_before, metadata = shape
        moment = datetime(2000, 1, 1)
        return cls(
            workspace_id="",
            memory_type="x" if memory_type else None,
            target="" if target else None,
            min_score=0.0 if min_score else None,
            created_after=moment if after else None,
            created_before=moment if before else None,
            event_after=moment if event_after else None,
            event_before=moment if event_before else None,
            metadata={"x": 1} if metadata else {},
        )

    def shape(self) -> tuple[bool, ...]:
        """Which filters are given: statements built from :meth:`bound_clauses` differ by this only."""
        return (
            bool(self.memory_type),
            self.target is not None,
            self.min_score is not None,
            self.created_after is not None,
            self.created_before is not None,
            self.event_after is not None,
            self.event_before is not None,
            bool(self.metadata),
        )

    def bound_clauses(self) -> list[ColumnElement[bool]]:
        """The same filters as :meth:`clauses`, with their values left to :meth:`params`.

        A statement built from these is the same for every request of one :meth:`shape`, so it
        can be built (and compiled) once and run with each request's values.
        """
        return self._conditions(_placeholder)

    def params(self) -> dict[str, Any]:
        """The values of :meth:`bound_clauses`."""
        values = {
            "f_workspace_id": self.workspace_id,
            "f_memory_type": self.memory_type or None,
            "f_target": self.target,
            "f_min_score": self.min_score,
            "f_created_after": self.created_after,
            "f_created_before": self.created_before,
            "f_event_after": self.event_after,
            "f_event_before": self.event_before,
            "f_metadata": self.metadata or None,
        }
        return {name: value for name, value in values.items() if value is not None}

    def clauses(self) -> list[ColumnElement[bool]]:
        """The filters as SQL conditions carrying this request's values."""
        return self._conditions(_value)

    def _conditions(self, bind: _Bind) -> list[ColumnElement[bool]]:
        """The conditions of the given filters; ``bind`` makes each value (itself, or a named
        parameter of :meth:`params`)."""
        out: list[ColumnElement[bool]] = [Memory.workspace_id == bind("f_workspace_id", self.workspace_id)]
        if self.memory_type:
            out.append(Memory.memory_type == bind("f_memory_type", self.memory_type))
        if self.target is not None:
            out.append(Memory.target == bind("f_target", self.target))
        if self.min_score is not None:
            out.append(Memory.score >= bind("f_min_score", self.min_score))
        if self.created_after is not None:
            out.append(Memory.time_created >= bind("f_created_after", self.created_after))
        if self.created_before is not None:
            out.append(Memory.time_created < bind("f_created_before", self.created_before))
        if self.event_after is not None:
            out.append(Memory.event_time >= bind("f_event_after", self.event_after))
        if self.event_before is not None:
            out.append(Memory.event_time < bind("f_event_before", self.event_before))
        if self.metadata:
            # JSONB containment: only equality of given keys, never an operator from the caller.
            out.append(Memory.metadata_.contains(bind("f_metadata", self.metadata, Memory.metadata_.type)))
        return out


class _Bind(Protocol):
    def __call__(self, name: str, value: Any, type_: Any = None) -> Any: ...


def _value(name: str, value: Any, type_: Any = None) -> Any:
    """A filter's own value, bound by the comparison it is in."""
    return value


def _placeholder(name: str, value: Any, type_: Any = None) -> Any:
    """A named parameter in place of a filter's value (see ``SearchFilters.params``)."""
    return bindparam(name, type_=type_)


@dataclass
class SearchRequest:
    filters: SearchFilters
    top_k: int = 5
    mode: SearchMode = "vector"
    embedding: list[float] | None = None
    text: str = ""
    # Memories whose event_time falls in this range get their own ranked list in the fusion.
    boost_event_range: tuple[datetime, datetime] | None = None
    # Look for known targets (people) named in ``text``: their memories get ranked lists of
    # their own in the fusion (app.store.people). Only without a target filter.
    find_people: bool = False
    # The text list of ``text`` under these filters at depth ``top_k * FUSION_DEPTH``, ranked
    # ahead (app.store.exact_search.rank_text_exactly); used where the set is ranked exactly.
    text_ranking: TextRanking | None = None


@dataclass
class SearchHit:
    memory: Memory
    similarity: float | None
    text_rank: float | None
    fused_score: float


async def search(db: Database, request: SearchRequest) -> list[SearchHit]:
    """Run one search on its own connection.

    A vector search is one statement without a transaction where it can be
    (app.store.vector_search): exact for a small filtered set, through the index for a set known
    to be large. Every other search is :func:`search_memories` in a read transaction.
    """
    if _one_statement(request) and not db.citus:
        assert request.embedding is not None
        filters = request.filters
        if not known_large(filters):
            async with db.read_autocommit() as connection:
                hits = await small_set_vector_search(
                    connection, filters, request.embedding, request.top_k, EXACT_SCAN_MAX_ROWS
                )
            if hits is not None:
                return hits
            remember_large(filters)
        if _covered(filters) and request.top_k * FUSION_DEPTH <= EF_SEARCH_MIN:
            async with db.read_autocommit(INDEX_SCAN_SETTINGS) as connection:
                hits = await index_vector_search(connection, filters, request.embedding, request.top_k)
                if len(hits) < request.top_k:
                    # The walk ended short (see _vector_only): rank the set exactly.
                    exact = await small_set_vector_search(
                        connection, filters, request.embedding, request.top_k, max_rows=None
                    )
                    hits = exact or []
            return hits
    async with db.read_session() as session:
        return await search_memories(session, request, ends_transaction=True)


def _one_statement(request: SearchRequest) -> bool:
    """A vector search (no words to rank, no time range to lift) that asks for something."""
    vector = request.mode == "vector" or (request.mode == "hybrid" and not request.text.strip())
    asks = request.embedding is not None and request.top_k > 0
    return vector and asks and request.boost_event_range is None


def _covered(filters: SearchFilters) -> bool:
    """Whether the filters are all ones the scan choice counts under (see :func:`scan_choice_clauses`)."""
    return (
        filters.target is None
        and filters.min_score is None
        and filters.event_after is None
        and filters.event_before is None
        and not filters.metadata
    )


async def search_memories(
    session: AsyncSession, request: SearchRequest, *, ends_transaction: bool = False
) -> list[SearchHit]:
    """Run one search; ``similarity`` is cosine similarity, never written to ``score``.

    The search may turn off sorting for the planner of its transaction, and turns it on
    again after; ``ends_transaction`` (the caller commits right after) saves that round trip.
    """
    if request.top_k <= 0:
        return []
    use_vector = request.mode in ("vector", "hybrid") and request.embedding is not None
    use_text = request.mode in ("text", "hybrid") and bool(request.text.strip())
    if not use_vector and not use_text:
        return []
    if use_text:
        check_text_length(request.text)
    find_people = request.find_people and request.filters.target is None and bool(request.text.strip())
    scan = await _prepare_scan(
        session, request, request.top_k * FUSION_DEPTH, vector=use_vector, targets=find_people
    )
    people = names_in(request.text, scan.targets) if scan.targets else []
    if use_vector and use_text and scan.exact:
        rows = await exact_hybrid(
            session,
            filters=request.filters,
            top_k=request.top_k,
            depth=request.top_k * FUSION_DEPTH,
            embedding=request.embedding if use_vector else None,
            text=request.text,
            people=people,
            time_range=request.boost_event_range,
            text_ranking=request.text_ranking,
        )
        hits = [SearchHit(m, similarity, text_rank, fused) for m, similarity, text_rank, fused in rows]
    elif use_vector and not use_text and request.boost_event_range is None:
        hits = await _vector_only(session, request, scan.exact)
    else:
        hits = await _fused(session, request, use_vector=use_vector, use_text=use_text, exact=scan.exact)
    if scan.sort_disabled and not ends_transaction:
        # Later statements of the caller's transaction plan normally again.
        await session.execute(select(func.set_config("enable_sort", "on", True)))
    return hits


def check_text_length(text: str) -> None:
    """A 400 for a text query too long for PostgreSQL's full-text parser."""
    # PostgreSQL builds a tsquery as a tree as deep as its words; far past this it overflows.
    # "or" is web-search syntax (the personal flow joins words with it), not a word.
    words = sum(1 for word in text.split() if word.lower() != "or")
    if words > MAX_TEXT_QUERY_WORDS:
        message = f"query has {words} words; text and hybrid search take at most {MAX_TEXT_QUERY_WORDS}"
        raise InvalidInput(message, errors=[{"loc": ["body", "query"], "msg": message}])


@dataclass
class _Scan:
    exact: bool
    sort_disabled: bool = False
    # The workspace's known targets (app.store.people), when asked for and the set is small.
    targets: list[str] | None = None


async def _prepare_scan(
    session: AsyncSession, request: SearchRequest, depth: int, *, vector: bool, targets: bool = False
) -> _Scan:
    """Set this transaction's index-scan options and choose exact or indexed ranking.

    One round trip: the settings, a count of the filtered set (capped, from the index alone)
    and, with ``targets`` and a small set, the workspace's known targets share a SELECT. A small
    set is ranked exactly: cosine by a top-N sort, text by BM25.
    """
    filters = request.filters
    covered = vector and _covered(filters)
    stmt = _scan_statement(
        bool(filters.memory_type),
        filters.created_after is not None,
        filters.created_before is not None,
        covered=covered,
        targets=targets,
    )
    params = {
        "ef_search": str(min(max(EF_SEARCH_MIN, depth), 1000)),
        **{k: v for k, v in filters.params().items() if k in _SCAN_FILTERS},
    }
    if targets:
        params.update(people_params(filters.workspace_id))
    row = (await session.execute(stmt, params)).one()
    exact = int(row.n) <= EXACT_SCAN_MAX_ROWS
    found = None
    if targets and exact:
        found = sorted(str(name) for name in row.targets or [])
        found = [] if len(found) > MAX_TARGETS else found
    return _Scan(exact=exact, sort_disabled=covered and not exact, targets=found)


# The filters the (workspace, type, created) index answers.
_SCAN_FILTERS = {"f_workspace_id", "f_memory_type", "f_created_after", "f_created_before"}


def scan_choice_clauses(
    memory_type: bool, created_after: bool, created_before: bool
) -> list[ColumnElement[bool]]:
    """The filters the (workspace, type, created) index answers, with :meth:`SearchFilters.params`
    names: counted under these, the filtered set has an upper bound read without visiting rows.
    The choice between exact and indexed ranking counts under these and nothing else."""
    bound = [Memory.workspace_id == bindparam("f_workspace_id")]
    if memory_type:
        bound.append(Memory.memory_type == bindparam("f_memory_type"))
    if created_after:
        bound.append(Memory.time_created >= bindparam("f_created_after"))
    if created_before:
        bound.append(Memory.time_created < bindparam("f_created_before"))
    return bound


def more_than(clauses: list[ColumnElement[bool]], max_rows: Any) -> ColumnElement[bool]:
    """Whether the rows under ``clauses`` are more than ``max_rows`` (counting at most one more)."""
    capped = select(literal(1)).select_from(Memory).where(*clauses).limit(max_rows + 1).subquery()
    return select(func.count()).select_from(capped).scalar_subquery() > max_rows


@lru_cache(maxsize=64)
def _scan_statement(
    memory_type: bool, created_after: bool, created_before: bool, *, covered: bool, targets: bool
) -> Select[Any]:
    # plan_cache_mode is set on every pooled connection (app.db).
    settings = [
        func.set_config("hnsw.ef_search", bindparam("ef_search", type_=Text), True),
        func.set_config("hnsw.iterative_scan", "relaxed_order", True),
    ]
    bound = scan_choice_clauses(memory_type, created_after, created_before)
    capped = select(literal(1)).select_from(Memory).where(*bound).limit(EXACT_SCAN_MAX_ROWS + 1).subquery()
    counted = select(func.count().label("n")).select_from(capped).subquery("counted")
    large = counted.c.n > EXACT_SCAN_MAX_ROWS
    if covered:
        # The count is then the filtered set itself: when it is large, walking the HNSW index
        # is right even if the planner, on statistics from before a bulk load, thinks the
        # workspace holds one row and would sort them all (30 ms at 10k instead of 1).
        settings.append(func.set_config("enable_sort", case((large, "off"), else_="on"), True))
    columns: list[Any] = [*settings, counted.c.n]
    if targets:
        # Read only for a small set (an uncorrelated subquery in CASE runs only when needed).
        columns.append(case((counted.c.n <= EXACT_SCAN_MAX_ROWS, targets_subquery())).label("targets"))
    return select(*columns).select_from(counted)


def rank_key(distance: ColumnElement[Any], exact: bool) -> ColumnElement[Any]:
    """The ORDER BY of a vector list: ``distance + 0`` is not index-orderable, so PostgreSQL
    filters first and sorts the few rows left; the bare distance lets it walk the HNSW index."""
    return distance + 0.0 if exact else distance


async def _vector_only(session: AsyncSession, request: SearchRequest, exact: bool) -> list[SearchHit]:
    hits = await _ranked_by_vector(session, request, exact)
    if len(hits) < request.top_k and not exact:
        # The index walk ended short of top_k although the set is large: the query fell where
        # the graph holds other workspaces' memories, beyond what an iterative scan visits
        # (hnsw.max_scan_tuples), or in a part of the graph the set's rows cannot be reached
        # from. Ranking the set exactly is slower but finds what is there.
        hits = await _ranked_by_vector(session, request, exact=True)
    return hits


async def _ranked_by_vector(session: AsyncSession, request: SearchRequest, exact: bool) -> list[SearchHit]:
    raw_distance = Memory.embedding.cosine_distance(request.embedding)
    distance = raw_distance.label("distance")
    # relaxed_order may return index rows slightly out of order: sort the few found again.
    inner = (
        select(Memory.memory_id, distance)
        .where(*request.filters.clauses(), Memory.embedding.is_not(None))
        .order_by(rank_key(raw_distance, exact))
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


def _ranked_vector(
    request: SearchRequest, depth: int, extra: list[ColumnElement[bool]], exact: bool
) -> Select:
    distance = Memory.embedding.cosine_distance(request.embedding)
    inner = (
        select(Memory.memory_id.label("memory_id"), distance.label("distance"))
        .where(*request.filters.clauses(), Memory.embedding.is_not(None), *extra)
        .order_by(rank_key(distance, exact))
        .limit(depth)
        .subquery()
    )
    return select(
        inner.c.memory_id,
        inner.c.distance,
        func.row_number().over(order_by=inner.c.distance).label("rank"),
    )


TEXT_CONFIG = literal("english", REGCONFIG)  # typed: there is no (varchar, varchar) variant


def _ranked_text(request: SearchRequest, depth: int) -> Select:
    """Memories holding every word of the query (web-search syntax: "phrases", or, -word).

    Selective, so the GIN index finds few rows however large the workspace is.
    """
    query = func.websearch_to_tsquery(TEXT_CONFIG, request.text)
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
        literal(1.0).label("weight"),
        func.row_number().over(order_by=inner.c.text_rank.desc()).label("rank"),
    )


def _ranked_partial_text(request: SearchRequest, vector_list: Any) -> Select:
    """The vector list's memories that hold some word of the query, by text rank, at half weight.

    A long natural-language question rarely has every word in one memory, so the every-word
    list is often empty; matching any word across the whole workspace would rank most of it
    (common words), so partial matches only re-rank what the vector search found.
    """
    # plainto_tsquery's text form joins the normalised words with AND; OR them instead.
    every_word = cast(func.plainto_tsquery(TEXT_CONFIG, request.text), Text)
    any_word = cast(func.replace(every_word, " & ", " | "), TSQUERY)
    rank = func.ts_rank_cd(Memory.search_text, any_word)
    inner = (
        select(Memory.memory_id.label("memory_id"), rank.label("text_rank"))
        .join(
            vector_list,
            and_(
                Memory.workspace_id == request.filters.workspace_id,
                Memory.memory_id == vector_list.c.memory_id,
            ),
        )
        .where(Memory.search_text.op("@@")(any_word))
        .subquery()
    )
    return select(
        inner.c.memory_id,
        inner.c.text_rank,
        literal(0.5).label("weight"),
        func.row_number().over(order_by=inner.c.text_rank.desc()).label("rank"),
    )


async def _fused(
    session: AsyncSession, request: SearchRequest, *, use_vector: bool, use_text: bool, exact: bool
) -> list[SearchHit]:
    depth = request.top_k * FUSION_DEPTH
    lists: list[tuple[str, Any]] = []
    if use_vector:
        lists.append(("v", _ranked_vector(request, depth, [], exact).cte("v")))
    if use_text:
        lists.append(("t", _ranked_text(request, depth).cte("t")))
        if use_vector:
            lists.append(("p", _ranked_partial_text(request, lists[0][1]).cte("p")))
    if request.boost_event_range is not None and request.embedding is not None:
        start, end = request.boost_event_range
        window = [Memory.event_time >= start, Memory.event_time < end]
        lists.append(("e", _ranked_vector(request, depth, window, exact).cte("e")))

    # One UNION of every list (chained .union() fails from the third list on).
    candidates = union(*(select(cte.c.memory_id) for _, cte in lists)).subquery("candidates")

    fused: ColumnElement[Any] = literal(0.0)
    stmt_cols: list[Any] = [Memory]
    joins = []
    text_ranks = []
    for name, cte in lists:
        weight = cte.c.weight if name in ("t", "p") else 1.0
        fused = fused + func.coalesce(weight / (RRF_K + cte.c.rank), 0.0)
        joins.append(cte)
        if name in ("t", "p"):
            text_ranks.append(cte.c.text_rank)
    if text_ranks:
        stmt_cols.append(func.coalesce(*text_ranks).label("text_rank"))
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
