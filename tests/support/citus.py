"""Runs against a Citus coordinator: detection, and the check that workspace statements are single-shard.

When REME_TEST_DATABASE_URL points at a Citus coordinator, every connection the service opens
(its ``application_name`` starts with ``reme``) sets ``citus.multi_task_query_log_level`` to
``error``: a statement that Citus would split over several shards fails before it runs, and is
recorded here. The statements below are the known exceptions: they read or sweep across
workspaces by nature, and each is let through (the level is lowered for that one statement).
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool
from sqlalchemy.util.concurrency import await_

MULTI_SHARD_ERROR = "multi-task query about to be executed"

# (what, the statement) of every statement allowed to run on every shard.
MULTI_SHARD_ALLOWED: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (what, re.compile(pattern, re.DOTALL))
    for what, pattern in (
        ("workspace listing (GET /v1/workspaces, console)", r"^SELECT workspace\.id\b.*\bFROM workspace\b"),
        (
            "worker job poll (candidates of the two-step claim)",
            r"^SELECT job\.workspace_id, job\.id\s+FROM job",
        ),
        (
            "stranded-trajectory sweep",
            r"^UPDATE trajectory SET status=.*WHERE trajectory\.status = .*lease_until",
        ),
        (
            "GET /v1/jobs/{id} (the id alone names no workspace)",
            r"^SELECT job\..*FROM job\s+WHERE job\.id = \S+$",
        ),
        ("admin: job counts by status", r"^SELECT job\.status, count\(\*\)"),
        ("admin: memory counts per workspace", r"^SELECT workspace\.id, memory\.memory_type, count"),
    )
)


def allowed_reason(statement: str) -> str | None:
    """Why a multi-shard statement is allowed, or None when it must be single-shard."""
    for what, pattern in MULTI_SHARD_ALLOWED:
        if pattern.search(statement.strip()):
            return what
    return None


def citus_coordinator_url() -> str | None:
    """REME_TEST_DATABASE_URL when it is a Citus coordinator with workers, else None."""
    url = os.environ.get("REME_TEST_DATABASE_URL")
    if not url:
        return None
    return url if asyncio.run(_has_workers(url)) else None


async def _has_workers(url: str) -> bool:
    import asyncpg

    from app.db import normalise_url

    conn = await asyncpg.connect(normalise_url(url).replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'citus'"):
            return False
        return bool(await conn.fetchval("SELECT count(*) FROM pg_dist_node WHERE noderole = 'primary'"))
    finally:
        await conn.close()


@dataclass
class MultiShardGuard:
    """Makes the service's multi-shard statements fail, and keeps them for the test's report."""

    refused: list[str] = field(default_factory=list)
    allowed: dict[str, int] = field(default_factory=dict)

    def install(self) -> None:
        event.listen(Pool, "connect", self._on_connect)
        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)
        event.listen(Engine, "handle_error", self._on_error)

    def uninstall(self) -> None:
        event.remove(Pool, "connect", self._on_connect)
        event.remove(Engine, "before_cursor_execute", self._before)
        event.remove(Engine, "after_cursor_execute", self._after)
        event.remove(Engine, "handle_error", self._on_error)

    def _on_connect(self, dbapi_connection: Any, record: Any) -> None:
        # On the driver's connection itself: the adapter's cursor would open a transaction,
        # and the pool's rollback would undo the setting.
        driver = dbapi_connection.driver_connection
        name = str(await_(driver.fetchval("SELECT current_setting('application_name')")))
        if name.startswith("reme"):
            await_(driver.execute("SET citus.multi_task_query_log_level = 'error'"))
            record.info["multi_shard_guard"] = True

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not conn.connection.info.get("multi_shard_guard"):
            return
        reason = allowed_reason(statement)
        if reason is None:
            return
        self.allowed[reason] = self.allowed.get(reason, 0) + 1
        self._set_level(conn, "off")
        conn.info["multi_shard_allowed"] = True

    def _after(self, conn: Any, *args: Any) -> None:
        if conn.info.pop("multi_shard_allowed", False):
            self._set_level(conn, "error")

    def _on_error(self, context: Any) -> None:
        conn = context.connection
        if conn is not None:
            conn.info.pop("multi_shard_allowed", None)
        if MULTI_SHARD_ERROR in str(context.original_exception):
            self.refused.append(" ".join(str(context.statement).split()))

    @staticmethod
    def _set_level(conn: Any, level: str) -> None:
        # A cursor of its own: the statement's cursor holds its rows until they are fetched.
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute(f"SET LOCAL citus.multi_task_query_log_level = '{level}'")
        cursor.close()
