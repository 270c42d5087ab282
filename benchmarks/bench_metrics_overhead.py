"""What metrics cost a request: the same requests to two services, metrics on and off.

Two ``reme serve`` processes run side by side on their own embedded PostgreSQL, one with
``REME_METRICS__ENABLED=false``; requests alternate between them so that machine noise hits
both alike. Measured, not asserted: ``GET /health`` (the middleware alone) and
``retrieve_task_memory_simple`` (a pipeline: steps, an embedding call, SQL statements). The
switch turns off the per-request counters and /metrics; step, model, embedding and SQL
counters are always kept, so the cost of one recording call of each kind is timed in-process
too.

    python -m benchmarks.bench_metrics_overhead [--quick] [--requests 2000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import (
    DEFAULT_DIM,
    Service,
    latency_summary,
    log,
    machine_info,
    start_service,
    start_stand_in,
    write_results,
)

WORKSPACE = "bench-metrics"


def measure(
    services: dict[str, Service], request: Callable[[httpx.Client], httpx.Response], n: int
) -> dict[str, Any]:
    """``n`` requests to each service, alternating; latency percentiles per service."""
    clients = {
        name: httpx.Client(base_url=service.base_url, timeout=30) for name, service in services.items()
    }
    seconds: dict[str, list[float]] = {name: [] for name in services}
    try:
        for client in clients.values():  # warm-up: connections, model load, plans
            for _ in range(max(20, n // 20)):
                request(client).raise_for_status()
        for _ in range(n):
            for name, client in clients.items():
                started = time.perf_counter()
                request(client).raise_for_status()
                seconds[name].append(time.perf_counter() - started)
    finally:
        for client in clients.values():
            client.close()
    summary = {name: latency_summary(values) for name, values in seconds.items()}
    summary["extra_ms_per_request"] = {
        key: round(summary["on"][key] - summary["off"][key], 3) for key in ("p50_ms", "mean_ms")
    }
    return summary


def recording_costs() -> dict[str, float]:
    """Microseconds for one call of each recording function, in this process."""
    from app.observability import metrics, tracing

    def untraced_span() -> None:
        with tracing.span("step x"):
            pass

    calls: dict[str, Callable[[], Any]] = {
        "record_request": lambda: metrics.record_request("GET", "/health", 200, 0.001),
        "record_step": lambda: metrics.record_step("flow", "step", 0.001),
        "record_llm_call": lambda: metrics.record_llm_call("step", "model", 0.5, 100, 20),
        "record_embedding": lambda: metrics.record_embedding("model", 3, 0.01),
        "pool_gauge_inc_dec": lambda: (metrics.DB_POOL_IN_USE.inc(), metrics.DB_POOL_IN_USE.dec()),
        "untraced_span": untraced_span,
    }
    number = 20_000
    return {
        name: round(min(timeit.repeat(call, number=number, repeat=3)) / number * 1e6, 3)
        for name, call in calls.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per endpoint and service")
    parser.add_argument("--quick", action="store_true", help="300 requests (smoke run)")
    parser.add_argument("--dim", type=int, default=DEFAULT_DIM)
    parser.add_argument("--out", type=Path, default=None, help="write the results JSON here")
    args = parser.parse_args()
    n = 300 if args.quick else args.requests
    workdir = Path(tempfile.mkdtemp(prefix="reme-bench-metrics-"))
    stand_in = start_stand_in(workdir, args.dim)
    services: dict[str, Service] = {}
    try:
        for name, enabled in (("off", "false"), ("on", "true")):
            (workdir / name).mkdir()
            services[name] = start_service(
                workdir / name, stand_in, args.dim, {"REME_METRICS__ENABLED": enabled}
            )
            log(f"metrics {name}: {services[name].base_url}")
        body = {"workspace_id": WORKSPACE, "query": "how to page through search results", "top_k": 5}
        results = {
            "requests": n,
            "health": measure(services, lambda c: c.get("/health"), n),
            "retrieve_task_memory_simple": measure(
                services, lambda c: c.post("/retrieve_task_memory_simple", json=body), n
            ),
            "recording_call_us": recording_costs(),
            "machine": machine_info(),
        }
    finally:
        for service in services.values():
            service.process.stop()
        stand_in.process.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    for endpoint in ("health", "retrieve_task_memory_simple"):
        extra = results[endpoint]["extra_ms_per_request"]
        log(f"{endpoint}: metrics on adds {extra['p50_ms']} ms at p50, {extra['mean_ms']} ms on average")
    log(f"one recording call, in microseconds: {results['recording_call_us']}")
    write_results("metrics_overhead", results, args.out)


if __name__ == "__main__":
    main()
