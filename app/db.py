"""Database access: the embedded server, the async engine, sessions and start-up checks."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    InvalidatePoolError,
    OperationalError,
)
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app import citus
from app.embedded import EMBEDDED_DATABASE, EmbeddedPostgres
from app.errors import SchemaMismatch
from app.observability.database import MeteredPool, instrument_engine
from app.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["EMBEDDED_DATABASE", "Database", "EmbeddedPostgres"]

# An installed package carries the migrations in app/migrations (see setup.py); a checkout
# (or an editable install) has them in the top-level alembic/ folder.
PACKAGED_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
CHECKOUT_MIGRATIONS = Path(__file__).resolve().parent.parent / "alembic"


def normalise_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` URLs and use the asyncpg driver."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def describe_database(settings: Settings) -> str:
    """Which database the settings point at, for people: the data directory, or the URL without password."""
    if not settings.database_url:
        return f"embedded PostgreSQL in {settings.data_dir} (REME_DATA_DIR)"
    url = make_url(normalise_url(settings.database_url))
    shown = URL.create(
        "postgresql", url.username, None, url.host, url.port, url.database, query=url.query
    ).render_as_string(hide_password=False)
    return unquote(shown)  # a socket directory reads as ?host=/run/postgresql, not %2F


# What this process is (``reme serve``, ``reme worker`` ...): shown to PostgreSQL as the
# connections' application_name, so that ``pg_stat_activity`` (and ``reme db restore``) can
# say which processes use a database.
_process_role = "reme"


def set_process_role(command: str) -> None:
    global _process_role
    _process_role = f"reme-{command}"


def application_name() -> str:
    return f"{_process_role} pid={os.getpid()}"


# Shutting down, crashed, starting up (57P0x), too many connections; class 08 is added below.
UNAVAILABLE_SQLSTATES = {"57P01", "57P02", "57P03", "53300"}


def database_unavailable(exc: BaseException) -> bool:
    """True for errors of an unreachable or restarting database (worth retrying later)."""
    from app.embedded import EmbeddedServerDown

    if isinstance(exc, OperationalError | InterfaceError | OSError | EmbeddedServerDown):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
    return bool(exc.connection_invalidated) or sqlstate.startswith("08") or sqlstate in UNAVAILABLE_SQLSTATES


def build_engine(
    url: str,
    settings: Settings,
    server_settings: Mapping[str, str] | None = None,
    max_overflow: int | None = None,
) -> AsyncEngine:
    """The service's engine: pooled, its pool and statements metered (and traced, with OTel).

    ``server_settings`` are set for the whole session of every connection it opens.
    """
    engine = create_async_engine(
        normalise_url(url),
        poolclass=MeteredPool,
        pool_size=settings.server.pool_size,
        max_overflow=settings.server.max_overflow if max_overflow is None else max_overflow,
        connect_args={"server_settings": {**(server_settings or {}), "application_name": application_name()}},
    )
    ping_idle_connections(engine, settings.database.ping_after_idle)
    instrument_engine(engine, settings.log.slow_statement_ms)
    event.listen(engine.sync_engine, "connect", _plan_each_execution)
    return engine


def _plan_each_execution(dbapi_connection: Any, _record: Any) -> None:
    """Plan every execution of a prepared statement for its own values (never a generic plan).

    The service's statements are prepared once and run with each request's workspace, filters
    and query; how many rows those select varies by orders of magnitude between workspaces, and
    a generic plan chosen after a few executions was measured 10x slower for the BM25 list.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("SET plan_cache_mode = force_custom_plan")
    cursor.close()


# Where a pooled connection records when it was last connected or returned (monotonic seconds).
_LAST_USED = "reme_last_used"


