"""The HNSW index over memory vectors, set aside during large loads and built again after them.

Inserting a row into the HNSW graph costs far more than the row itself (about 1,600 rows/s
against 30,000), while building the graph over rows already in the table runs several times
faster and in parallel. So a load that is large against the table drops the index inside its
own transaction (a crash or a failed load rolls the drop back with the rows), commits the rows
without paying for the graph, and the index is then built with ``CREATE INDEX CONCURRENTLY``.

Until it is built, searches rank by exact distance (sequential or b-tree scans): slower on a
large table, never wrong. The concurrent build blocks neither searches nor writes: rows
written meanwhile are added to the index before it is marked valid. A missing index, or one
left invalid by a build that died, is its own durable marker: whoever starts next (or the
next large load) builds it if nobody did. A large load that comes during a build stops it
and has the index built after itself (see :func:`set_index_aside`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db import Database
from app.settings import LoadSettings

log = logging.getLogger(__name__)

INDEX_NAME = "ix_memory_embedding_hnsw"
# Above this, pgvector indexes vectors as halfvec (migration 0001 and `reme reembed` agree).
MAX_VECTOR_INDEX_DIM = 2000
# One builder at a time across processes (pg_advisory_xact_lock key: "vecindex" in ASCII).
BUILD_LOCK_KEY = 0x766563696E646578
# `reme reembed` in progress: it builds the index itself when it is done.
REEMBED_PENDING_KEY = "reembed_pending"


def index_definition(dim: int, *, concurrently: bool = False) -> str:
    """The CREATE INDEX of migration 0001 for vectors of ``dim`` dimensions."""
    if dim <= MAX_VECTOR_INDEX_DIM:
        column = "embedding vector_cosine_ops"
    else:
        column = f"(embedding::halfvec({int(dim)})) halfvec_cosine_ops"
    how = "CONCURRENTLY " if concurrently else ""
    return (
        f"CREATE INDEX {how}IF NOT EXISTS {INDEX_NAME} ON memory USING hnsw "
        f"({column}) WITH (m = 16, ef_construction = 64)"
    )


# Whether the index is valid: NULL when there is none, false while a concurrent build runs or
# after one died (PostgreSQL then keeps the half-built index, unused, until it is dropped).
_INDEX_VALID = text(f"SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('{INDEX_NAME}')")


async def vector_index_present(session: AsyncSession) -> bool:
    """The index exists and searches can use it."""
    return bool(await session.scalar(_INDEX_VALID))


async def vector_index_missing(session: AsyncSession) -> bool:
    """The memory table exists and its vector index does not, or is not valid (a schema not
    yet made is not missing anything)."""
    if not await session.scalar(text("SELECT to_regclass('memory') IS NOT NULL")):
        return False
    return not await vector_index_present(session)


# As the planner estimates a table: rows per page at the last ANALYZE (or VACUUM, or index
# build) times the pages now, so that rows written since count. The statistics lag behind
# large loads: their ANALYZE comes after the index build.
_ESTIMATED_ROWS = text(
    "SELECT greatest(reltuples, CASE WHEN relpages > 0 AND reltuples > 0 THEN reltuples / relpages "
    "* (pg_relation_size(oid) / current_setting('block_size')::int) ELSE 0 END) "
    "FROM pg_class WHERE oid = 'memory'::regclass"
)


async def estimated_rows(session: AsyncSession) -> int:
    """The planner's row estimate for the memory table (no scan; 0 before the first ANALYZE)."""
    value = await session.scalar(_ESTIMATED_ROWS)
    return max(0, int(value or 0))


async def set_index_aside(
    session: AsyncSession, incoming: int, settings: LoadSettings, *, citus: bool
) -> bool:
    """Drop the vector index for this load's transaction when building it after costs less.

    True when the index is now absent (dropped here, or already waiting to be built): the
    caller must have it built after committing. Never on Citus (the index lives on shards).
    """
    if citus or settings.index_rebuild_max_rows <= 0 or incoming < settings.index_rebuild_min_rows:
        return False
    valid = await session.scalar(_INDEX_VALID)
    if valid is None:
        return True
    rows = await estimated_rows(session)
    total = rows + incoming
    if total > settings.index_rebuild_max_rows or incoming < settings.index_rebuild_min_share * total:
        return False
    # Never waits for the lock in PostgreSQL: a load that waited there would deadlock with the
    # build, which waits for every transaction older than its snapshot to end. A build that
    # holds it is stopped instead: the load's rows would otherwise go into its graph one by one
    # (as they are written, or when the build checks for rows it missed), and the load is at
    # least as large as what that build covers, so building again after it costs less.
    if not await _take_build_lock(session):
        return False  # the load keeps the index; the build (or load) holding the lock adds its rows
    await session.execute(text(f"DROP INDEX IF EXISTS {INDEX_NAME}"))
    return True


# How long a load tries for the build lock, and how often: a builder holds it for a few
# statements before and after its CREATE INDEX CONCURRENTLY (one a load can stop), and those
# can wait for the event loop that runs the load itself.
BUILD_LOCK_TRY_SECONDS = 2.0
BUILD_LOCK_TRY_EVERY = 0.05


async def _take_build_lock(session: AsyncSession) -> bool:
    """The build lock for this transaction, stopping a build that holds it; False when the
    lock stays held (by another large load, or a build that cannot be stopped).

    Tries without waiting in PostgreSQL: between tries this transaction holds no snapshot, so
    a build waiting for older transactions to end does not wait for it.
    """
    for _ in range(max(1, round(BUILD_LOCK_TRY_SECONDS / BUILD_LOCK_TRY_EVERY))):
        if await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": BUILD_LOCK_KEY}):
            return True
        if not await _stop_running_build(session):
            await asyncio.sleep(BUILD_LOCK_TRY_EVERY)
    return False


