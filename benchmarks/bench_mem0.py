"""mem0 as a second peer: adds and searches side by side with this service, on the same data.

mem0 (``mem0ai`` from PyPI) runs in-process in ``mem0_driver.py``, executed by the python of
its own venv (``benchmarks/.mem0-venv``, created on first use; ``--mem0-venv PATH`` or
``$REME_MEM0_VENV`` for another). Its vector store is pgvector in a database ``mem0`` of the
embedded PostgreSQL this benchmark starts for our service; its embedder and LLM are the
OpenAI-compatible stand-in our side uses, at the same dimension.

- adds: ``Memory.add(..., infer=False)``, one memory per call (raw memories, no LLM
  extraction: the fair counterpart of a ``vector_store`` load), against ours ``POST
  /v1/workspaces/{ws}/memories`` with one memory per request, the two interleaved call by call
  on the same texts; then mem0 alone adds the rest of each size.
- searches: ``Memory.search(query, top_k=5, filters={"user_id": ...})`` in-process against
  ours over HTTP (``/v1`` search and ``retrieve_task_memory_simple``, top_k 5), interleaved
  query by query (the order rotates), on the same memories (one mem0 collection per size).
- ``infer=True``: a few adds through the stand-in's chat, labelled apart.

    python -m benchmarks.bench_mem0 [--quick] [--sizes 1000,10000] [--mem0-venv PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app.store.memories import embedding_text
from benchmarks import datagen
from benchmarks.bench_load import LoadPlan, label, populate, workspace
from benchmarks.bench_retrieval import _check_flow, _check_search
from benchmarks.common import (
    REPO,
    Bench,
    add_common_args,
    clean_env,
    latency_summary,
    log,
    machine_info,
    ratio,
    write_results,
)
from benchmarks.peer import has_version, install_venv

MEM0_VERSION = "2.2.1"
# mem0's pgvector store prefers psycopg 3 with its pool, and falls back to psycopg2.
MEM0_PACKAGES = [f"mem0ai=={MEM0_VERSION}", "psycopg[binary,pool]"]
DEFAULT_VENV = Path(__file__).resolve().parent / ".mem0-venv"
DRIVER = Path(__file__).resolve().parent / "mem0_driver.py"
DATABASE = "mem0"
TOP_K = 5
DEFAULT_SIZES = [1000, 10_000]
ADD_CHUNK = 500
TARGET_RATIO = 10.0


# ---------------------------------------------------------------------------------------------
# The venv


def default_venv() -> Path:
    return Path(os.environ.get("REME_MEM0_VENV") or DEFAULT_VENV)


def mem0_ready(venv_dir: Path) -> bool:
    """True when the venv imports the pinned mem0ai."""
    return has_version(venv_dir, "mem0ai", MEM0_VERSION)


def ensure_mem0(venv_dir: Path | None = None) -> Path:
    """The python of the mem0 venv, installing the pinned packages when missing."""
    venv_dir = (venv_dir or default_venv()).resolve()
    if mem0_ready(venv_dir):
        return venv_dir / "bin" / "python"
    log(f"creating the mem0 venv at {venv_dir} ({' '.join(MEM0_PACKAGES)}) ...")
    install_venv(venv_dir, MEM0_PACKAGES)
    if not mem0_ready(venv_dir):
        raise RuntimeError(f"the mem0 venv at {venv_dir} does not import mem0ai {MEM0_VERSION}")
    return venv_dir / "bin" / "python"


# ---------------------------------------------------------------------------------------------
# mem0's database and the driver process


def create_database(bench: Bench) -> str:
    """A database ``mem0`` with pgvector in the embedded server; its libpq connection string."""
    assert bench.ours is not None
    dsn = bench.ours.dsn()

    async def create() -> None:
        connection = await asyncpg.connect(**dsn)
        try:
            exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
            if not exists:
                await connection.execute(f"CREATE DATABASE {DATABASE}")
        finally:
            await connection.close()
        connection = await asyncpg.connect(**{**dsn, "database": DATABASE})
        try:
            await connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        finally:
            await connection.close()

    asyncio.run(create())
    return f"host={dsn['host']} port={dsn['port']} user={dsn['user']} dbname={DATABASE}"


def vacuum_analyze(bench: Bench, tables: list[str]) -> None:
    """The same treatment our table gets after loading (``bench_load.settle``)."""
    assert bench.ours is not None

    async def vacuum() -> None:
        connection = await asyncpg.connect(**{**bench.ours.dsn(), "database": DATABASE})  # type: ignore[union-attr]
        try:
            for table in tables:
                await connection.execute(f'VACUUM (ANALYZE) "{table}"')
        finally:
            await connection.close()

    asyncio.run(vacuum())


class Driver:
    """``mem0_driver.py`` under the mem0 venv's python: one JSON request, one JSON answer."""

    def __init__(self, python: Path, bench: Bench, dsn: str) -> None:
        assert bench.stand_in is not None and bench.workdir is not None
        home = bench.workdir / "mem0"
        home.mkdir(exist_ok=True)
        env = clean_env()
        env.update({"MEM0_TELEMETRY": "False", "MEM0_DIR": str(home), "PYTHONUNBUFFERED": "1"})
        env.pop("PYTHONPATH", None)
        argv = [
            str(python),
            str(DRIVER),
            "--dsn",
            dsn,
            "--base-url",
            bench.stand_in.base_url,
            "--dim",
            str(bench.dim),
            "--history-dir",
            str(home),
        ]
        self.log_path = bench.workdir / "mem0.log"
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            argv, env=env, cwd=home, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log
        )
        ready = self._read()
        if not ready.get("ready"):
            raise RuntimeError(f"mem0 driver did not start: {ready}")

    def _read(self) -> dict[str, Any]:
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline()
        if not line:
            tail = self.log_path.read_text(errors="replace").splitlines()[-30:]
            raise RuntimeError("mem0 driver exited:\n" + "\n".join(tail))
        return dict(json.loads(line))

    def call(self, **request: Any) -> dict[str, Any]:
        assert self.popen.stdin is not None
        self.popen.stdin.write((json.dumps(request) + "\n").encode())
        self.popen.stdin.flush()
        answer = self._read()
        if not answer.pop("ok", False):
            raise RuntimeError(f"mem0 {request.get('op')} failed: {answer.get('error')}")
        return answer

    def close(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(RuntimeError, BrokenPipeError, ValueError):
                self.call(op="quit")
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()


# ---------------------------------------------------------------------------------------------
# The same memories on both sides


def collection(size: int) -> str:
    return f"bench_{label(size)}"


def mem0_items(size: int) -> list[dict[str, Any]]:
    """The memories ours holds in ``workspace(size)``: mem0 stores the text our vectors encode."""
    items = []
    for record in datagen.generate(workspace(size), size):
        text = embedding_text(
            record["when_to_use"],
            record["content"],
            memory_type=record["memory_type"],
            target=record.get("target", ""),
        )
        metadata = {"memory_type": record["memory_type"], "content": record["content"]}
        items.append({"text": text, "metadata": metadata, "record": record})
    return items


def _our_memory(record: dict[str, Any]) -> dict[str, Any]:
    keys = ("memory_type", "when_to_use", "content", "score", "target", "author", "metadata")
    return {key: record[key] for key in keys if key in record}


def _rate(side: str, path: str, count: int, seconds: float, **extra: Any) -> dict[str, Any]:
    row = {"side": side, "path": path, "count": count, "seconds": round(seconds, 2)}
    row["per_s"] = round(count / seconds, 1) if seconds > 0 else None
    row.update(extra)
    log(f"adds {side} {path} {count}: {seconds:.1f}s = {row['per_s']}/s")
    return row


def load_sizes(bench: Bench, driver: Driver, sizes: list[int], interleaved: int) -> list[dict[str, Any]]:
    """mem0 gets every memory of each size; the first ``interleaved`` alternate with our adds."""
    assert bench.ours is not None
    rows: list[dict[str, Any]] = []
    for size in sizes:
        items = mem0_items(size)
        user = workspace(size)
        sample = items[: min(interleaved, size)] if size == min(sizes) else []
        scratch = f"mem0-adds-{label(size)}"
        mem0_seconds: list[float] = []
        ours_seconds: list[float] = []
        driver.call(op="count", collection=collection(size))  # creates the table before timing
        load_before = os.getloadavg()[0]
        with httpx.Client(base_url=bench.ours.base_url, timeout=60) as client:
            if sample:  # the workspace exists before the first timed add, as mem0's table does
                client.post("/v1/workspaces", json={"id": scratch}).raise_for_status()
            for index, item in enumerate(sample):
                order = ("mem0", "ours") if index % 2 == 0 else ("ours", "mem0")
                for side in order:
                    if side == "mem0":
                        answer = driver.call(
                            op="add",
                            collection=collection(size),
                            user_id=user,
                            text=item["text"],
                            metadata=item["metadata"],
                            infer=False,
                        )
                        if answer["added"] != 1:
                            raise RuntimeError(f"mem0 add stored {answer['added']} memories")
                        mem0_seconds.append(answer["seconds"])
                    else:
                        started = time.perf_counter()
                        response = client.post(
                            f"/v1/workspaces/{scratch}/memories", json=_our_memory(item["record"])
                        )
                        ours_seconds.append(time.perf_counter() - started)
                        if response.status_code not in (200, 201):
                            raise RuntimeError(
                                f"our add failed: {response.status_code} {response.text[:300]}"
                            )
            if sample:
                client.delete(f"/v1/workspaces/{scratch}").raise_for_status()
        if sample:
            extra = {"load_average": round(load_before, 2), "interleaved": True}
            rows.append(
                _rate("ours", "/v1 add, one memory per request", len(sample), sum(ours_seconds), **extra)
            )
            rows.append(_rate("mem0", "Memory.add infer=False", len(sample), sum(mem0_seconds), **extra))
        rest = items[len(sample) :]
        total = sum(mem0_seconds)
        for start in range(0, len(rest), ADD_CHUNK):
            chunk = [{"text": i["text"], "metadata": i["metadata"]} for i in rest[start : start + ADD_CHUNK]]
            answer = driver.call(
                op="add_many", collection=collection(size), user_id=user, items=chunk, infer=False
            )
            if answer["added"] != len(chunk):
                raise RuntimeError(f"mem0 stored {answer['added']} of {len(chunk)} memories")
            total += answer["seconds"]
        stored = driver.call(op="count", collection=collection(size))["count"]
        if stored != size:
            raise RuntimeError(f"mem0 collection {collection(size)} holds {stored} rows, expected {size}")
        if not rest:  # every add of this size was in the interleaved sample, already reported
            continue
        rows.append(
            _rate(
                "mem0",
                "Memory.add infer=False",
                size,
                total,
                load_average=round(load_before, 2),
                interleaved=False,
                note=f"every memory of the {label(size)} collection, one per call",
            )
        )
    vacuum_analyze(bench, [collection(size) for size in sizes])
    return rows


# ---------------------------------------------------------------------------------------------
# Searches, interleaved query by query


def search_sizes(
    bench: Bench, driver: Driver, sizes: list[int], requests: int, warmup: int
) -> list[dict[str, Any]]:
    assert bench.ours is not None
    texts = datagen.queries(requests + warmup, seed=21)
    rows: list[dict[str, Any]] = []
    with httpx.Client(base_url=bench.ours.base_url, timeout=60) as client:
        for size in sizes:
            ws = workspace(size)
            samples: dict[str, list[float]] = {"mem0": [], "flow": [], "search": []}
            returned: list[int] = []
            load_before = os.getloadavg()[0]
            for index, query in enumerate(texts):
                sides = ["mem0", "flow", "search"]
                shift = index % len(sides)
                for side in sides[shift:] + sides[:shift]:
                    if side == "mem0":
                        answer = driver.call(
                            op="search", collection=collection(size), user_id=ws, query=query, top_k=TOP_K
                        )
                        seconds = float(answer["seconds"])
                        returned.append(int(answer["returned"]))
                    elif side == "flow":
                        body = {"workspace_id": ws, "query": query, "top_k": TOP_K}
                        started = time.perf_counter()
                        response = client.post("/retrieve_task_memory_simple", json=body)
                        seconds = time.perf_counter() - started
                        _check_flow(response)
                    else:
                        body = {"query": query, "top_k": TOP_K, "memory_type": "task"}
                        started = time.perf_counter()
                        response = client.post(f"/v1/workspaces/{ws}/search", json=body)
                        seconds = time.perf_counter() - started
                        _check_search(response)
                    if index >= warmup:
                        samples[side].append(seconds)
            load = {
                "load_average_before": round(load_before, 2),
                "load_average_after": round(os.getloadavg()[0], 2),
            }
            counted = returned[warmup:]
            rows.append(
                {
                    "side": "mem0",
                    "route": "Memory.search (in-process)",
                    "size": size,
                    **latency_summary(samples["mem0"]),
                    "returned_min": min(counted),
                    "returned_mean": round(statistics.fmean(counted), 2),
                    **load,
                }
            )
            rows.append(
                {
                    "side": "ours",
                    "route": "retrieve_task_memory_simple",
                    "size": size,
                    **latency_summary(samples["flow"]),
                    **load,
                }
            )
            rows.append(
                {
                    "side": "ours",
                    "route": "/v1 search",
                    "size": size,
                    **latency_summary(samples["search"]),
                    **load,
                }
            )
            log(
                f"search {label(size)}: "
                + ", ".join(f"{r['side']} {r['route']} p50 {r['p50_ms']} ms" for r in rows[-3:])
            )
    return rows


def search_parts(bench: Bench, driver: Driver, sizes: list[int], count: int) -> list[dict[str, Any]]:
    """Where mem0's search time goes: its embedding call, vector search and keyword search."""
    texts = datagen.queries(count, seed=45)
    rows = []
    for size in sizes:
        parts: dict[str, list[float]] = {"embed": [], "vector": [], "keyword": []}
        for query in texts:
            answer = driver.call(
                op="search_parts",
                collection=collection(size),
                user_id=workspace(size),
                query=query,
                top_k=TOP_K,
            )
            for name, samples in parts.items():
                samples.append(float(answer[name]))
        row = {"size": size, **{name: latency_summary(samples) for name, samples in parts.items()}}
        rows.append(row)
        log(f"mem0 search parts {label(size)}: " + ", ".join(f"{k} p50 {row[k]['p50_ms']} ms" for k in parts))
    return rows


# mem0 2.2.1's vector search statement (mem0/vector_stores/pgvector.py, ``PGVector.search``) for
# a user filter, with its over-fetch of 60 for a top 5.
MEM0_VECTOR_SQL = (
    'SELECT id, vector <=> $1::text::vector AS distance, payload FROM "{table}" '
    "WHERE payload->>'user_id' = $2 ORDER BY distance LIMIT 60"
)


def explain_vector_search(bench: Bench, sizes: list[int]) -> list[dict[str, Any]]:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of mem0's vector search statement, once per size."""
    assert bench.ours is not None and bench.stand_in is not None
    query = datagen.queries(1, seed=46)[0]
    body = {"model": "bench", "input": [query]}
    vector = httpx.post(f"{bench.stand_in.base_url}/embeddings", json=body, timeout=30).json()
    literal = "[" + ",".join(f"{x:.7g}" for x in vector["data"][0]["embedding"]) + "]"

    async def explain() -> list[dict[str, Any]]:
        connection = await asyncpg.connect(**{**bench.ours.dsn(), "database": DATABASE})  # type: ignore[union-attr]
        try:
            out = []
            for size in sizes:
                sql = MEM0_VECTOR_SQL.format(table=collection(size))
                lines = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", literal, workspace(size))
                plan = [re.sub(r"'\[[^\]]*\]'", "'[...]'", line[0]) for line in lines]
                out.append({"size": size, "statement": sql, "plan": plan})
            return out
        finally:
            await connection.close()

    return asyncio.run(explain())


def ratios(search: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """mem0's in-process latency over ours over HTTP, per size, route and percentile."""
    out = []
    for row in (r for r in search if r["side"] == "mem0"):
        for ours in (r for r in search if r["side"] == "ours" and r["size"] == row["size"]):
            out.append(
                {
                    "size": row["size"],
                    "route": ours["route"],
                    "p50": ratio(row["p50_ms"], ours["p50_ms"]),
                    "p95": ratio(row["p95_ms"], ours["p95_ms"]),
                    "p99": ratio(row["p99_ms"], ours["p99_ms"]),
                }
            )
    return out


def infer_adds(bench: Bench, driver: Driver, count: int) -> dict[str, Any]:
    """``infer=True``: mem0's extraction pipeline through the stand-in's chat.

    The stand-in fills JSON schemas; mem0 asks for a schema-less ``json_object``, so the answer
    is ``{}``: mem0 extracts nothing and stores nothing. What this measures is the pipeline
    around the model call (history read, a search, the chat call, history write).
    """
    assert bench.stand_in is not None
    texts = datagen.queries(count, seed=33)
    before = bench.stand_in.stats()
    seconds, added = [], 0
    for text in texts:
        answer = driver.call(op="add", collection="bench_infer", user_id="infer", text=text, infer=True)
        seconds.append(float(answer["seconds"]))
        added += int(answer["added"])
    after = bench.stand_in.stats()
    chat_calls = int(after.get("chat_calls", 0)) - int(before.get("chat_calls", 0))
    summary = {"count": count, "stored": added, "chat_calls": chat_calls, **latency_summary(seconds)}
    log(
        f"mem0 infer=True: {count} adds, {added} stored, {chat_calls} chat calls, "
        f"p50 {summary.get('p50_ms')} ms"
    )
    return summary


def run(
    bench: Bench,
    sizes: list[int],
    requests: int,
    warmup: int = 20,
    interleaved_adds: int = 1000,
    infer_count: int = 20,
    venv_dir: Path | None = None,
) -> dict[str, Any]:
    """Everything above, on the workspaces ``populate`` loaded for ``sizes``."""
    python = ensure_mem0(venv_dir)
    dsn = create_database(bench)
    driver = Driver(python, bench, dsn)
    try:
        results: dict[str, Any] = {"versions": driver.call(op="versions"), "sizes": sizes}
        results["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
        results["adds"] = load_sizes(bench, driver, sizes, interleaved_adds)
        results["search"] = search_sizes(bench, driver, sizes, requests, warmup)
        results["ratios"] = ratios(results["search"])
        results["explain"] = explain_vector_search(bench, sizes)
        results["search_parts"] = search_parts(bench, driver, sizes, 50 if requests >= 100 else 20)
        if infer_count > 0:
            results["infer"] = infer_adds(bench, driver, infer_count)
        results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        driver.close()
    return results


# ---------------------------------------------------------------------------------------------
# Tables


def _line(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown(results: dict[str, Any]) -> str:
    version = results.get("versions", {}).get("mem0ai", "?")
    out = [
        f"### mem0 {version} in-process against ours over HTTP (top_k {TOP_K})",
        "",
        _line("side", "call", "memories", "n", "p50 ms", "p95 ms", "p99 ms", "load avg"),
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results.get("search", []):
        cells = (r["side"], r["route"], f"{r['size']:,}", r["n"], r["p50_ms"], r["p95_ms"], r["p99_ms"])
        out.append(_line(*cells, r.get("load_average_before", "")))
    out += [
        "",
        _line("memories", "our call", "mem0 p50 / ours p50", "p95", "p99", "10x at 10k"),
        "|---:|---|---:|---:|---:|---|",
    ]
    for r in results.get("ratios", []):
        met = "—" if r["size"] != 10_000 else ("yes" if (r["p50"] or 0) >= TARGET_RATIO else "**no**")
        out.append(_line(f"{r['size']:,}", r["route"], f"{r['p50']}x", f"{r['p95']}x", f"{r['p99']}x", met))
    out += [
        "",
        _line("side", "adds", "memories", "seconds", "per s", "interleaved"),
        "|---|---|---:|---:|---:|---|",
    ]
    for r in results.get("adds", []):
        out.append(
            _line(
                r["side"],
                r["path"],
                f"{r['count']:,}",
                r["seconds"],
                f"{r['per_s']:,}",
                "yes" if r["interleaved"] else "no",
            )
        )
    parts = results.get("search_parts") or []
    if parts:
        out += ["", _line("memories", "mem0 step", "p50 ms", "p95 ms"), "|---:|---|---:|---:|"]
        for row in parts:
            for name, title in (
                ("embed", "query embedding"),
                ("vector", "vector search, top 60"),
                ("keyword", "keyword search, top 60"),
            ):
                out.append(_line(f"{row['size']:,}", title, row[name]["p50_ms"], row[name]["p95_ms"]))
    infer = results.get("infer")
    if infer:
        out += [
            "",
            f"mem0 `infer=True` (extraction through the stand-in's chat, which answers `{{}}` to mem0's "
            f"schema-less request, so nothing is stored): {infer['count']} adds, "
            f"{infer['chat_calls']} chat calls, "
            f"p50 {infer.get('p50_ms')} ms, p99 {infer.get('p99_ms')} ms per add.",
        ]
    return "\n".join(out)


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument(
        "--sizes", default=",".join(str(s) for s in DEFAULT_SIZES), help="memories per collection"
    )
    parser.add_argument("--requests", type=int, default=300, help="counted searches per side and size")
    parser.add_argument(
        "--interleaved-adds", type=int, default=1000, help="adds alternated with ours (smallest size)"
    )
    parser.add_argument("--infer", type=int, default=20, help="mem0 adds with infer=True (0: none)")
    parser.add_argument("--mem0-venv", type=Path, default=None, help=f"mem0 venv (default {default_venv()})")
    args = parser.parse_args()
    sizes = [1000] if args.quick else sorted(_sizes(args.sizes))
    requests = 50 if args.quick else args.requests
    interleaved = min(args.interleaved_adds, 200) if args.quick else args.interleaved_adds
    plan = LoadPlan(
        vector_store=[s for s in sizes if s <= 10_000], bulk=[s for s in sizes if s > 10_000], peer=[]
    )
    started = time.perf_counter()
    results: dict[str, Any] = {"machine": machine_info(), "args": vars(args), "dim": args.dim}
    results["git"] = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    bench = Bench(dim=args.dim, with_peer=False, workdir=args.workdir, keep=args.keep)
    with bench:
        results["load"] = populate(bench, plan)
        results["mem0"] = run(
            bench,
            sizes,
            requests,
            interleaved_adds=interleaved,
            infer_count=args.infer,
            venv_dir=args.mem0_venv,
        )
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    results["machine"]["load_average_after"] = machine_info()["load_average"]
    write_results("mem0", results, args.out)
    print(markdown(results["mem0"]))


if __name__ == "__main__":
    main()
