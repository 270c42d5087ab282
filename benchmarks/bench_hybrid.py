"""Hybrid against vector search latency over HTTP, on the same data set as run_all (384 dims).

python -m benchmarks.bench_hybrid [--out benchmarks/results/hybrid-384d.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import httpx

from benchmarks import datagen
from benchmarks.bench_load import LoadPlan, label, populate, workspace
from benchmarks.bench_retrieval import _check_flow, _check_search, series
from benchmarks.common import Bench, latency_summary, log

QUERIES, WARM_UP = 200, 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/hybrid-384d.json"))
    parser.add_argument("--sizes", default="", help="comma-separated workspace sizes (default: run_all's)")
    args = parser.parse_args()
    plan = LoadPlan.for_sizes([int(s) for s in args.sizes.split(",")], []) if args.sizes else LoadPlan()
    plan.peer = []
    rows = []
    with Bench(dim=384, with_peer=False) as bench:
        populate(bench, plan)
        texts = datagen.queries(QUERIES + WARM_UP, seed=21)
        with httpx.Client(base_url=bench.ours.base_url, timeout=60) as client:
            for size in plan.ours:
                ws = workspace(size)
                for mode in ("vector", "hybrid"):
                    body = [{"query": q, "top_k": 5, "memory_type": "task", "mode": mode} for q in texts]
                    timings = series(client, f"/v1/workspaces/{ws}/search", body, _check_search, WARM_UP)
                    route = f"/v1 search mode={mode}"
                    rows.append({"route": route, "size": size, **latency_summary(timings)})
                    log(f"{label(size)} /v1 {mode}: {rows[-1]}")
                body = [{"workspace_id": ws, "query": q, "top_k": 5, "search_mode": "hybrid"} for q in texts]
                timings = series(client, "/retrieve_task_memory_simple", body, _check_flow, WARM_UP)
                route = "retrieve_task_memory_simple search_mode=hybrid"
                rows.append({"route": route, "size": size, **latency_summary(timings)})
                log(f"{label(size)} flow hybrid: {rows[-1]}")
    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
