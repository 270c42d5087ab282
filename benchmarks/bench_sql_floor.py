"""The physical floor, and the plans: what PostgreSQL itself needs for the same top-k search.

- ``floor``: one prepared statement over asyncpg on the unix socket (same filters, same
  pgvector settings as the service, the query vector computed in-process), p50/p95/p99.
- ``explain``: the statements ``app.store.search.search_memories`` really sends (captured from
  SQLAlchemy), run again under ``EXPLAIN (ANALYZE, BUFFERS)`` in the same transaction, for
  the vector, vector+time and hybrid shapes at each size.

    python -m benchmarks.bench_sql_floor [--quick]     # loads data itself when run alone
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pgvector.asyncpg import register_vector

from app.store.search import EF_SEARCH_MIN
from benchmarks import datagen
from benchmarks.bench_load import LoadPlan, label, populate, workspace
from benchmarks.common import Bench, add_common_args, bench_from_args, latency_summary, log, write_results
from benchmarks.embed_server import HashedEmbedder

TOP_K = 5
EF_SEARCH = max(EF_SEARCH_MIN, 4 * TOP_K)  # what app.store.search sets for this top_k

FLOOR_SQL = """
SELECT workspace_id, memory_id, memory_type, when_to_use, content, score, target, reflection_subject,
       author, metadata, freq, utility, event_time, time_created, time_modified,
       embedding <=> $2 AS distance
FROM memory
WHERE workspace_id = $1 AND memory_type = 'task' AND embedding IS NOT NULL
ORDER BY {order}
LIMIT $3
"""
# The service ranks small filtered sets exactly (app.store.search.EXACT_SCAN_MAX_ROWS): so does
# the floor, or it would measure a plan the service never runs.
INDEX_ORDER = "embedding <=> $2"
EXACT_ORDER = "(embedding <=> $2) + 0"
COUNT_SQL = (
    "SELECT count(*) FROM (SELECT 1 FROM memory WHERE workspace_id = $1 AND memory_type = 'task' LIMIT $2) s"
)

KEY_PLAN_LINE = re.compile(
    r"(Index Scan|Index Only Scan|Seq Scan|Bitmap|Sort|Limit|Execution Time|Planning Time|Rows Removed)"
)


async def connect(bench: Bench) -> asyncpg.Connection:
    assert bench.ours is not None
    connection = await asyncpg.connect(**bench.ours.dsn())
    await register_vector(connection)
    return connection


async def floor(bench: Bench, sizes: list[int], requests: int, warmup: int = 20) -> list[dict[str, Any]]:
    """The raw statement's latency at each size, on one connection, prepared once."""
    embedder = HashedEmbedder(bench.dim)
    vectors = embedder.embed(datagen.queries(requests + warmup, seed=21))
    connection = await connect(bench)
    rows: list[dict[str, Any]] = []
    try:
        # Session-level: the statement below is then exactly one round trip.
        await connection.execute(
            f"SET hnsw.ef_search = {EF_SEARCH}; SET hnsw.iterative_scan = relaxed_order;"
            " SET plan_cache_mode = force_custom_plan"
        )
        from app.store.search import EXACT_SCAN_MAX_ROWS

        by_index = await connection.prepare(FLOOR_SQL.format(order=INDEX_ORDER))
        exactly = await connection.prepare(FLOOR_SQL.format(order=EXACT_ORDER))
        for size in sizes:
            ws = workspace(size)
            exact = await connection.fetchval(COUNT_SQL, ws, EXACT_SCAN_MAX_ROWS + 1) <= EXACT_SCAN_MAX_ROWS
            statement = exactly if exact else by_index
            # As the service does for a large set: the index walk, whatever the statistics say.
            await connection.execute(f"SET enable_sort = {'on' if exact else 'off'}")
            samples: list[float] = []
            for index, vector in enumerate(vectors):
                started = time.perf_counter()
                found = await statement.fetch(ws, vector, TOP_K)
                if index >= warmup:
                    samples.append(time.perf_counter() - started)
                if len(found) != TOP_K:
                    raise RuntimeError(f"raw search returned {len(found)} rows in {ws}")
            scan = "exact" if exact else "hnsw"
            rows.append(
                {
                    "side": "raw SQL (asyncpg, prepared)",
                    "scan": scan,
                    "size": size,
                    **latency_summary(samples),
                }
            )
            log(f"floor {label(size)}: p50 {rows[-1]['p50_ms']} ms")
    finally:
        await connection.close()
    return rows


def _shapes(query: str, vector: list[float], ws: str) -> dict[str, Any]:
    from app.store.search import SearchFilters, SearchRequest

    after, before = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 11, 1, tzinfo=UTC)
    return {
        "vector (workspace, type)": SearchRequest(
            SearchFilters(ws, memory_type="task"), top_k=TOP_K, mode="vector", embedding=vector
        ),
        "vector (workspace, type, time)": SearchRequest(
            SearchFilters(ws, memory_type="task", created_after=after, created_before=before),
            top_k=TOP_K,
            mode="vector",
            embedding=vector,
        ),
        "hybrid (workspace, type)": SearchRequest(
            SearchFilters(ws, memory_type="task"), top_k=TOP_K, mode="hybrid", embedding=vector, text=query
        ),
    }


async def explain(bench: Bench, sizes: list[int]) -> list[dict[str, Any]]:
    """EXPLAIN (ANALYZE, BUFFERS) of each search shape, as the service sends it."""
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from app.store.search import search_memories

    dsn = bench.ours.dsn() if bench.ours else {}
    engine = create_async_engine(
        f"postgresql+asyncpg://postgres@/reme?host={dsn['host']}&port={dsn['port']}", pool_size=1
    )
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    query = datagen.queries(1, seed=5)[0]
    vector = HashedEmbedder(bench.dim).embed([query])[0].tolist()
    plans: list[dict[str, Any]] = []
    try:
        for size in sizes:
            for shape, request in _shapes(query, vector, workspace(size)).items():
                async with AsyncSession(engine) as session, session.begin():
                    start = len(captured)
                    await search_memories(session, request)
                    # The first statement sets the LOCAL options (and counts), the next one searches;
                    # replay the first so the plan is made under the same options.
                    (prepare, prepare_args), (statement, parameters) = captured[start : start + 2]
                    conn = await session.connection()
                    await conn.exec_driver_sql(prepare, prepare_args)
                    result = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                    lines = [str(row[0]) for row in result.all()]
                key = [line.strip() for line in lines if KEY_PLAN_LINE.search(line)]
                plans.append({"size": size, "shape": shape, "key_lines": key, "plan": lines})
                timing = next((k for k in key if k.startswith("Execution Time")), "")
                log(f"explain {label(size)} {shape}: {timing}")
    finally:
        await engine.dispose()
    return plans


def run(bench: Bench, plan: LoadPlan, requests: int) -> dict[str, Any]:
    return {
        "floor": asyncio.run(floor(bench, plan.ours, requests)),
        "explain": asyncio.run(explain(bench, plan.ours)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    args.no_peer = True
    plan = LoadPlan.quick() if args.quick else LoadPlan()
    plan.peer = []
    with bench_from_args(args) as bench:
        populate(bench, plan)
        results = run(bench, plan, 50 if args.quick else args.requests)
    write_results("sql_floor", results, args.out)
    for row in results["explain"]:
        print(f"\n## {label(row['size'])} {row['shape']}\n" + "\n".join(row["plan"]))


if __name__ == "__main__":
    main()
