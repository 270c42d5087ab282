"""One PostgreSQL server against a Citus cluster on the same machine: load rate and retrieval latency.

The service runs in this process (uvicorn on 127.0.0.1, the local embedder) against each
database in turn. Load: NDJSON imports (``POST /v1/workspaces/{ws}/import``) of memories that
carry their vectors, several workspaces at once, so the rate is the database's write path and
not the embedder's. Retrieval: ``POST /v1/workspaces/{ws}/search`` (hybrid) from concurrent
clients over the loaded workspaces; p50/p95 per request.

    python -m benchmarks.bench_citus --single URL --citus URL [--workspaces 16] [--per-workspace 2000]

Both URLs must be empty databases with pgvector (the Citus one a coordinator with workers);
migrations run on start. On one machine the cluster's nodes share the same cores and disk as
the single server: the figures say what the distribution costs, not what more machines give.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from app.http_server import server_config
from app.main import create_app
from app.settings import EmbeddingSettings, Settings, StorageSettings
from benchmarks.common import free_port, latency_summary, log, machine_info, write_results

DIM = 384
MODEL = "all-MiniLM-L6-v2-int8"
WORDS = [
    "lighthouse",
    "harbour",
    "ledger",
    "invoice",
    "retry",
    "timeout",
    "schema",
    "index",
    "vector",
    "shard",
    "worker",
    "queue",
    "cache",
    "token",
]


def ndjson(workspace: str, count: int, rng: random.Random) -> bytes:
    lines = []
    for n in range(count):
        text = " ".join(rng.choices(WORDS, k=8))
        vector = [rng.uniform(-1, 1) for _ in range(DIM)]
        record = {
            "memory_type": "task",
            "when_to_use": f"{workspace} case {n}: {text}",
            "content": f"advice {n} for {text}",
            "embedding": vector,
            "embedding_model": MODEL,
        }
        lines.append(json.dumps(record))
    return ("\n".join(lines) + "\n").encode()


class InProcessService:
    def __init__(self, url: str, storage: Path) -> None:
        settings = Settings(
            database_url=url,
            embedding=EmbeddingSettings(provider="local"),
            storage=StorageSettings(allowed_dir=storage),
        )
        self.port = free_port()
        self.server = uvicorn.Server(
            server_config(create_app(settings), settings.server, host="127.0.0.1", port=self.port)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


async def load(base: str, workspaces: list[str], per_workspace: int, batch: int) -> dict[str, Any]:
    rng = random.Random(7)
    bodies = {w: [ndjson(w, batch, rng) for _ in range(per_workspace // batch)] for w in workspaces}
    async with httpx.AsyncClient(base_url=base, timeout=600) as http:

        async def one(workspace: str) -> None:
            for body in bodies[workspace]:
                response = await http.post(
                    f"/v1/workspaces/{workspace}/import",
                    content=body,
                    headers={"Content-Type": "application/x-ndjson"},
                )
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(w) for w in workspaces))
        seconds = time.perf_counter() - started
    total = len(workspaces) * (per_workspace // batch) * batch
    log(f"load {total} memories in {seconds:.1f}s = {total / seconds:,.0f}/s")
    return {"memories": total, "seconds": round(seconds, 2), "per_s": round(total / seconds, 1)}


async def retrieve(base: str, workspaces: list[str], requests: int, clients: int) -> dict[str, Any]:
    rng = random.Random(11)
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:

        async def client(n: int) -> None:
            for _ in range(requests // clients):
                workspace = rng.choice(workspaces)
                query = " ".join(rng.choices(WORDS, k=4))
                started = time.perf_counter()
                response = await http.post(
                    f"/v1/workspaces/{workspace}/search", json={"query": query, "top_k": 10, "mode": "hybrid"}
                )
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()

        await client(-1)  # warm-up: the embedder and the pool
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(client(n) for n in range(clients)))
        seconds = time.perf_counter() - started
    summary = latency_summary(latencies)
    log(f"retrieval, {clients} clients: {summary}")
    return {"clients": clients, "per_s": round(len(latencies) / seconds, 1), **summary}


async def run_one(name: str, url: str, args: argparse.Namespace, storage: Path) -> dict[str, Any]:
    workspaces = [f"bench-{n}" for n in range(args.workspaces)]
    log(f"== {name}: {url}")
    with InProcessService(url, storage) as base:
        loaded = await load(base, workspaces, args.per_workspace, args.batch)
        retrieved = await retrieve(base, workspaces, args.requests, args.clients)
    return {"load": loaded, "retrieval": retrieved}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--single", required=True, help="URL of an empty single PostgreSQL database")
    parser.add_argument("--citus", required=True, help="URL of an empty database on a Citus coordinator")
    parser.add_argument("--workspaces", type=int, default=16)
    parser.add_argument("--per-workspace", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--storage", type=Path, default=Path.cwd())
    args = parser.parse_args()
    results = {
        "machine": machine_info(),
        "conditions": vars(args) | {"storage": str(args.storage)},
        "single": asyncio.run(run_one("single server", args.single, args, args.storage)),
        "citus": asyncio.run(run_one("citus, coordinator + 2 workers", args.citus, args, args.storage)),
    }
    print(json.dumps(results, indent=2))
    write_results(f"citus-{args.clients}clients", results)


if __name__ == "__main__":
    main()
