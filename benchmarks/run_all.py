"""Every benchmark, side by side in one go, on one set of processes and one data set.

    python -m benchmarks.run_all [--name NAME] [--quick] [--sizes 1000,5000,10000,100000]
                                 [--peer-sizes 1000,5000] [--no-peer] [--peer-venv PATH]
                                 [--mem0-sizes 1000,10000] [--mem0-venv PATH] [--skip mem0,...]

The mem0 step (``bench_mem0``) runs last, when its venv exists or can be created; when it
cannot, the results say why and the other steps stand.

Writes ``benchmarks/results/<NAME>.json`` (default ``latest``) and prints markdown tables
with the targets of issue 19 ("Performance wave 2"), which tightened DESIGN.md section 10's.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks import (
    bench_concurrency,
    bench_load,
    bench_mem0,
    bench_pipeline,
    bench_recall,
    bench_retrieval,
    bench_sql_floor,
)
from benchmarks.bench_load import LoadPlan, label
from benchmarks.common import (
    RESULTS_DIR,
    add_common_args,
    bench_from_args,
    log,
    machine_info,
    ratio,
    write_results,
)

# Issue 19's targets: retrieval p50 <= 5 ms and p99 <= 15 ms at every size, >= 100x ReMe at
# 1k and >= 200x at 5k, loads >= 5,000 memories/s, service <= 1.5x raw SQL at 100k, 32 clients
# >= 1,000 req/s with p99 <= 100 ms, summary overhead <= 10 ms per trajectory, mem0 10x at 10k.
TARGET_P50_MS = 5.0
TARGET_P99_MS = 15.0
TARGET_SPEEDUP = {1000: 100.0, 5000: 200.0}
TARGET_LOAD_PER_S = 5000.0
TARGET_RECALL = 0.95
TARGET_OVERHEAD_MS = 10.0
TARGET_RAW_RATIO = 1.5
TARGET_RPS = 1000.0
TARGET_CONCURRENT_P99_MS = 100.0
TARGET_MEM0_RATIO = 10.0


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def versions(bench: Any) -> dict[str, Any]:
    import asyncpg

    async def query() -> dict[str, Any]:
        connection = await asyncpg.connect(**bench.ours.dsn())
        try:
            return {
                "postgresql": await connection.fetchval("SHOW server_version"),
                "pgvector": await connection.fetchval(
                    "SELECT extversion FROM pg_extension WHERE extname='vector'"
                ),
                "shared_buffers": await connection.fetchval("SHOW shared_buffers"),
            }
        finally:
            await connection.close()

    info = asyncio.run(query())
    info["git"] = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return info


def _find(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def _mark(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**no**")


def _line(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _latency_table(results: dict[str, Any]) -> list[str]:
    out = [
        "### Retrieval latency over HTTP (sequential, keep-alive)",
        "",
        _line("side", "route", "memories", "n", "p50 ms", "p95 ms", "p99 ms"),
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results.get("retrieval", []):
        out.append(
            _line(r["side"], r["route"], f"{r['size']:,}", r["n"], r["p50_ms"], r["p95_ms"], r["p99_ms"])
        )
    for r in results.get("sql_floor", {}).get("floor", []):
        cells = (f"{r['size']:,}", r["n"], r["p50_ms"], r["p95_ms"], r["p99_ms"])
        out.append(_line("raw SQL", "prepared statement", *cells))
    return out


def _target_rows(results: dict[str, Any]) -> list[tuple[str, Any, str, bool | None]]:
    """(measure, value, target, met) for every figure with a target."""
    rows: list[tuple[str, Any, str, bool | None]] = []
    retrieval = results.get("retrieval", [])
    for row in (r for r in retrieval if r["side"] == "ours"):
        where = f"{row['route']} at {label(row['size'])}"
        p50, p99 = row["p50_ms"], row["p99_ms"]
        rows.append((f"{where} p50", f"{p50} ms", f"<= {TARGET_P50_MS:g} ms", p50 <= TARGET_P50_MS))
        rows.append((f"{where} p99", f"{p99} ms", f"<= {TARGET_P99_MS:g} ms", p99 <= TARGET_P99_MS))
    for row in (r for r in retrieval if r["side"] != "ours"):
        ours = _find(retrieval, side="ours", route="retrieve_task_memory_simple", size=row["size"])
        if ours:
            speedup = ratio(row["p50_ms"], ours["p50_ms"])
            wanted = TARGET_SPEEDUP.get(row["size"])
            met = None if wanted is None else (speedup is not None and speedup >= wanted)
            target = "—" if wanted is None else f">= {wanted:g}x"
            rows.append((f"speed-up vs ReMe at {label(row['size'])} (p50)", f"{speedup}x", target, met))
    for row in results.get("load", []):
        if "per_s" not in row:
            rows.append((row["path"], f"{row['seconds']} s", "—", None))
            continue
        name = f"load via {row['path']}, {row['count']:,} ({row['side']})"
        if row["side"] == "ours":
            rows.append((name, f"{row['per_s']:,}/s", ">= 5,000/s", row["per_s"] >= TARGET_LOAD_PER_S))
        else:
            rows.append((name, f"{row['per_s']:,}/s", "—", None))
    for row in results.get("recall", []):
        met = row["recall_at_10"] >= TARGET_RECALL
        rows.append(
            (f"recall@10 {label(row['size'])}, {row['filters']}", row["recall_at_10"], ">= 0.95", met)
        )
    for row in results.get("recall_minilm", []):
        size, total, ef = label(row["size"]), label(row["of_total"]), row["ef_search"]
        name = f"recall@10 MiniLM vectors, {size} of {total}, ef_search {ef}"
        rows.append((name, row["recall_at_10"], ">= 0.95", row["recall_at_10"] >= TARGET_RECALL))
    for row in results.get("concurrency", []):
        value = (
            f"{row['throughput_rps']} req/s, {row['errors']} errors, p99 {row['latency'].get('p99_ms')} ms"
        )
        name = f"{row['clients']} clients, {row['side']} {label(row['size'])}, {row['requests']} requests"
        if row.get("workers"):
            name += f", workers {row['workers']}"
        ours = row["side"] == "ours"
        p99 = row["latency"].get("p99_ms")
        met = row["errors"] == 0 and row["throughput_rps"] >= TARGET_RPS and p99 is not None
        met = met and p99 <= TARGET_CONCURRENT_P99_MS
        rows.append((name, value, ">= 1,000 req/s, p99 <= 100 ms, 0 errors", met if ours else None))
    for row in results.get("pipeline", []):
        if row.get("side") == "ours":
            p50 = row["overhead_per_trajectory"]["p50_ms"]
            name = f"summary_task_memory overhead/trajectory, {row['trajectories_per_request']} per request"
            rows.append((name, f"{p50} ms", "<= 10 ms", p50 <= TARGET_OVERHEAD_MS))
    for r in results.get("mem0", {}).get("ratios", []):
        name = f"mem0 Memory.search p50 / ours {r['route']} p50 at {label(r['size'])}"
        met = (r["p50"] is not None and r["p50"] >= TARGET_MEM0_RATIO) if r["size"] >= 10_000 else None
        rows.append((name, f"{r['p50']}x", ">= 10x at 10k", met))
    for r in results.get("sql_floor", {}).get("floor", []):
        service = _find(retrieval, side="ours", route="/v1 search", size=r["size"])
        if service:
            times = ratio(service["p50_ms"], r["p50_ms"])
            met = (times is not None and times <= TARGET_RAW_RATIO) if r["size"] >= 100_000 else None
            rows.append(
                (f"/v1 search p50 / raw SQL p50 at {label(r['size'])}", f"{times}x", "<= 1.5x at 100k", met)
            )
    return rows


def markdown(results: dict[str, Any]) -> str:
    out = _latency_table(results)
    out += [
        "",
        "### Against the targets",
        "",
        _line("measure", "value", "target", "met"),
        "|---|---:|---:|---|",
    ]
    out += [_line(name, value, target, _mark(met)) for name, value, target, met in _target_rows(results)]
    if results.get("mem0", {}).get("search"):
        out += ["", bench_mem0.markdown(results["mem0"])]
    return "\n".join(out)


def mem0_step(bench: Any, args: argparse.Namespace, plan: LoadPlan, requests: int) -> dict[str, Any]:
    """The mem0 comparison on the sizes both sides hold, or why it did not run."""
    sizes = [1000] if args.quick else _sizes(args.mem0_sizes)
    sizes = [s for s in sizes if s in plan.ours]
    if not sizes:
        return {"skipped": f"none of the mem0 sizes {args.mem0_sizes} is loaded on our side"}
    try:
        bench_mem0.ensure_mem0(args.mem0_venv)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
        log(f"mem0 step skipped: its venv cannot be created ({error})")
        return {"skipped": f"the mem0 venv cannot be created: {error}"}
    return bench_mem0.run(
        bench,
        sizes,
        requests,
        interleaved_adds=200 if args.quick else 1000,
        infer_count=5 if args.quick else 20,
        venv_dir=args.mem0_venv,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--name", default="latest", help="results file name (benchmarks/results/NAME.json)")
    parser.add_argument("--sizes", default="1000,5000,10000,100000", help="our workspace sizes")
    parser.add_argument("--peer-sizes", default="1000,5000", help="ReMe workspace sizes")
    parser.add_argument("--requests", type=int, default=300, help="counted retrieval requests per series")
    parser.add_argument("--recall-queries", type=int, default=100)
    parser.add_argument("--concurrency-total", type=int, default=3200)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--concurrency-workers",
        default="auto,1",
        help="server processes for the concurrency step, one run each (end with 1: later steps use it)",
    )
    parser.add_argument(
        "--skip", default="", help="comma list of: retrieval,floor,recall,minilm,concurrency,pipeline,mem0"
    )
    parser.add_argument("--mem0-sizes", default="1000,10000", help="mem0 collection sizes (of --sizes)")
    parser.add_argument(
        "--mem0-venv", type=Path, default=None, help=f"mem0 venv (default {bench_mem0.default_venv()})"
    )
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    if args.quick:
        plan = LoadPlan.quick()
        requests, recall_queries, total, pipeline_requests = 50, 30, 320, 5
    else:
        plan = LoadPlan.for_sizes(_sizes(args.sizes), _sizes(args.peer_sizes))
        requests, recall_queries, total, pipeline_requests = (
            args.requests,
            args.recall_queries,
            args.concurrency_total,
            20,
        )
    if args.no_peer:
        plan.peer = []
    started = time.perf_counter()
    results: dict[str, Any] = {"machine": machine_info(), "args": vars(args), "dim": args.dim}
    with bench_from_args(args) as bench:
        results["versions"] = versions(bench)
        results["load"] = bench_load.populate(bench, plan)
        if "retrieval" not in skip:
            results["retrieval"] = bench_retrieval.run(
                bench, plan, requests, peer_requests=20 if args.quick else 60
            )
        if "floor" not in skip:
            results["sql_floor"] = bench_sql_floor.run(bench, plan, requests)
        if "recall" not in skip:
            recall_sizes = [s for s in plan.ours if s >= 10_000] or plan.ours
            results["recall"] = bench_recall.run(
                bench, sorted({min(plan.ours), *recall_sizes}), recall_queries
            )
        if "minilm" not in skip and not args.quick:
            results["recall_minilm"] = asyncio.run(bench_recall.minilm_recall(bench))
        if "concurrency" not in skip:
            peer_size = min(plan.peer) if plan.peer else None
            results["concurrency"] = bench_concurrency.run(
                bench,
                max(plan.ours),
                peer_size,
                args.clients,
                total,
                64 if args.quick else 320,
                workers=[w for w in args.concurrency_workers.split(",") if w] or None,
            )
        if "pipeline" not in skip:
            results["pipeline"] = bench_pipeline.run(bench, pipeline_requests)
        if "mem0" not in skip:
            results["mem0"] = mem0_step(bench, args, plan, requests)
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    results["machine"]["load_average_after"] = machine_info()["load_average"]
    write_results(args.name, results, args.out or RESULTS_DIR / f"{args.name}.json")
    print(markdown(results))
    log(f"done in {results['wall_seconds']:.0f}s")


if __name__ == "__main__":
    main()
