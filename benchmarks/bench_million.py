"""The million-memory point: load rate, retrieval latency and memory use at one large size.

One workspace of ``--size`` memories (1,000,000 by default) is loaded with ``reme load``
(process start, parsing, embedding through the stand-in, the rows and then the vector index
all included; the rows-in and index times come from the command's summary line). Then, after
``VACUUM (ANALYZE)``, ``retrieve_task_memory_simple`` and ``/v1`` search (top_k 5) are timed
over HTTP, and the resident memory of the service and of PostgreSQL is read from ``/proc``.

    python -m benchmarks.bench_million [--size N] [--requests N]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks import datagen
from benchmarks.bench_load import settle
from benchmarks.bench_retrieval import TOP_K, _check_flow, _check_search, series
from benchmarks.common import (
    RESULTS_DIR,
    Bench,
    add_common_args,
    bench_from_args,
    latency_summary,
    log,
    write_results,
)

SUMMARY = re.compile(r"rows in after ([\d.]+) s(?:; vector index built in ([\d.]+) s)?")


def _kib(status: str, field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else 0


def process_memory(pid: int) -> dict[str, float]:
    """Resident and peak resident memory of one process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {
        "rss_mib": round(_kib(status, "VmRSS") / 1024, 1),
        "peak_rss_mib": round(_kib(status, "VmHWM") / 1024, 1),
    }


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(child) for child in children)
    return found


def postgres_memory(data_dir: Path) -> dict[str, float]:
    """PostgreSQL's postmaster and backends: summed PSS (shared buffers counted once) and RSS."""
    postmaster = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    pss = rss = 0
    pids = [postmaster, *_children(postmaster)]
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        pss += _kib(rollup, "Pss")
        rss += _kib(rollup, "Rss")
    return {"processes": len(pids), "pss_mib": round(pss / 1024, 1), "rss_sum_mib": round(rss / 1024, 1)}


def database_size(bench: Bench) -> dict[str, float]:
    import asyncio

    import asyncpg

    async def sizes() -> dict[str, float]:
        assert bench.ours is not None
        connection = await asyncpg.connect(**bench.ours.dsn())
        try:
            row = await connection.fetchrow(
                "SELECT pg_total_relation_size('memory') AS memory, "
                "pg_relation_size('ix_memory_embedding_hnsw') AS hnsw, "
                "pg_total_relation_size('memory_event') AS events, pg_database_size(current_database()) AS db"
            )
        finally:
            await connection.close()
        assert row is not None
        return {
            f"{key}_mib": round(int(row[key] or 0) / 2**20, 1) for key in ("memory", "hnsw", "events", "db")
        }

    return asyncio.run(sizes())


def load(bench: Bench, workspace_id: str, file: Path, size: int) -> dict[str, Any]:
    assert bench.ours is not None
    started = time.perf_counter()
    done = bench.ours.cli("load", workspace_id, str(file), log_name="reme-load")
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"reme load failed (see {bench.ours.workdir}/reme-load.log)")
    text = (bench.ours.workdir / "reme-load.log").read_text(errors="replace")
    match = SUMMARY.search(text)
    rows_in = float(match.group(1)) if match else None
    index = float(match.group(2)) if match and match.group(2) else None
    row = {
        "path": "reme load",
        "count": size,
        "seconds": round(seconds, 1),
        "per_s": round(size / seconds, 1),
        "rows_in_s": rows_in,
        "rows_in_per_s": round(size / rows_in, 1) if rows_in else None,
        "index_build_s": index,
        # The largest child this script waited for: the `reme load` process.
        "cli_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }
    log(f"reme load {size}: {seconds:.1f} s = {size / seconds:,.0f}/s (rows in {rows_in} s, index {index} s)")
    return row


def retrieval(bench: Bench, workspace_id: str, requests: int, warmup: int) -> list[dict[str, Any]]:
    assert bench.ours is not None
    texts = datagen.queries(requests + warmup, seed=21)
    rows: list[dict[str, Any]] = []
    with httpx.Client(base_url=bench.ours.base_url, timeout=120) as client:
        flow = [{"workspace_id": workspace_id, "query": q, "top_k": TOP_K} for q in texts]
        samples = series(client, "/retrieve_task_memory_simple", flow, _check_flow, warmup)
        rows.append({"route": "retrieve_task_memory_simple", **latency_summary(samples)})
        search = [{"query": q, "top_k": TOP_K, "memory_type": "task"} for q in texts]
        samples = series(client, f"/v1/workspaces/{workspace_id}/search", search, _check_search, warmup)
        rows.append({"route": "/v1 search", **latency_summary(samples)})
    for row in rows:
        log(f"{row['route']}: p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--size", type=int, default=1_000_000, help="memories in the workspace")
    parser.add_argument("--requests", type=int, default=300, help="counted requests per route")
    parser.add_argument(
        "--build-memory-mb",
        type=int,
        default=3072,
        help="REME_LOAD__INDEX_BUILD_MEMORY_MB: the HNSW graph of 1M x 384 dims needs about 2 GB in memory",
    )
    args = parser.parse_args()
    size = args.size
    workspace_id = "bench-million" if size == 1_000_000 else f"bench-{size}"
    bench = bench_from_args(args)
    bench.service_env = {"REME_LOAD__INDEX_BUILD_MEMORY_MB": str(args.build_memory_mb)}
    with bench:
        assert bench.ours is not None
        started = time.perf_counter()
        file = datagen.write_workspace_file(bench.files_dir, workspace_id, size)
        log(f"wrote {size:,} memories in {time.perf_counter() - started:.0f} s")
        load_row = load(bench, workspace_id, file, size)
        load_row["after_load"] = {
            "service": process_memory(bench.ours.process.popen.pid),
            "postgres": postgres_memory(bench.ours.data_dir),
        }
        settle_row = settle(bench)
        rows = retrieval(bench, workspace_id, args.requests, warmup=20)
        memory = {
            "service": process_memory(bench.ours.process.popen.pid),
            "postgres": postgres_memory(bench.ours.data_dir),
            "sizes": database_size(bench),
        }
        log(f"memory after the searches: {memory}")
    results = {
        "size": size,
        "dim": args.dim,
        "index_build_memory_mb": args.build_memory_mb,
        "load_average": os.getloadavg(),
        "load": load_row,
        "vacuum_analyze_s": settle_row["seconds"],
        "retrieval": rows,
        "memory": memory,
    }
    write_results("million", results, args.out or RESULTS_DIR / f"million-{size}.json")
    print(
        f"| {size:,} | {load_row['per_s']:,}/s | "
        + " | ".join(f"{r['p50_ms']} / {r['p99_ms']} ms" for r in rows)
    )


if __name__ == "__main__":
    main()
