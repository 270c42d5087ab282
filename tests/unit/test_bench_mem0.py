"""The mem0 comparison's arithmetic and table: which side is divided by which, and the 10x mark."""

from __future__ import annotations

from typing import Any

from benchmarks.bench_mem0 import markdown, ratios


def _row(side: str, route: str, size: int, p50: float, p95: float, p99: float) -> dict[str, Any]:
    return {"side": side, "route": route, "size": size, "n": 300, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99}


SEARCH = [
    _row("mem0", "Memory.search (in-process)", 1000, 15.0, 30.0, 45.0),
    _row("ours", "/v1 search", 1000, 30.0, 30.0, 30.0),
    _row("mem0", "Memory.search (in-process)", 10_000, 70.0, 110.0, 130.0),
    _row("ours", "/v1 search", 10_000, 7.0, 10.0, 13.0),
    _row("ours", "retrieve_task_memory_simple", 10_000, 14.0, 22.0, 26.0),
]


def test_ratios_are_mem0_over_ours_per_size_and_route() -> None:
    rows = ratios(SEARCH)

    assert rows == [
        {"size": 1000, "route": "/v1 search", "p50": 0.5, "p95": 1.0, "p99": 1.5},
        {"size": 10_000, "route": "/v1 search", "p50": 10.0, "p95": 11.0, "p99": 10.0},
        {"size": 10_000, "route": "retrieve_task_memory_simple", "p50": 5.0, "p95": 5.0, "p99": 5.0},
    ]


def test_table_marks_the_10x_target_only_at_10k() -> None:
    text = markdown({"versions": {"mem0ai": "2.2.1"}, "search": SEARCH, "ratios": ratios(SEARCH)})

    assert "mem0 2.2.1 in-process" in text
    assert "| 1,000 | /v1 search | 0.5x | 1.0x | 1.5x | — |" in text
    assert "| 10,000 | /v1 search | 10.0x | 11.0x | 10.0x | yes |" in text
    assert "| 10,000 | retrieve_task_memory_simple | 5.0x | 5.0x | 5.0x | **no** |" in text
