"""Memory console page latency over HTTP, on a workspace of 100,000 memories.

Every page a person opens: the workspace list, the memory table (first page, a page deep in
the cursor chain, filtered), a search of each mode, a memory with its history, the charts,
trajectories, tools, data and jobs pages. The table is vacuumed and analysed after the load, as
an operator (or autovacuum, a little later) would. Each page is fetched a few times to warm up, then
``--requests`` times sequentially on one keep-alive connection; each answer must be a 200 page.

    python -m benchmarks.bench_console [--quick] [--requests 30]
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

import httpx

from benchmarks import datagen
from benchmarks.bench_load import bulk_load, settle
from benchmarks.common import add_common_args, bench_from_args, latency_summary, log, write_results

WS = "console-bench"
NEXT = re.compile(r'href="[^"]*cursor=([^"&]+)[^"]*" rel="next"')
MEMORY_LINK = re.compile(r'/memory\?id=([0-9a-f]+)"')
WARMUP = 3


def next_cursor(client: httpx.Client, url: str, hops: int) -> str:
    """The cursor ``hops`` pages into a list (the pages a person reaches by clicking 'Next')."""
    cursor = ""
    for _ in range(hops):
        page = client.get(url + (f"?cursor={cursor}" if cursor else ""))
        page.raise_for_status()
        found = NEXT.search(page.text)
        if not found:
            break
        cursor = found.group(1)
    return cursor


def pages(client: httpx.Client) -> dict[str, str]:
    base = f"/ui/w/{WS}"
    first = client.get(base).text
    memory_id = MEMORY_LINK.search(first)
    assert memory_id, "no memory link on the first page"
    query = "paginating through results with a cursor"
    return {
        "workspace list": "/ui",
        "memory table, first page": base,
        "memory table, 20th page": f"{base}?cursor={next_cursor(client, base, 19)}",
        "memory table, type=personal, score >= 0.5": f"{base}?type=personal&min_score=0.5",
        "memory table, one month": f"{base}?after=2025-03-01&before=2025-04-01",
        "search, hybrid top 20": f"{base}?q={query}&mode=hybrid&top_k=20",
        "search, vector top 20": f"{base}?q={query}&mode=vector&top_k=20",
        "search, text top 20": f"{base}?q={query}&mode=text&top_k=20",
        "memory with history": f"{base}/memory?id={memory_id.group(1)}",
        "charts (growth, freq/utility)": f"{base}/charts",
        "trajectories": f"{base}/trajectories",
        "tools": f"{base}/tools",
        "data in/out": f"{base}/data",
        "jobs": "/ui/jobs",
    }


def measure(client: httpx.Client, url: str, requests: int) -> list[float]:
    for _ in range(WARMUP):
        client.get(url).raise_for_status()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        samples.append(time.perf_counter() - started)
        if response.status_code != 200 or "</html>" not in response.text:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    args.no_peer = True
    size = 10_000 if args.quick else 100_000
    rows: list[dict[str, Any]] = []
    with bench_from_args(args) as bench:
        assert bench.ours is not None
        path = datagen.write_workspace_file(bench.files_dir, WS, size)
        load = bulk_load(bench, WS, path, size)
        log(f"loaded {size} memories: {load}")
        settle(bench)  # VACUUM (ANALYZE), as after any bulk load: measure the steady state
        with httpx.Client(base_url=bench.ours.base_url, timeout=120) as client:
            for name, url in pages(client).items():
                summary = latency_summary(measure(client, url, args.requests))
                rows.append({"page": name, "memories": size, **summary})
                log(f"{name}: p50 {summary['p50_ms']} ms, p95 {summary['p95_ms']} ms")
    write_results("console", {"console": rows}, args.out)
    print("| page | p50 ms | p95 ms | max ms |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['page']} | {row['p50_ms']} | {row['p95_ms']} | {row['max_ms']} |")


if __name__ == "__main__":
    main()