def ping_idle_connections(engine: AsyncEngine, idle_seconds: float) -> None:
    """Check a pooled connection before use without a round trip, unless it sat idle long.

    SQLAlchemy's ``pool_pre_ping`` pings every checkout, which with asyncpg is BEGIN, an empty
    statement and ROLLBACK: three round trips, a third of a short retrieval. A server that
    closed its end (a restart, a terminated backend) is seen for free: the driver has read the
    end of the stream and marks the connection closed, and then every older pooled connection
    is dropped too. Only a connection idle longer than ``idle_seconds`` (whose server may have
    gone silently) pays the ping.
    """
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "connect")
    @event.listens_for(pool, "checkin")
    def used(dbapi_connection: Any, record: Any) -> None:
        record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def check(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        driver_connection = getattr(dbapi_connection, "driver_connection", None)
        if driver_connection is not None and driver_connection.is_closed():
            raise InvalidatePoolError("the database closed a pooled connection")
        last = record.info.get(_LAST_USED)
        if last is not None and time.monotonic() - last < idle_seconds:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:  # the pool drops this connection and checks out another
            raise DisconnectionError(f"a pooled connection failed its ping: {exc}") from exc


class Database:
    """Owns the engine (and the embedded server when no URL is configured)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded: EmbeddedPostgres | None = None
        self.engine: AsyncEngine | None = None
        self.sessionmaker: async_sessionmaker[AsyncSession] | None = None
        # REME_DATABASE__READ_URL: a replica for read_session(); None reads from the primary.
        self.read_engine: AsyncEngine | None = None
        self.read_sessionmaker: async_sessionmaker[AsyncSession] | None = None
        # Whether the database is a Citus coordinator laid out for it (app.citus).
        self.citus = False
        # Engines whose sessions hold given settings (read_autocommit(session_settings)).
        self._set_engines: dict[tuple[tuple[str, str], ...], AsyncEngine] = {}

    @property
    def url(self) -> str:
        if self.settings.database_url:
            return normalise_url(self.settings.database_url)
        assert self.embedded is not None, "call start() first"
        return self.embedded.url()

    async def start(self) -> None:
        if not self.settings.database_url:
            self.embedded = EmbeddedPostgres(
                self.settings.data_dir, self.settings.database.embedded_shared_buffers_mb
            )
            await asyncio.to_thread(self.embedded.start)
        self.engine = build_engine(self.url, self.settings)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        if self.settings.database.read_url:
            self.read_engine = build_engine(self.settings.database.read_url, self.settings)
            self.read_sessionmaker = async_sessionmaker(self.read_engine, expire_on_commit=False)

    async def keep_embedded_alive(self, interval: float = 2.0) -> None:
        """Restart the embedded server whenever its postmaster dies (runs until cancelled)."""
        down = False
        while self.embedded is not None:
            await asyncio.sleep(interval)
            embedded = self.embedded
            if embedded is None:
                return
            try:
                restarted = await asyncio.to_thread(embedded.ensure_running)
            except Exception as exc:  # keep trying; one line per outage, not per attempt
                if not down:
                    log.error("the embedded PostgreSQL is down and could not be restarted: %s", exc)
                down = True
                continue
            if restarted or down:
                # (down: a start that timed out here may still have brought it up)
                log.warning("the embedded PostgreSQL had stopped; it runs again")
            down = False

    async def stop(self) -> None:
        for engine in self._set_engines.values():
            await engine.dispose()
        self._set_engines.clear()
        if self.read_engine is not None:
            await self.read_engine.dispose()
            self.read_engine = None
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
            self.embedded = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed on success, rolled back on any error."""
        assert self.sessionmaker is not None, "database not started"
        async with self._transaction(self.sessionmaker) as session:
            yield session

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction on the read replica (REME_DATABASE__READ_URL), else the primary.

        For retrieval, search and listings: a replica may lag the primary by a moment, so a
        caller that must see its own writes uses :meth:`session`.
        """
        if self.read_sessionmaker is None:
            async with self.session() as session:
                yield session
            return
        async with self._transaction(self.read_sessionmaker) as session:
            yield session

    @asynccontextmanager
    async def read_autocommit(
        self, session_settings: Mapping[str, str] | None = None
    ) -> AsyncIterator[AsyncConnection]:
        """A connection without a transaction (each statement is its own), on the read replica
        when there is one: for a read that is one statement, without BEGIN and COMMIT.

        With ``session_settings``, the connection comes from a pool of its own whose sessions
        hold those settings from the start: a statement that needs settings then needs no
        transaction and no round trip to set them. Such a pool keeps up to
        ``REME_SERVER__POOL_SIZE`` connections (no overflow).
        """
        engine = self._engine_with(session_settings) if session_settings else self.read_engine or self.engine
        assert engine is not None, "database not started"
        async with engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    def _engine_with(self, session_settings: Mapping[str, str]) -> AsyncEngine:
        key = tuple(sorted(session_settings.items()))
        engine = self._set_engines.get(key)
        if engine is None:
            assert self.engine is not None, "database not started"
            url = self.settings.database.read_url or self.url
            engine = build_engine(url, self.settings, server_settings=dict(key), max_overflow=0)
            self._set_engines[key] = engine
        return engine

    @asynccontextmanager
    async def _transaction(self, maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, flagged for the data layer when the database is Citus."""
        async with maker() as session, session.begin():
            session.info[citus.SESSION_FLAG] = self.citus
            yield session

    async def prepare(self) -> None:
        """Check the embedding space recorded in the database, then apply migrations."""
        assert self.engine is not None
        async with self.engine.begin() as conn:
            await conn.run_sync(check_embedding_space, self.settings)
            self.citus = await conn.run_sync(citus.detect, self.settings.database.citus)
        if self.settings.migrate_on_start:
            await self.upgrade()

    async def prepare_and_upgrade(self, revision: str = "head") -> None:
        """What ``reme db upgrade`` does: the same checks as start-up, then the migrations."""
        assert self.engine is not None
        async with self.engine.begin() as conn:
            await conn.run_sync(check_embedding_space, self.settings)
            self.citus = await conn.run_sync(citus.detect, self.settings.database.citus)
        await self.upgrade(revision)

    async def upgrade(self, revision: str = "head") -> None:
        assert self.engine is not None
        async with self.engine.begin() as conn:
            await conn.run_sync(run_alembic, "upgrade", revision, self.settings)

    async def current_revision(self) -> str | None:
        assert self.engine is not None
        async with self.engine.connect() as conn:
            has_table = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
            if not has_table:
                return None
            return await conn.scalar(text("SELECT version_num FROM alembic_version"))


def migrations_dir() -> Path:
    """Where the Alembic scripts are: next to the code, never looked up from the working directory."""
    for candidate in (PACKAGED_MIGRATIONS, CHECKOUT_MIGRATIONS):
        if (candidate / "env.py").is_file() and (candidate / "versions").is_dir():
            return candidate
    raise RuntimeError(
        f"the database migrations are missing (looked in {PACKAGED_MIGRATIONS} and {CHECKOUT_MIGRATIONS}); "
        "reinstall the package"
    )


def alembic_config(settings: Settings, connection: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["settings"] = settings
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision(settings: Settings) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(settings)).get_current_head()


def run_alembic(connection: Connection, action: str, revision: str, settings: Settings) -> None:
    """Run an Alembic command on an open connection, one migrator at a time."""
    from alembic import command

    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('reme:migrations'))"))
    config = alembic_config(settings, connection)
    if action == "upgrade":
        command.upgrade(config, revision)
    elif action == "downgrade":
        command.downgrade(config, revision)
    else:
        raise ValueError(f"unknown alembic action {action!r}")


