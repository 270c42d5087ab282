"""recall@10 of the service's indexed search against exact search, under filters.

The indexed side is the real thing: ``POST /v1/workspaces/{ws}/search`` (top_k=10). The exact
side is the same filter in SQL with index scans switched off (``SET LOCAL enable_indexscan =
off``), so PostgreSQL computes every distance in the filtered set and sorts. Templates make
duplicate texts (equal distances), so a hit counts when its distance is within the exact
10th distance (+1e-6), not only when its id matches.

    python -m benchmarks.bench_recall [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np

from benchmarks import datagen
from benchmarks.bench_load import LoadPlan, label, populate, workspace
from benchmarks.bench_sql_floor import connect
from benchmarks.common import Bench, add_common_args, bench_from_args, log, write_results
from benchmarks.embed_server import HashedEmbedder

K = 10
AFTER = datetime(2025, 3, 1, tzinfo=UTC)
BEFORE = datetime(2025, 11, 1, tzinfo=UTC)
FILTER_SETS: dict[str, dict[str, Any]] = {
    "workspace": {},
    "workspace + type": {"memory_type": "task"},
    "workspace + type + time": {
        "memory_type": "task",
        "created_after": AFTER.isoformat(),
        "created_before": BEFORE.isoformat(),
    },
}


def exact_sql(filters: dict[str, Any]) -> str:
    clauses = ["workspace_id = $1", "embedding IS NOT NULL"]
    if "memory_type" in filters:
        clauses.append("memory_type = 'task'")
    if "created_after" in filters:
        clauses += ["time_created >= $3", "time_created < $4"]
    return (
        "SELECT memory_id, embedding <=> $2 AS distance FROM memory WHERE "
        + " AND ".join(clauses)
        + f" ORDER BY embedding <=> $2, memory_id LIMIT {K}"
    )


async def exact_top(bench: Bench, ws: str, vectors: np.ndarray, filters: dict[str, Any]) -> list[list[float]]:
    connection = await connect(bench)
    sql = exact_sql(filters)
    out: list[list[float]] = []
    try:
        for vector in vectors:
            args: list[Any] = [ws, vector]
            if "created_after" in filters:
                args += [AFTER, BEFORE]
            async with connection.transaction():
                await connection.execute("SET LOCAL enable_indexscan = off")
                rows = await connection.fetch(sql, *args)
            out.append([float(r["distance"]) for r in rows])
    finally:
        await connection.close()
    return out


def indexed_top(bench: Bench, ws: str, texts: list[str], filters: dict[str, Any]) -> list[list[float]]:
    assert bench.ours is not None
    out: list[list[float]] = []
    with httpx.Client(base_url=bench.ours.base_url, timeout=60) as client:
        for text in texts:
            response = client.post(f"/v1/workspaces/{ws}/search", json={"query": text, "top_k": K, **filters})
            response.raise_for_status()
            out.append([1.0 - float(item["similarity"]) for item in response.json()["items"]])
    return out


def recall(indexed: list[list[float]], exact: list[list[float]]) -> dict[str, Any]:
    per_query = []
    short = 0
    for got, want in zip(indexed, exact, strict=True):
        if not want:
            continue
        bound = want[-1] + 1e-6
        per_query.append(min(K, sum(1 for d in got if d <= bound)) / min(K, len(want)))
        short += len(got) < len(want)
    values = np.asarray(per_query)
    return {
        "recall_at_10": round(float(values.mean()), 4),
        "min": round(float(values.min()), 2),
        "queries": len(values),
        "short_answers": short,
    }


MINILM_TABLE = "bench_recall_minilm"


async def minilm_recall(
    bench: Bench, sizes: tuple[int, int] = (5000, 15000), queries: int = 60
) -> list[dict[str, Any]]:
    """The same recall measure on real sentence embeddings (the bundled all-MiniLM-L6-v2).

    The stand-in's hashed bags of words are far more clustered than real embeddings (many
    near-equal distances), which is hard on any HNSW graph. This builds a scratch table in the
    same database with the same index parameters as the migration (m=16, ef_construction=64,
    built after loading), two workspaces, and measures workspace + type filtered recall@10.
    """
    from app.providers.embeddings import LocalEmbedder
    from app.settings import EmbeddingSettings
    from app.store.search import EF_SEARCH_MIN

    model = LocalEmbedder(EmbeddingSettings())
    connection = await connect(bench)
    rows: list[dict[str, Any]] = []
    try:
        await connection.execute(
            f"DROP TABLE IF EXISTS {MINILM_TABLE};"
            f" CREATE TABLE {MINILM_TABLE} (ws text, memory_type text, embedding vector(384))"
        )
        records: list[tuple[str, str, np.ndarray]] = []
        for ws, count in zip(("small", "large"), sizes, strict=True):
            memories = list(datagen.generate(f"minilm-{ws}", count))
            vectors = await model.embed([m["when_to_use"] + " " + m["content"] for m in memories])
            records += [
                (ws, m["memory_type"], np.asarray(v, dtype=np.float32))
                for m, v in zip(memories, vectors, strict=True)
            ]
        await connection.copy_records_to_table(MINILM_TABLE, records=records)
        await connection.execute(
            f"CREATE INDEX ON {MINILM_TABLE} USING hnsw (embedding vector_cosine_ops)"
            f" WITH (m = 16, ef_construction = 64); ANALYZE {MINILM_TABLE}"
        )
        texts = datagen.queries(queries, seed=33)
        vectors = [np.asarray(v, dtype=np.float32) for v in await model.embed(texts)]
        sql = (
            f"SELECT embedding <=> $2 AS distance FROM {MINILM_TABLE} WHERE ws = $1 AND memory_type = 'task'"
            f" ORDER BY embedding <=> $2 LIMIT {K}"
        )
        for ws, count in zip(("small", "large"), sizes, strict=True):
            exact = []
            for vector in vectors:
                async with connection.transaction():
                    await connection.execute("SET LOCAL enable_indexscan = off")
                    exact.append([float(r["distance"]) for r in await connection.fetch(sql, ws, vector)])
            for ef in sorted({40, EF_SEARCH_MIN}):
                found = []
                for vector in vectors:
                    async with connection.transaction():
                        await connection.execute(
                            f"SET LOCAL hnsw.ef_search = {ef}; SET LOCAL hnsw.iterative_scan = relaxed_order"
                        )
                        found.append([float(r["distance"]) for r in await connection.fetch(sql, ws, vector)])
                row = {
                    "embeddings": "all-MiniLM-L6-v2",
                    "size": count,
                    "of_total": sum(sizes),
                    "ef_search": ef,
                }
                rows.append({**row, "filters": "workspace + type", **recall(found, exact)})
                value = rows[-1]["recall_at_10"]
                log(f"recall MiniLM {label(count)} of {label(sum(sizes))}, ef {ef}: {value}")
        await connection.execute(f"DROP TABLE {MINILM_TABLE}")
    finally:
        await connection.close()
    return rows


def run(bench: Bench, sizes: list[int], queries: int) -> list[dict[str, Any]]:
    texts = datagen.queries(queries, seed=33)
    vectors = HashedEmbedder(bench.dim).embed(texts)
    rows: list[dict[str, Any]] = []
    for size in sizes:
        ws = workspace(size)
        for name, filters in FILTER_SETS.items():
            indexed = indexed_top(bench, ws, texts, filters)
            exact = asyncio.run(exact_top(bench, ws, vectors, filters))
            rows.append({"size": size, "filters": name, **recall(indexed, exact)})
            log(f"recall {label(size)} {name}: {rows[-1]['recall_at_10']}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--no-minilm", action="store_true", help="skip the real-embedding check")
    args = parser.parse_args()
    args.no_peer = True
    plan = LoadPlan.quick() if args.quick else LoadPlan()
    plan.peer = []
    with bench_from_args(args) as bench:
        populate(bench, plan)
        rows = run(bench, plan.ours, 30 if args.quick else args.queries)
        minilm = [] if args.no_minilm else asyncio.run(minilm_recall(bench))
    write_results("recall", {"recall": rows, "recall_minilm": minilm}, args.out)


if __name__ == "__main__":
    main()