# Backends holding the build lock while they run a concurrent build (not loads: they hold it
# only in their transaction, and run other statements).
_RUNNING_BUILDS = text(
    "SELECT l.pid FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.classid::int8 = :high AND l.objid::int8 = :low AND a.datname = current_database() "
    "AND a.query LIKE 'CREATE INDEX CONCURRENTLY%'"
)
# Milliseconds to wait for a stopped build's backend to end (and release the lock).
STOP_BUILD_WAIT_MS = 10_000


async def _stop_running_build(session: AsyncSession) -> bool:
    """End the backends of a running concurrent build; returns whether there were any.

    The build leaves its index invalid: the load drops it, and whoever requested that build
    finds it again when the load has it built. Without the right to end them, nothing is done.
    """
    params = {"high": BUILD_LOCK_KEY >> 32, "low": BUILD_LOCK_KEY & 0xFFFFFFFF}
    try:
        async with session.begin_nested():  # a refusal must not end the load's transaction
            pids = list((await session.scalars(_RUNNING_BUILDS, params)).all())
            for pid in pids:
                await session.execute(
                    text("SELECT pg_terminate_backend(:pid, :wait)"), {"pid": pid, "wait": STOP_BUILD_WAIT_MS}
                )
    except DBAPIError:
        log.warning("could not stop the running vector index build; the load keeps the index", exc_info=True)
        return False
    if pids:
        log.info("stopped a running vector index build: this load's rows come first, the build after")
    return bool(pids)


_VECTOR_DIM = text(
    "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'memory'::regclass AND attname = 'embedding'"
)


async def build_vector_index(db: Database, settings: LoadSettings) -> bool:
    """Build the index if it is missing or invalid; returns whether this call built it.

    ``CREATE INDEX CONCURRENTLY`` runs outside a transaction, on a connection of its own that
    holds the build lock (a session advisory lock) for the whole build: one builder at a time
    across processes, and loads do not set the index aside meanwhile.
    """
    if db.citus:
        return False
    assert db.engine is not None
    started = time.perf_counter()
    async with db.engine.connect() as connection:
        conn = await connection.execution_options(isolation_level="AUTOCOMMIT")
        try:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": BUILD_LOCK_KEY})
            built = await _build_concurrently(conn, settings)
        except BaseException as exc:
            # Cut short (an error, a cancelled task): the session's lock and settings must
            # not go back to the pool. A half-built index stays invalid until the next build.
            await connection.invalidate()
            if _stopped_by_a_load(exc):
                log.info("a large load stopped the vector index build; it has the index built after it")
                return False
            raise
        await conn.execute(text("RESET maintenance_work_mem"))
        await conn.execute(text("RESET max_parallel_maintenance_workers"))
        await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": BUILD_LOCK_KEY})
        # Loads that set the index aside leave their statistics to this point (ANALYZE and a
        # concurrent build take the same lock: one waits for the other). After the build lock:
        # a large load that comes meanwhile sets the index aside at once (its DROP waits for
        # this ANALYZE) instead of keeping the index; if it holds the table, it builds again.
        try:
            await conn.execute(text("ANALYZE (SKIP_LOCKED) memory"))
        except BaseException:
            await connection.invalidate()
            raise
    if built:
        log.info("built the vector index in %.1f s", time.perf_counter() - started)
    return built


def _stopped_by_a_load(exc: BaseException) -> bool:
    """The build's backend was ended (SQLSTATE 57P01) as :func:`set_index_aside` ends it: the
    driver's error for it is the cause of the 'connection closed' error that reaches here."""
    cause: BaseException | None = exc
    while cause is not None:
        if getattr(cause, "sqlstate", None) == "57P01":
            return True
        cause = cause.__cause__ or cause.__context__
    return False


async def _build_concurrently(conn: AsyncConnection, settings: LoadSettings) -> bool:
    valid = await conn.scalar(_INDEX_VALID)
    if valid:
        return False
    pending = await conn.scalar(
        text("SELECT value FROM reme_setting WHERE key = :key"), {"key": REEMBED_PENDING_KEY}
    )
    dim = int(await conn.scalar(_VECTOR_DIM) or 0)
    if pending == "true" or dim <= 0:
        return False
    if valid is not None:
        log.warning("dropping the invalid vector index that a failed build left, to build it again")
        await conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX_NAME}"))
    await conn.execute(text(f"SET maintenance_work_mem = '{int(settings.index_build_memory_mb)}MB'"))
    await conn.execute(text(f"SET max_parallel_maintenance_workers = {int(settings.index_build_workers)}"))
    await conn.execute(text(index_definition(dim, concurrently=True)))
    return True


class VectorIndexBuilder:
    """Builds the vector index in the background of a server process, one build at a time."""

    def __init__(self, db: Database, settings: LoadSettings) -> None:
        self._db = db
        self._settings = settings
        self._wanted = asyncio.Event()
        self._hurry = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def request(self) -> None:
        """Have the index built soon (a request made during a build is served after it)."""
        self._wanted.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="vector index build")

    async def finish(self) -> None:
        """Build now what is pending, without the pause, and return once it is built.

        `reme load` ends with it: a command has no background to leave the build to.
        """
        self._hurry.set()
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    @property
    def pending(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        while self._wanted.is_set():
            # Loads often come in a row: a short pause lets the next one in before the build.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), self._settings.index_rebuild_delay_seconds)
            self._wanted.clear()
            try:
                await build_vector_index(self._db, self._settings)
            except Exception:
                log.exception("building the vector index failed; the next start or load retries")
                return

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
