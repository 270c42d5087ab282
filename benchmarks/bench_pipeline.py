"""Pipeline overhead of ``summary_task_memory``: everything except model time.

The stand-in answers every chat and embedding call at once (sub-millisecond) and reports
the time it spent; overhead per trajectory = (request wall time - stand-in busy time) /
trajectories. Model-client time inside the service (the openai client serialising and
parsing) is counted as overhead, so the figure is an upper bound. The trajectory is a real
ReMe one (``tests/fixtures/reme/task_messages.json``).

ReMe's summary flow parses free-text LLM answers in its own format; with a schema-driven
stand-in it extracts nothing, so its timing would not describe the same work. It is
measured only on request (``--peer``), and reported with that caveat.

    python -m benchmarks.bench_pipeline [--requests 20] [--peer]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from typing import Any

import httpx

from benchmarks import datagen
from benchmarks.common import (
    REPO,
    Bench,
    StandIn,
    add_common_args,
    bench_from_args,
    latency_summary,
    log,
    write_results,
)

# ReMe's real trajectory, kept with the tests (tests/fixtures/reme/README.md says where it comes from).
TRAJECTORY_FILE = REPO / "tests" / "fixtures" / "reme" / "task_messages.json"
WORKSPACE = "bench-pipeline"


def trajectory_messages() -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = json.loads(TRAJECTORY_FILE.read_text())
    return messages


def bodies(batches: list[int]) -> list[dict[str, Any]]:
    """Requests of ``n`` trajectories each: alternating outcomes, shared task ids (comparisons)."""
    messages = trajectory_messages()
    out = []
    for number, size in enumerate(batches):
        trajectories = [
            {
                "task_id": f"task-{number}-{index // 2}",
                # A closing line of its own per run, so answers (and memories) differ per run.
                "messages": [*messages, {"role": "user", "content": _run_note(number, index)}],
                "score": 1.0 if index % 2 == 0 else 0.0,
            }
            for index in range(size)
        ]
        out.append({"workspace_id": WORKSPACE, "trajectories": trajectories})
    return out


def _run_note(number: int, index: int) -> str:
    rng = random.Random(f"{number}:{index}")
    words = rng.sample(datagen.OBJECTS + datagen.APPS + datagen.ACTIONS, 8)
    return f"Run {number}.{index} notes: " + " ".join(words)


def measure(base_url: str, stand_in: StandIn, requests: list[dict[str, Any]], side: str) -> dict[str, Any]:
    walls, overheads, memories, llm_calls = [], [], [], []
    steps: dict[str, list[float]] = {}
    with httpx.Client(base_url=base_url, timeout=600) as client:
        for body in requests:
            stand_in.reset()
            started = time.perf_counter()
            response = client.post("/summary_task_memory", json=body)
            wall = time.perf_counter() - started
            stats = stand_in.stats()
            response.raise_for_status()
            payload = response.json()
            if not payload.get("success"):
                raise RuntimeError(f"summary failed: {str(payload)[:300]}")
            metadata = payload.get("metadata") or {}
            count = len(body["trajectories"])
            walls.append(wall / count)
            overheads.append((wall - stats["busy_seconds"]) / count)
            memories.append(len(metadata.get("memory_list") or []))
            llm_calls.append(stats["chat_calls"])
            for step, ms in (metadata.get("timings_ms") or {}).items():
                if isinstance(ms, int | float):
                    steps.setdefault(step, []).append(float(ms))
    return {
        "side": side,
        "requests": len(requests),
        "trajectories_per_request": sorted({len(b["trajectories"]) for b in requests}),
        "wall_per_trajectory": latency_summary(walls),
        "overhead_per_trajectory": latency_summary(overheads),
        "memories_per_request_median": statistics.median(memories),
        "llm_calls_per_request_median": statistics.median(llm_calls),
        "step_ms_median": {k: round(statistics.median(v), 2) for k, v in steps.items()},
    }


def run(bench: Bench, requests: int, with_peer: bool = False) -> list[dict[str, Any]]:
    assert bench.ours is not None and bench.stand_in is not None
    rows = []
    warm = bodies([1, 2])
    measure(bench.ours.base_url, bench.stand_in, warm, "warm-up")
    plan = [1] * requests + [4] * max(1, requests // 4)
    for size in sorted(set(plan)):
        batch = bodies([s for s in plan if s == size])
        rows.append(measure(bench.ours.base_url, bench.stand_in, batch, "ours"))
        overhead = rows[-1]["overhead_per_trajectory"]
        log(f"pipeline ours x{size}: overhead/trajectory p50 {overhead['p50_ms']} ms")
    if with_peer and bench.peer is not None:
        try:
            row = measure(bench.peer.base_url, bench.stand_in, bodies([1] * 5), "ReMe 0.1.7")
            row["caveat"] = "the stand-in's JSON answers are not ReMe's format: it extracts nothing"
            rows.append(row)
        except (RuntimeError, httpx.HTTPError) as exc:
            rows.append({"side": "ReMe 0.1.7", "skipped": f"{type(exc).__name__}: {str(exc)[:200]}"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--peer", action="store_true", help="also time ReMe's summary_task_memory")
    args = parser.parse_args()
    args.no_peer = not args.peer
    with bench_from_args(args) as bench:
        rows = run(bench, 5 if args.quick else args.requests, with_peer=args.peer)
    write_results("pipeline", {"pipeline": rows}, args.out)


if __name__ == "__main__":
    main()
