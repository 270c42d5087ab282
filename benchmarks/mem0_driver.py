"""mem0 in-process, driven over JSON lines; run by the python of the mem0 venv, never imported.

    benchmarks/.mem0-venv/bin/python benchmarks/mem0_driver.py --dsn DSN --base-url URL --dim 384 \
        --history-dir DIR

One request per line on stdin, one answer per line on stdout (mem0's own output goes to
stderr). The driver times each mem0 call itself with ``perf_counter``, so the pipe between the
benchmark and this process is not in the figures. Requests:

- ``{"op": "versions"}``: mem0ai and the PostgreSQL driver versions.
- ``{"op": "add", "collection": C, "user_id": U, "text": T, "metadata": {...}, "infer": false}``:
  one ``Memory.add``; answers ``seconds`` and ``added`` (memories the call stored).
- ``{"op": "add_many", ..., "items": [{"text": T, "metadata": {...}}, ...]}``: one
  ``Memory.add`` per item, in order; answers the total ``seconds`` and ``added``.
- ``{"op": "search", "collection": C, "user_id": U, "query": Q, "top_k": K}``: one
  ``Memory.search``; answers ``seconds`` and ``returned``.
- ``{"op": "search_parts", ...}`` (as ``search``): the three store-facing steps of
  ``Memory.search`` timed apart on one query: the query embedding, the vector search (top 60,
  as mem0 over-fetches for a top 5) and the full-text keyword search.
- ``{"op": "count", "collection": C}``: rows in the collection's table.
- ``{"op": "quit"}``.

Each collection is its own ``Memory`` (and table); they share the database and the history file.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("MEM0_TELEMETRY", "False")


def memory_config(args: argparse.Namespace, collection: str) -> dict[str, Any]:
    return {
        "vector_store": {
            "provider": "pgvector",
            "config": {
                "connection_string": args.dsn,
                "collection_name": collection,
                "embedding_model_dims": args.dim,
            },
        },
        "embedder": {
            "provider": "openai",
            "config": {
                "model": args.model,
                "api_key": "bench",
                "openai_base_url": args.base_url,
                "embedding_dims": args.dim,
            },
        },
        "llm": {
            "provider": "openai",
            "config": {"model": args.model, "api_key": "bench", "openai_base_url": args.base_url},
        },
        "history_db_path": os.path.join(args.history_dir, "history.db"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="mem0 in-process over JSON lines")
    parser.add_argument("--dsn", required=True, help="libpq connection string of mem0's database")
    parser.add_argument("--base-url", required=True, help="OpenAI-compatible base URL (the stand-in)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--model", default="bench")
    parser.add_argument("--history-dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.history_dir, exist_ok=True)
    os.environ.setdefault("MEM0_DIR", args.history_dir)

    answers = sys.stdout
    sys.stdout = sys.stderr  # anything mem0 prints stays out of the answers

    from mem0 import Memory

    memories: dict[str, Any] = {}

    def memory(collection: str) -> Any:
        if collection not in memories:
            memories[collection] = Memory.from_config(memory_config(args, collection))
        return memories[collection]

    def add(request: dict[str, Any], text: str, metadata: dict[str, Any]) -> tuple[float, int]:
        target = memory(request["collection"])
        started = time.perf_counter()
        result = target.add(
            [{"role": "user", "content": text}],
            user_id=request["user_id"],
            metadata=metadata,
            infer=bool(request.get("infer", False)),
        )
        return time.perf_counter() - started, len(result.get("results", []))

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "versions":
            versions = {"mem0ai": importlib.metadata.version("mem0ai")}
            for name in ("psycopg", "psycopg-pool", "psycopg2-binary", "openai"):
                with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                    versions[name] = importlib.metadata.version(name)
            return versions
        if op == "add":
            seconds, added = add(request, request["text"], request.get("metadata") or {})
            return {"seconds": seconds, "added": added}
        if op == "add_many":
            total, added = 0.0, 0
            for item in request["items"]:
                seconds, count = add(request, item["text"], item.get("metadata") or {})
                total += seconds
                added += count
            return {"seconds": total, "added": added}
        if op == "search":
            target = memory(request["collection"])
            started = time.perf_counter()
            found = target.search(
                request["query"], top_k=int(request.get("top_k", 5)), filters={"user_id": request["user_id"]}
            )
            seconds = time.perf_counter() - started
            return {"seconds": seconds, "returned": len(found.get("results", []))}
        if op == "search_parts":
            target = memory(request["collection"])
            filters = {"user_id": request["user_id"]}
            internal = max(int(request.get("top_k", 5)) * 4, 60)  # Memory._search_vector_store
            started = time.perf_counter()
            vector = target.embedding_model.embed(request["query"], "search")
            embedded = time.perf_counter()
            target.vector_store.search(
                query=request["query"], vectors=vector, top_k=internal, filters=filters
            )
            searched = time.perf_counter()
            target.vector_store.keyword_search(query=request["query"], top_k=internal, filters=filters)
            done = time.perf_counter()
            return {"embed": embedded - started, "vector": searched - embedded, "keyword": done - searched}
        if op == "count":
            return {"count": int(memory(request["collection"]).vector_store.col_info()["count"])}
        raise ValueError(f"unknown op {op!r}")

    print(json.dumps({"ready": True}), file=answers, flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("op") == "quit":
            break
        try:
            answer = {"ok": True, **handle(request)}
        except Exception as error:  # reported to the benchmark, which stops with it
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer), file=answers, flush=True)


if __name__ == "__main__":
    main()
