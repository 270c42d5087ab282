"""32 concurrent clients (asyncio + httpx), a bounded number of requests: throughput and errors.

Ours: a mix on one workspace — retrieve_task_memory_simple, /v1 search, and one write in ten
(``POST /v1/workspaces/{ws}/memories``, embedded, into a scratch workspace). Peer: its
retrieve_task_memory_simple (fewer requests; each takes long). Any non-2xx answer, failed
check or exception counts as an error.

    python -m benchmarks.bench_concurrency [--quick] [--clients 32] [--total 3200]
        [--workers 1,auto,1,auto] [--size 10000]

``--workers`` runs the same mix once per value, restarting ``reme serve --workers W`` on the
same data between runs (alternate the values to spread a changing machine load over both);
each row records the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from benchmarks import datagen
from benchmarks.bench_load import LoadPlan, label, populate, workspace
from benchmarks.common import (
    Bench,
    add_common_args,
    bench_from_args,
    latency_summary,
    log,
    start_service,
    write_results,
)

SCRATCH = "bench-writes"
Request = tuple[str, str, dict[str, Any]]


def ours_requests(size: int, total: int) -> list[Request]:
    ws = workspace(size)
    texts = datagen.queries(total, seed=44)
    out: list[Request] = []
    for index, text in enumerate(texts):
        if index % 10 == 9:
            memory = {
                "when_to_use": f"when {text}",
                "content": f"remember to check {text}",
                "memory_type": "task",
            }
            out.append(("write", f"/v1/workspaces/{SCRATCH}/memories", memory))
        elif index % 2:
            out.append(("search", f"/v1/workspaces/{ws}/search", {"query": text, "top_k": 5}))
        else:
            out.append(
                ("retrieve", "/retrieve_task_memory_simple", {"workspace_id": ws, "query": text, "top_k": 5})
            )
    return out


def peer_requests(size: int, total: int) -> list[Request]:
    texts = datagen.queries(total, seed=44)
    body = {"workspace_id": workspace(size), "top_k": 5}
    return [("retrieve", "/retrieve_task_memory_simple", {**body, "query": t}) for t in texts]


def _ok(kind: str, response: httpx.Response) -> bool:
    if response.status_code >= 300:
        return False
    payload = response.json()
    if kind == "search":
        return len(payload.get("items", [])) == 5
    if kind == "write":
        return len(payload.get("items", [])) == 1
    return bool(payload.get("success"))


async def drive(base_url: str, requests: list[Request], clients: int) -> dict[str, Any]:
    """``clients`` workers take requests from one queue until it is empty."""
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    latencies: dict[str, list[float]] = {}
    errors: Counter[str] = Counter()
    examples: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def worker(client: httpx.AsyncClient, record: Callable[[str, float, str | None], None]) -> None:
        while True:
            try:
                kind, path, body = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            problem: str | None = None
            try:
                response = await client.post(path, json=body)
                if not _ok(kind, response):
                    problem = f"{kind}: HTTP {response.status_code} {response.text[:200]}"
            except (httpx.HTTPError, ValueError) as exc:
                problem = f"{kind}: {type(exc).__name__}: {exc}"
            record(kind, time.perf_counter() - started, problem)

    def record(kind: str, seconds: float, problem: str | None) -> None:
        latencies.setdefault(kind, []).append(seconds)
        if problem:
            errors[kind] += 1
            if len(examples) < 5:
                examples.append(problem)

    async with httpx.AsyncClient(base_url=base_url, timeout=600, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client, record) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    everything = [s for samples in latencies.values() for s in samples]
    return {
        "clients": clients,
        "requests": len(requests),
        "seconds": round(elapsed, 2),
        "throughput_rps": round(len(requests) / elapsed, 1),
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "error_examples": examples,
        "latency": latency_summary(everything),
        "latency_by_kind": {kind: latency_summary(samples) for kind, samples in latencies.items()},
    }


def restart_ours(bench: Bench, workers: str) -> None:
    """Stop our service and start it again on the same data with ``workers`` processes."""
    assert bench.ours is not None and bench.stand_in is not None and bench.workdir is not None
    bench.ours.process.stop()
    bench.ours = start_service(
        bench.workdir, bench.stand_in, bench.dim, {**bench.service_env, "REME_SERVER__WORKERS": workers}
    )


def run(
    bench: Bench,
    ours_size: int,
    peer_size: int | None,
    clients: int,
    total: int,
    peer_total: int,
    workers: list[str] | None = None,
) -> list[dict[str, Any]]:
    assert bench.ours is not None
    rows: list[dict[str, Any]] = []
    for count in workers or ["1"]:
        if workers:
            restart_ours(bench, count)
        # Warm every connection of the pool (and every worker) once before counting.
        asyncio.run(drive(bench.ours.base_url, ours_requests(ours_size, clients * 4), clients))
        load_before = os.getloadavg()
        result = asyncio.run(drive(bench.ours.base_url, ours_requests(ours_size, total), clients))
        mix = "45% retrieve, 45% /v1 search, 10% /v1 add"
        load = {"load_before": load_before, "load_after": os.getloadavg()}
        rows.append({"side": "ours", "workers": count, "size": ours_size, "mix": mix, **load, **result})
        if result["errors"] and bench.ours.process is not None:
            rows[-1]["server_log_tail"] = bench.ours.process.log_tail(80)
        log(
            f"concurrency ours {label(ours_size)}, workers={count}: {result['throughput_rps']} req/s, "
            f"p99 {result['latency'].get('p99_ms')} ms, {result['errors']} errors, load {load}"
        )
    if bench.peer is not None and peer_size:
        result = asyncio.run(drive(bench.peer.base_url, peer_requests(peer_size, peer_total), clients))
        rows.append({"side": "ReMe 0.1.7", "size": peer_size, "mix": "100% retrieve", **result})
        rate, errors = result["throughput_rps"], result["errors"]
        log(f"concurrency ReMe {label(peer_size)}: {rate} req/s, {errors} errors")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--total", type=int, default=3200)
    parser.add_argument(
        "--workers",
        default=None,
        help="comma-separated `reme serve --workers` values to run in turn (1,auto)",
    )
    parser.add_argument(
        "--size", type=int, default=None, help="only this workspace size (default: the plan's)"
    )
    args = parser.parse_args()
    plan = LoadPlan.quick() if args.quick else LoadPlan()
    if args.size:
        plan = LoadPlan.for_sizes([args.size], plan.peer if not args.no_peer else [])
        plan.noise = 1000
    with bench_from_args(args) as bench:
        populate(bench, plan)
        rows = run(
            bench,
            ours_size=max(plan.ours),
            peer_size=min(plan.peer) if plan.peer else None,
            clients=args.clients,
            total=320 if args.quick else args.total,
            peer_total=64 if args.quick else 320,
            workers=args.workers.split(",") if args.workers else None,
        )
    write_results("concurrency", {"concurrency": rows}, args.out)


if __name__ == "__main__":
    main()
