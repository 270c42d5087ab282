"""Citus, the distributed engine for PostgreSQL: is the database a Citus coordinator?

With Citus every workspace table is distributed by ``workspace_id`` and co-located with
``workspace`` (migration 0005), so a statement that names one workspace runs on one shard.
Two things change at run time, both keyed per workspace:

- the job queue is claimed in two steps (:func:`app.store.jobs.claim_job`), since
  ``SELECT ... FOR UPDATE SKIP LOCKED`` across shards is not a single-shard statement;
- advisory locks are taken on the worker holding the workspace's shard
  (:func:`workspace_lock_statement`), not on the coordinator, so they hold whichever node
  a service process connects to.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import SchemaMismatch

CitusMode = Literal["auto", "on", "off"]

# Set by Database.session() on every session, read by the data layer.
SESSION_FLAG = "citus"


class CitusMissing(SchemaMismatch):
    """REME_DATABASE__CITUS=on, but the database has no citus extension."""


def citus_installed(connection: Connection) -> bool:
    """True when the connected database has the citus extension."""
    found = connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).first()
    return found is not None


def use_citus(mode: CitusMode, installed: bool) -> bool:
    """Whether to lay out (and use) the schema for Citus, from the setting and the database."""
    if mode == "on" and not installed:
        raise CitusMissing(
            "REME_DATABASE__CITUS=on but the database has no citus extension; run "
            "CREATE EXTENSION citus on the coordinator, or set REME_DATABASE__CITUS=auto"
        )
    return installed and mode != "off"


def detect(connection: Connection, mode: CitusMode) -> bool:
    return use_citus(mode, citus_installed(connection))


def on_citus(session: AsyncSession) -> bool:
    """Whether this session's database was found to be a Citus coordinator."""
    return bool(session.info.get(SESSION_FLAG))


def workspace_lock_statement(session: AsyncSession, key: str = ":key") -> str:
    """SQL taking a transaction advisory lock on ``key`` (an SQL expression) for the
    workspace ``:workspace_id``.

    On Citus the lock is taken by a query routed to the workspace's shard, so it lives on
    the worker that holds the workspace (and that the rest of the transaction writes to);
    on PostgreSQL it is the plain function call.
    """
    if on_citus(session):
        return f"SELECT pg_advisory_xact_lock({key}) FROM workspace WHERE id = :workspace_id"
    return f"SELECT pg_advisory_xact_lock({key})"
