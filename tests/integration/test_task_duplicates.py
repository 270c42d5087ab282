"""The duplicate check of task summaries: same text (normalised) found through its index."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.db import Database
from app.store.task import _STORED_DUPLICATES_SQL, DuplicateProbe, find_stored_duplicates

WORKSPACE = "dup-check"


async def store_steps(conn: AsyncConnection) -> None:
    """Task memories "Step <n> of the task", with vectors far from the probes'."""
    await conn.execute(text("INSERT INTO workspace (id) VALUES (:ws)"), {"ws": WORKSPACE})
    await conn.execute(
        text(
            "INSERT INTO memory (workspace_id, memory_id, memory_type, content, embedding) "
            "SELECT :ws, 'm' || i, 'task', 'Step ' || i || ' of the task', "
            "array_fill(-1.0, ARRAY[384])::vector FROM generate_series(1, 500) AS i"
        ),
        {"ws": WORKSPACE},
    )


async def duplicate_check_plan(session: AsyncSession, workspace_id: str) -> str:
    """EXPLAIN of the duplicate check for one probe with the text of step 7."""
    rows = await session.execute(
        text(f"EXPLAIN {_STORED_DUPLICATES_SQL.text}"),
        {
            "vectors": ["[" + ",".join(["1"] * 384) + "]"],
            "contents": ["step 7 of the task"],
            "workspace_id": workspace_id,
            "max_distance": 0.01,
        },
    )
    return "\n".join(row[0] for row in rows)


@pytest.fixture
async def stored(engine: AsyncEngine) -> AsyncIterator[str]:
    """Task memories "Step <n> of the task", with vectors far from the probes'."""
    async with engine.begin() as conn:
        await store_steps(conn)
        await conn.execute(text("ANALYZE memory"))
    yield WORKSPACE
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM workspace WHERE id = :ws"), {"ws": WORKSPACE})


def probe(content: str) -> DuplicateProbe:
    return DuplicateProbe([1.0] * 384, content)


async def test_a_candidate_with_the_text_of_a_stored_memory_is_its_duplicate(
    database: Database, stored: str
) -> None:
    async with database.session() as session:
        found = await find_stored_duplicates(
            session, stored, [probe("new advice"), probe("  step 7   OF the task ")], 0.99
        )

    assert found == {1: "m7"}


async def test_the_same_text_check_reads_the_normalised_text_index(database: Database, stored: str) -> None:
    async with database.session() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = await duplicate_check_plan(session, stored)

    assert "ix_memory_task_content_key" in plan


@pytest.fixture
async def stored_after_statistics(engine: AsyncEngine) -> AsyncIterator[str]:
    """The same memories, written after the table's last ANALYZE: the planner believes the
    workspace empty, as it does during a burst of summaries into a new workspace."""
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE memory"))
        await store_steps(conn)
    yield WORKSPACE
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM workspace WHERE id = :ws"), {"ws": WORKSPACE})


async def test_on_stale_statistics_each_probe_is_looked_up_with_its_vector_cast_once(
    database: Database, stored_after_statistics: str
) -> None:
    async with database.session() as session:
        plan = await duplicate_check_plan(session, stored_after_statistics)
        found = await find_stored_duplicates(
            session, stored_after_statistics, [probe("  step 7   OF the task ")], 0.99
        )

    # Each probe looked up on its own (not every stored text normalised in a join filter),
    # and its vector cast once, not once per stored row compared
    assert "Join Filter" not in plan
    assert "vec)::vector" not in plan
    assert found == {0: "m7"}


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def test_on_stale_statistics_each_stored_text_is_normalised_once_for_all_probes(
    database: Database, stored_after_statistics: str
) -> None:
    probes = ["new advice", "  step 7   OF the task ", "Step 9 of the task"]
    async with database.session() as session:
        rows = await session.execute(
            text(f"EXPLAIN (ANALYZE, FORMAT JSON) {_STORED_DUPLICATES_SQL.text}"),
            {
                "vectors": ["[" + ",".join(["1"] * 384) + "]"] * len(probes),
                "contents": probes,
                "workspace_id": stored_after_statistics,
                "max_distance": 0.01,
            },
        )
        [[explained]] = rows.all()
        found = await find_stored_duplicates(
            session, stored_after_statistics, [probe(p) for p in probes], 0.99
        )

    plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
    text_scans = [
        node for node in nodes(plan) if "md5(" in node.get("Filter", "") + node.get("Index Cond", "")
    ]
    # One pass over the workspace's texts, not one per probe
    assert text_scans and all(node["Actual Loops"] == 1 for node in text_scans)
    assert found == {1: "m7", 2: "m9"}