def recorded_embedding_space(connection: Connection) -> tuple[str, int] | None:
    """The embedding model and dimension the database was built for, if it was built."""
    exists = connection.execute(text("SELECT to_regclass('reme_setting') IS NOT NULL")).scalar()
    if not exists:
        return None
    rows: dict[str, str] = dict(
        connection.execute(
            text("SELECT key, value FROM reme_setting WHERE key IN ('embedding_model', 'embedding_dim')")
        ).all()
    )
    if "embedding_dim" not in rows:
        return None
    return rows.get("embedding_model", ""), int(rows["embedding_dim"])


def check_embedding_space(connection: Connection, settings: Settings) -> None:
    """Refuse to run against a database built for another embedding model or dimension."""
    recorded = recorded_embedding_space(connection)
    if recorded is None:
        return
    model, dim = recorded
    want_model, want_dim = settings.embedding.resolved_model, settings.embedding.resolved_dim
    if (model, dim) != (want_model, want_dim):
        raise SchemaMismatch(
            f"the database holds embeddings of model {model!r} with dimension {dim}, but the "
            f"settings ask for model {want_model!r} with dimension {want_dim}. Nothing was changed. "
            "Either set REME_EMBEDDING__MODEL / REME_EMBEDDING__DIM back to the recorded values, or "
            f"re-embed every memory with: reme reembed --model {want_model} --dim {want_dim}"
        )


def server_binary(db: Database, name: str) -> str:
    """Path of a PostgreSQL client binary: the embedded server's own, else the one on PATH."""
    if db.embedded is not None:
        return str(db.embedded.bin_dir / name)
    return name


def libpq_env(db: Database, database: str | None = None) -> tuple[list[str], dict[str, str]]:
    """Connection arguments and environment for pg_dump / pg_restore / psql (``database``
    instead of the configured one if given)."""
    url = make_url(db.url)
    env = dict(os.environ)
    args = ["-d", database or url.database or "postgres"]
    host = url.query.get("host") or url.host
    if host:
        args += ["-h", str(host)]
    if url.port:
        args += ["-p", str(url.port)]
    if url.username:
        args += ["-U", url.username]
    if url.password:
        env["PGPASSWORD"] = url.password
    return args, env
