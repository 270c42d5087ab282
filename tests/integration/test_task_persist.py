"""The statements of a task summary's two transactions: trajectories stored, locks, results written."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import Database
from app.errors import Conflict
from app.pipelines.task.domain import NewTrajectory
from app.store.memories import NewMemory, get_memories, memory_snapshot, memory_to_reme
from app.store.task import hold_and_lock_workspace, insert_trajectories, write_summary

WORKSPACE = "persist-check"
LOCK_KEY = "hashtext('reme:ws:' || :ws)"


@pytest.fixture
async def workspace(engine: AsyncEngine) -> AsyncIterator[str]:
    yield WORKSPACE
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM workspace WHERE id = :ws"), {"ws": WORKSPACE})


def new_trajectory(task_id: str) -> NewTrajectory:
    messages = [
        {"role": "user", "content": "Book a flight to Lisbon"},
        {"role": "assistant", "content": "Done."},
    ]
    return NewTrajectory(task_id=task_id, messages=messages, score=1.0, metadata={"run": task_id})


async def test_trajectories_create_their_workspace_and_are_stored_pending_with_a_lease(
    database: Database, engine: AsyncEngine, workspace: str
) -> None:
    async with database.session() as session:
        stored = await insert_trajectories(
            session, workspace, [new_trajectory("a"), new_trajectory("b")], lease_seconds=600
        )

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT id, task_id, messages, metadata, status, lease_until FROM trajectory "
                    "WHERE workspace_id = :ws ORDER BY task_id"
                ),
                {"ws": workspace},
            )
        ).all()
    assert [row.id for row in rows] == [t.id for t in stored]
    assert [row.task_id for row in rows] == ["a", "b"]
    assert rows[0].messages == stored[0].messages and rows[1].metadata == {"run": "b"}
    assert {row.status for row in rows} == {"pending"}
    soon = datetime.now(UTC) + timedelta(seconds=500)
    assert all(row.lease_until > soon for row in rows)


async def test_trajectories_without_a_lease_have_none(
    database: Database, engine: AsyncEngine, workspace: str
) -> None:
    async with database.session() as session:
        await insert_trajectories(session, workspace, [new_trajectory("a")])

    async with engine.connect() as conn:
        lease = await conn.scalar(
            text("SELECT lease_until FROM trajectory WHERE workspace_id = :ws"), {"ws": workspace}
        )
    assert lease is None


async def test_written_summary_returns_its_memories_as_they_read_back(
    database: Database, engine: AsyncEngine, workspace: str
) -> None:
    async with database.session() as session:
        [run] = await insert_trajectories(session, workspace, [new_trajectory("a")])
    memories = [
        NewMemory(
            memory_type="task",
            when_to_use=f"When booking flight {i}",
            content=f"Compare the fees of flight {i}.",
            embedding=[float(i + 1)] + [0.5] * 383,
            score=0.8,
            author="stand-in-chat",
            metadata={"tags": ["travel"], "confidence": 0.75, "task_id": "a"},
            source_trajectory_id=run.id,
        )
        for i in range(2)
    ]
    records = [
        {
            "trajectory_id": run.id,
            "memory_id": m.memory_id,
            "candidate": {"content": m.content},
            "is_valid": True,
            "score": 0.8,
            "feedback": "clear",
            "model": "stand-in-chat",
        }
        for m in memories
    ] + [
        {
            "trajectory_id": run.id,
            "memory_id": None,
            "candidate": {"content": "too vague"},
            "is_valid": False,
            "score": 0.1,
            "feedback": "vague",
            "model": "stand-in-chat",
        }
    ]

    async with database.session() as session:
        written = await write_summary(
            session, workspace, memories, records, [run.id], reason="summary_task_memory", request_id="req-1"
        )
    async with database.session() as session:
        read = await get_memories(session, workspace, [m.memory_id for m in memories])

    by_id = {m.memory_id: m for m in read}
    assert [memory_to_reme(m) for m in written] == [memory_to_reme(by_id[m.memory_id]) for m in written]
    assert [list(by_id[m.memory_id].embedding or []) for m in written] == [m.embedding for m in memories]
    async with engine.connect() as conn:
        events = (
            await conn.execute(
                text(
                    "SELECT memory_id, action, after, reason, request_id FROM memory_event "
                    "WHERE workspace_id = :ws"
                ),
                {"ws": workspace},
            )
        ).all()
        verdicts = (
            await conn.execute(
                text(
                    "SELECT memory_id, is_valid, feedback FROM validation_record "
                    "WHERE workspace_id = :ws ORDER BY id"
                ),
                {"ws": workspace},
            )
        ).all()
        status = (
            await conn.execute(
                text("SELECT status, attempts, processed_at FROM trajectory WHERE workspace_id = :ws"),
                {"ws": workspace},
            )
        ).one()
    assert sorted((e.memory_id, e.action, e.reason, e.request_id) for e in events) == sorted(
        (m.memory_id, "add", "summary_task_memory", "req-1") for m in memories
    )
    assert {e.memory_id: e.after for e in events} == {
        m.memory_id: memory_snapshot(by_id[m.memory_id]) for m in memories
    }
    assert [(v.memory_id, v.is_valid, v.feedback) for v in verdicts] == [
        (memories[0].memory_id, True, "clear"),
        (memories[1].memory_id, True, "clear"),
        (None, False, "vague"),
    ]
    assert (status.status, status.attempts) == ("done", 1) and status.processed_at is not None


async def test_a_summary_with_nothing_to_keep_still_marks_its_trajectories_done(
    database: Database, engine: AsyncEngine, workspace: str
) -> None:
    async with database.session() as session:
        [run] = await insert_trajectories(session, workspace, [new_trajectory("a")])
    async with database.session() as session:
        written = await write_summary(session, workspace, [], [], [run.id], reason="r", request_id=None)

    async with engine.connect() as conn:
        status = await conn.scalar(text("SELECT status FROM trajectory WHERE id = :id"), {"id": run.id})
        memories = await conn.scalar(
            text("SELECT count(*) FROM memory WHERE workspace_id = :ws"), {"ws": workspace}
        )
    assert written == [] and status == "done" and memories == 0


async def test_holding_a_deleted_workspace_is_a_conflict(database: Database) -> None:
    with pytest.raises(Conflict, match="deleted while summary_task_memory was running"):
        async with database.session() as session:
            await hold_and_lock_workspace(session, f"gone-{uuid.uuid4().hex}", doing="summary_task_memory")


async def test_the_workspace_lock_is_held_until_the_transaction_ends(
    database: Database, engine: AsyncEngine, workspace: str
) -> None:
    async with database.session() as session:
        await insert_trajectories(session, workspace, [new_trajectory("a")])

    async with database.session() as session, engine.connect() as other:
        await hold_and_lock_workspace(session, workspace, doing="summary_task_memory")
        advisory_free = await other.scalar(
            text(f"SELECT pg_try_advisory_xact_lock({LOCK_KEY})"), {"ws": workspace}
        )
        unlocked = await other.execute(
            text("SELECT id FROM workspace WHERE id = :ws FOR NO KEY UPDATE SKIP LOCKED"), {"ws": workspace}
        )
        row_free = unlocked.all()
        await other.rollback()

    assert advisory_free is False
    assert row_free == []


async def test_the_workspace_row_is_locked_before_the_advisory_lock_is_taken(
    database: Database, engine: AsyncEngine, workspace: str
) -> None:
    # Other writers (personal summaries) lock the row, then take the advisory lock: a summary
    # holding the advisory lock while it waits for the row could deadlock with them.
    async with database.session() as session:
        await insert_trajectories(session, workspace, [new_trajectory("a")])

    async with engine.connect() as holder, engine.connect() as probe:
        await holder.execute(
            text("SELECT id FROM workspace WHERE id = :ws FOR NO KEY UPDATE"), {"ws": workspace}
        )

        async def summary() -> None:
            async with database.session() as session:
                await hold_and_lock_workspace(session, workspace, doing="summary_task_memory")

        waiting = asyncio.create_task(summary())
        for _ in range(500):  # up to 10 s on a loaded machine
            blocked = await probe.scalar(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted")
            )
            await probe.rollback()
            if blocked:
                break
            await asyncio.sleep(0.02)
        advisory_free = await probe.scalar(
            text(f"SELECT pg_try_advisory_xact_lock({LOCK_KEY})"), {"ws": workspace}
        )
        await probe.rollback()
        await holder.rollback()
        await asyncio.wait_for(waiting, timeout=10)

    assert blocked
    assert advisory_free is True
