"""Retrieval latency over HTTP: sequential requests on one keep-alive connection.

Ours: ``POST /retrieve_task_memory_simple`` and ``POST /v1/workspaces/{ws}/search`` (vector,
memory_type=task) at every loaded size. Peer: ReMe's ``retrieve_task_memory_simple``. Queries
differ from each other and from the memories; the first few requests of each series are
warm-up and not counted. Each answer is checked: success, and top_k memories returned.

    python -m benchmarks.bench_retrieval [--quick] [--no-peer]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx

from benchmarks import datagen
from benchmarks.bench_load import LoadPlan, label, populate, workspace
from benchmarks.common import Bench, add_common_args, bench_from_args, latency_summary, log, write_results

TOP_K = 5


def _check_flow(response: httpx.Response) -> None:
    response.raise_for_status()
    payload = response.json()
    memories = (payload.get("metadata") or {}).get("memory_list") or []
    if not payload.get("success") or len(memories) != TOP_K:
        raise RuntimeError(f"unexpected retrieval answer: {str(payload)[:300]}")


def _check_peer(response: httpx.Response) -> None:
    response.raise_for_status()
    payload = response.json()
    if not payload.get("success") or "Previous Memory" not in payload.get("answer", ""):
        raise RuntimeError(f"unexpected ReMe answer: {str(payload)[:300]}")


def _check_search(response: httpx.Response) -> None:
    response.raise_for_status()
    items = response.json().get("items")
    if not isinstance(items, list) or len(items) != TOP_K:
        raise RuntimeError(f"unexpected search answer: {response.text[:300]}")


def series(
    client: httpx.Client,
    url: str,
    bodies: list[dict[str, Any]],
    check: Any,
    warmup: int,
) -> list[float]:
    """Latencies (seconds) of ``bodies`` after ``warmup`` uncounted requests."""
    for body in bodies[:warmup]:
        check(client.post(url, json=body))
    samples: list[float] = []
    for body in bodies[warmup:]:
        started = time.perf_counter()
        response = client.post(url, json=body)
        samples.append(time.perf_counter() - started)
        check(response)
    return samples


def measure_ours(bench: Bench, sizes: list[int], requests: int, warmup: int) -> list[dict[str, Any]]:
    assert bench.ours is not None
    rows: list[dict[str, Any]] = []
    texts = datagen.queries(requests + warmup, seed=21)
    with httpx.Client(base_url=bench.ours.base_url, timeout=60) as client:
        for size in sizes:
            ws = workspace(size)
            flow = [{"workspace_id": ws, "query": q, "top_k": TOP_K} for q in texts]
            samples = series(client, "/retrieve_task_memory_simple", flow, _check_flow, warmup)
            rows.append(
                {
                    "side": "ours",
                    "route": "retrieve_task_memory_simple",
                    "size": size,
                    **latency_summary(samples),
                }
            )
            search = [{"query": q, "top_k": TOP_K, "memory_type": "task"} for q in texts]
            samples = series(client, f"/v1/workspaces/{ws}/search", search, _check_search, warmup)
            rows.append({"side": "ours", "route": "/v1 search", "size": size, **latency_summary(samples)})
            log(
                f"retrieval ours {label(size)}: "
                + ", ".join(f"{r['route']} p50 {r['p50_ms']} ms" for r in rows[-2:])
            )
    return rows


def measure_peer(bench: Bench, sizes: list[int], requests: int, warmup: int) -> list[dict[str, Any]]:
    if bench.peer is None:
        return []
    rows: list[dict[str, Any]] = []
    with httpx.Client(base_url=bench.peer.base_url, timeout=600) as client:
        for size in sizes:
            # Fewer requests where each takes long: the series is still ~20+ samples.
            count = max(20, requests // max(1, size // 1000))
            texts = datagen.queries(count + warmup, seed=21)
            flow = [{"workspace_id": workspace(size), "query": q, "top_k": TOP_K} for q in texts]
            samples = series(client, "/retrieve_task_memory_simple", flow, _check_peer, warmup)
            rows.append(
                {
                    "side": "ReMe 0.1.7",
                    "route": "retrieve_task_memory_simple",
                    "size": size,
                    **latency_summary(samples),
                }
            )
            log(f"retrieval ReMe {label(size)}: p50 {rows[-1]['p50_ms']} ms")
    return rows


def run(
    bench: Bench, plan: LoadPlan, requests: int, peer_requests: int, warmup: int = 20
) -> list[dict[str, Any]]:
    rows = measure_ours(bench, plan.ours, requests, warmup)
    rows += measure_peer(bench, plan.peer, peer_requests, min(warmup, 3))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--requests", type=int, default=300, help="counted requests per series (ours)")
    args = parser.parse_args()
    plan = LoadPlan.quick() if args.quick else LoadPlan()
    requests = 50 if args.quick else args.requests
    with bench_from_args(args) as bench:
        load = populate(bench, plan)
        rows = run(bench, plan, requests, peer_requests=20 if args.quick else 60)
    write_results("retrieval", {"load": load, "retrieval": rows}, args.out)


if __name__ == "__main__":
    main()
