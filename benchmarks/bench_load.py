"""Bulk load throughput (memories/s, embedding calls included), and the data the others read.

Ours: ``POST /vector_store`` ``load`` (ReMe's action and file format), ``reme load`` (the CLI;
when this build has none, ``POST /v1/workspaces/{ws}/import`` NDJSON in 10k-line requests).
Peer: ReMe's ``vector_store`` ``load`` into its ``local`` (file) store.

Every workspace lives in one database, so each size is searched among the others: the
workspace filter has rows to exclude. One workspace of personal memories is extra noise.

    python -m benchmarks.bench_load [--quick] [--no-peer]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from benchmarks import datagen
from benchmarks.common import Bench, add_common_args, bench_from_args, log, write_results

IMPORT_CHUNK_LINES = 10_000
NOISE_WORKSPACE = "noise-mixed"


def label(count: int) -> str:
    return f"{count // 1000}k" if count % 1000 == 0 and count >= 1000 else str(count)


def workspace(count: int) -> str:
    return f"bench-{label(count)}"


@dataclass
class LoadPlan:
    """Which sizes go through which path; defaults are the full run."""

    vector_store: list[int] = field(default_factory=lambda: [1000, 5000, 10_000])
    bulk: list[int] = field(default_factory=lambda: [100_000])
    peer: list[int] = field(default_factory=lambda: [1000, 5000])
    noise: int = 5000

    @classmethod
    def quick(cls) -> LoadPlan:
        return cls(vector_store=[1000, 5000], bulk=[10_000], peer=[1000], noise=1000)

    @classmethod
    def for_sizes(cls, sizes: list[int], peer_sizes: list[int]) -> LoadPlan:
        """Sizes up to 10k through ``vector_store`` load, larger ones through the bulk path."""
        return cls(
            vector_store=[s for s in sizes if s <= 10_000],
            bulk=[s for s in sizes if s > 10_000],
            peer=peer_sizes,
            noise=5000,
        )

    @property
    def ours(self) -> list[int]:
        return sorted({*self.vector_store, *self.bulk})


def _throughput(path: str, side: str, count: int, seconds: float, **extra: Any) -> dict[str, Any]:
    row = {
        "side": side,
        "path": path,
        "count": count,
        "seconds": round(seconds, 2),
        "per_s": round(count / seconds, 1),
    }
    row.update(extra)
    log(f"load {side} {path} {count}: {seconds:.1f}s = {count / seconds:,.0f}/s")
    return row


def vector_store_load(base_url: str, workspace_id: str, directory: Path) -> tuple[float, dict[str, Any]]:
    body = {"workspace_id": workspace_id, "action": "load", "path": str(directory)}
    started = time.perf_counter()
    response = httpx.post(f"{base_url}/vector_store", json=body, timeout=3600)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    payload = response.json()
    if not payload.get("success", False):
        raise RuntimeError(f"vector_store load failed: {payload}")
    return elapsed, payload


def _chunks(path: Path, lines: int) -> Iterator[bytes]:
    batch: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            batch.append(line)
            if len(batch) == lines:
                yield "".join(batch).encode()
                batch = []
    if batch:
        yield "".join(batch).encode()


def v1_import(base_url: str, workspace_id: str, path: Path) -> float:
    started = time.perf_counter()
    with httpx.Client(timeout=3600) as client:
        for chunk in _chunks(path, IMPORT_CHUNK_LINES):
            response = client.post(
                f"{base_url}/v1/workspaces/{workspace_id}/import",
                content=chunk,
                headers={"Content-Type": "application/x-ndjson"},
            )
            if response.status_code != 200:
                raise RuntimeError(f"import failed: {response.status_code} {response.text[:300]}")
    return time.perf_counter() - started


def has_cli_load(bench: Bench) -> bool:
    assert bench.ours is not None
    probe = subprocess.run(
        [sys.executable, "-m", "app.cli", "load", "--help"],
        env=bench.ours.env,
        cwd=bench.ours.workdir,
        capture_output=True,
    )
    return probe.returncode == 0


def bulk_load(bench: Bench, workspace_id: str, path: Path, count: int) -> dict[str, Any]:
    """``reme load`` when the CLI has it (process start-up included), else the NDJSON import."""
    assert bench.ours is not None
    if has_cli_load(bench):
        started = time.perf_counter()
        done = bench.ours.cli("load", workspace_id, str(path), log_name="reme-load")
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"reme load failed (see {bench.ours.workdir}/reme-load.log)")
        return _throughput("reme load", "ours", count, elapsed)
    elapsed = v1_import(bench.ours.base_url, workspace_id, path)
    return _throughput("/v1 import (NDJSON)", "ours", count, elapsed, note="no `reme load` in this build")


def workspace_count(base_url: str, workspace_id: str) -> int | None:
    response = httpx.get(f"{base_url}/v1/workspaces/{workspace_id}/stats", timeout=60)
    if response.status_code != 200:
        return None
    stats = response.json()
    for key in ("memory_count", "count", "total"):
        if isinstance(stats.get(key), int):
            return int(stats[key])
    by_type = stats.get("by_type") or stats.get("counts")
    if isinstance(by_type, dict):
        return sum(int(v) for v in by_type.values() if isinstance(v, int))
    return None


def populate(bench: Bench, plan: LoadPlan) -> list[dict[str, Any]]:
    """Write the files, load every workspace on both sides, and return the throughput rows."""
    assert bench.ours is not None
    files = bench.files_dir
    rows: list[dict[str, Any]] = []
    for count in sorted({*plan.ours, *plan.peer}):
        datagen.write_workspace_file(files, workspace(count), count)
    datagen.write_workspace_file(files, NOISE_WORKSPACE, plan.noise, seed=99)

    for count in plan.vector_store:
        elapsed, _ = vector_store_load(bench.ours.base_url, workspace(count), files)
        rows.append(_throughput("vector_store load", "ours", count, elapsed))
    elapsed = v1_import(bench.ours.base_url, NOISE_WORKSPACE, files / f"{NOISE_WORKSPACE}.jsonl")
    rows.append(_throughput("/v1 import (NDJSON)", "ours", plan.noise, elapsed))
    for count in plan.bulk:
        rows.append(bulk_load(bench, workspace(count), files / f"{workspace(count)}.jsonl", count))
    for count in plan.ours:
        stored = workspace_count(bench.ours.base_url, workspace(count))
        if stored is not None and stored != count:
            raise RuntimeError(f"{workspace(count)} holds {stored} memories, expected {count}")

    if bench.peer is not None:
        for count in plan.peer:
            elapsed, payload = vector_store_load(bench.peer.base_url, workspace(count), files)
            size = (payload.get("metadata") or {}).get("action_result", {}).get("size")
            if size != count:
                raise RuntimeError(f"ReMe loaded {size} of {count} memories")
            rows.append(_throughput("vector_store load", "ReMe 0.1.7", count, elapsed))
    rows.append(settle(bench))
    return rows


def settle(bench: Bench) -> dict[str, Any]:
    """``VACUUM (ANALYZE) memory``, as an operator would after a bulk load, before measuring.

    First it waits for the vector index, which the server builds after large loads.

    Otherwise autovacuum starts on the fresh rows (and walks the HNSW index) during the
    first measurements, and the planner works from statistics taken before the load.
    """
    assert bench.ours is not None

    async def vacuum() -> None:
        connection = await asyncpg.connect(**bench.ours.dsn())  # type: ignore[union-attr]
        try:
            # A large load has the server build the vector index after it: measure with it.
            while True:
                if await connection.fetchval("SELECT to_regclass('ix_memory_embedding_hnsw') IS NOT NULL"):
                    break
                await asyncio.sleep(0.5)
            await connection.execute("VACUUM (ANALYZE) memory")
        finally:
            await connection.close()

    started = time.perf_counter()
    asyncio.run(vacuum())
    elapsed = time.perf_counter() - started
    log(f"VACUUM (ANALYZE) memory: {elapsed:.1f}s")
    return {
        "side": "ours",
        "path": "VACUUM (ANALYZE) after loading",
        "count": 0,
        "seconds": round(elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    args = parser.parse_args()
    plan = LoadPlan.quick() if args.quick else LoadPlan()
    with bench_from_args(args) as bench:
        rows = populate(bench, plan)
    write_results("load", {"load": rows}, args.out)
    for row in (r for r in rows if "per_s" in r):
        print(
            f"| {row['side']} | {row['path']} | {row['count']:,} | {row['seconds']} s | {row['per_s']:,}/s |"
        )


if __name__ == "__main__":
    main()
