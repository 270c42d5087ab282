"""All-or-nothing restore of a ``reme db backup`` archive (pg_dump custom format).

1. ``pg_restore --list`` reads the archive: a file that is not an archive, or not a ReMe
   database, is refused before anything is touched.
2. No other session may use the database (the service, workers and MCP servers name
   themselves ``reme-serve pid=N`` ... in ``pg_stat_activity``), unless ``force``.
3. The archive is restored into a new database ``<db>_restore_<time>`` in one transaction,
   which is then checked: a known Alembic revision and every table of that schema.
4. Only then two renames in one transaction switch the databases: the current one becomes
   ``<db>_before_restore_<time>`` (kept unless ``drop_previous``), the new one ``<db>``.

Any failure before the switch drops the new database; the current one is left as it was.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.db import Database, application_name, head_revision, libpq_env, server_binary
from app.embedded import live_handles

SWITCH_ATTEMPTS = 10  # with --force: disconnect and try the renames again this many times
# Tables that every revision of the schema has.
CORE_TABLES = {"alembic_version", "workspace", "memory"}
OBJECT_IN_USE = "55006"
INSUFFICIENT_PRIVILEGE = "42501"


class RestoreRefused(Exception):
    """The restore did not happen; the database is as it was. ``str()`` says why."""


@dataclass
class RestoreResult:
    database: str
    revision: str
    workspaces: int
    memories: int
    previous: str | None  # the database as it was before, unless dropped
    disconnected: list[str]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def copy_names(database: str, stamp: str) -> tuple[str, str]:
    """Names of the staging database and of the kept previous one (at most 63 bytes)."""
    base = database[: 63 - len("_before_restore_") - len(stamp)]
    return f"{base}_restore_{stamp}", f"{base}_before_restore_{stamp}"


def check_archive(pg_restore: str, source: Path) -> int:
    """Read the archive's table of contents; returns its number of entries."""
    try:
        listing = subprocess.run(
            [pg_restore, "--list", str(source)], capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise RestoreRefused(f"cannot run {pg_restore}: {exc}") from exc
    if listing.returncode != 0:
        reason = (listing.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise RestoreRefused(
            f"{source} is not a readable pg_dump custom-format archive ({reason}); "
            "nothing was changed. Make backups with `reme db backup FILE`"
        )
    entries = [line for line in listing.stdout.splitlines() if line and not line.startswith(";")]
    for table in ("alembic_version", "memory"):
        if not any(re.search(rf"\bTABLE public {table}\b", line) for line in entries):
            raise RestoreRefused(
                f"{source} is a pg_dump archive but holds no ReMe database (no table {table}); "
                "nothing was changed"
            )
    return len(entries)


async def sessions_using(conn: AsyncConnection, database: str) -> list[str]:
    """One label per other session connected to ``database`` (its application_name)."""
    rows = await conn.execute(
        text(
            "SELECT coalesce(nullif(application_name, ''), 'unnamed client') AS app, "
            "coalesce(host(client_addr), 'local') AS addr FROM pg_stat_activity "
            # Client sessions only: autovacuum workers also show up with the database's name.
            "WHERE datname = :name AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ),
        {"name": database},
    )
    return [app if app.startswith("reme") else f"{app} from {addr}" for app, addr in rows]


def describe_sessions(labels: list[str]) -> str:
    counts = Counter(labels)
    return ", ".join(f"{label} ({n} session{'s' if n > 1 else ''})" for label, n in counts.items())


def attached_processes(db: Database, exclude: set[int]) -> list[str]:
    """Other live processes attached to the embedded server, sessions or not."""
    if db.embedded is None:
        return []
    import os

    import psutil

    labels = []
    for pid in live_handles(db.embedded.pgdata):
        if pid in (os.getpid(), *exclude):
            continue
        try:
            parts = psutil.Process(pid).cmdline() or ["?"]
        except psutil.Error:
            parts = ["?"]
        if "python" in Path(parts[0]).name and len(parts) > 1:
            parts = parts[1:]
        labels.append(f"pid {pid} ({' '.join([Path(parts[0]).name, *parts[1:3]])})")
    return labels


class Restorer:
    def __init__(self, db: Database, source: Path, *, force: bool, drop_previous: bool) -> None:
        self.db = db
        self.source = source
        self.force = force
        self.drop_previous = drop_previous
        url = make_url(db.url)
        self.database = url.database or "postgres"
        self.staging, self.previous = copy_names(self.database, time.strftime("%Y%m%d%H%M%S", time.gmtime()))
        self.disconnected: list[str] = []

    def engine(self, database: str) -> AsyncEngine:
        url = make_url(self.db.url).set(database=database)
        return create_async_engine(
            url, connect_args={"server_settings": {"application_name": application_name()}}
        )

    async def run(self) -> RestoreResult:
        pg_restore = server_binary(self.db, "pg_restore")
        await asyncio.to_thread(check_archive, pg_restore, self.source)
        admin = self.engine("postgres").execution_options(isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await self.refuse_if_in_use(conn)
                await self.create_staging(conn)
            try:
                await self.restore_into_staging(pg_restore)
                revision, workspaces, memories = await self.verify_staging()
                async with admin.connect() as conn:
                    await self.switch(conn)
            except BaseException:
                async with admin.connect() as conn:
                    await conn.execute(text(f"DROP DATABASE IF EXISTS {quote(self.staging)} WITH (FORCE)"))
                raise
            previous: str | None = self.previous
            if self.drop_previous:
                async with admin.connect() as conn:
                    await conn.execute(text(f"DROP DATABASE {quote(self.previous)} WITH (FORCE)"))
                previous = None
        finally:
            await admin.dispose()
        return RestoreResult(self.database, revision, workspaces, memories, previous, self.disconnected)

    async def refuse_if_in_use(self, conn: AsyncConnection) -> None:
        users = await sessions_using(conn, self.database)
        named = {int(pid) for pid in re.findall(r"\bpid=(\d+)", " ".join(users))}
        attached = attached_processes(self.db, exclude=named)
        if not users and not attached:
            return
        found = "; ".join(
            part
            for part in (
                describe_sessions(users) and f"sessions: {describe_sessions(users)}",
                attached and f"processes attached to the embedded server: {', '.join(attached)}",
            )
            if part
        )
        if not self.force:
            raise RestoreRefused(
                f"the database {self.database} is in use ({found}). Nothing was changed. Stop the "
                "service, workers and MCP servers first, or pass --force to disconnect them when "
                "the restored copy is switched in"
            )
        print(f"--force: will disconnect what uses {self.database} at the switch ({found})")

    async def create_staging(self, conn: AsyncConnection) -> None:
        try:
            await conn.execute(text(f"CREATE DATABASE {quote(self.staging)} TEMPLATE template0"))
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
                user = make_url(self.db.url).username or "this role"
                raise RestoreRefused(
                    f"{user} may not create databases. A restore goes into a new database first "
                    f"and replaces {self.database} only when complete, which needs CREATEDB "
                    f"(ALTER ROLE {user} CREATEDB). Nothing was changed"
                ) from exc
            raise

    async def restore_into_staging(self, pg_restore: str) -> None:
        print(f"restoring {self.source} into the new database {self.staging} ...")
        conn_args, env = libpq_env(self.db, self.staging)
        cmd = [
            pg_restore,
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            *conn_args,
            str(self.source),
        ]
        done = await asyncio.to_thread(subprocess.run, cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[0]
            raise RestoreRefused(
                f"pg_restore failed ({reason}); the archive may be truncated or damaged. "
                f"{self.database} was not changed"
            )

    async def verify_staging(self) -> tuple[str, int, int]:
        from alembic.script import ScriptDirectory
        from alembic.util import CommandError

        from app.db import alembic_config
        from app.models import Base

        engine = self.engine(self.staging)
        try:
            async with engine.connect() as conn:
                tables = set((await conn.execute(text("SELECT tablename FROM pg_tables"))).scalars())
                revision = None
                if "alembic_version" in tables:
                    revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
                counts = {}
                for table in ("workspace", "memory"):
                    if table in tables:
                        counts[table] = int(await conn.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
        finally:
            await engine.dispose()
        if revision is None:
            raise RestoreRefused(
                f"the restored copy has no Alembic revision; {self.database} was not changed"
            )
        try:
            ScriptDirectory.from_config(alembic_config(self.db.settings)).get_revision(revision)
        except CommandError as exc:
            raise RestoreRefused(
                f"the backup is at revision {revision}, which this version does not know (made by a "
                f"newer version?); {self.database} was not changed"
            ) from exc
        expected = set(Base.metadata.tables) if revision == head_revision(self.db.settings) else set()
        missing = sorted((expected | CORE_TABLES) - tables)
        if missing:
            raise RestoreRefused(
                f"the restored copy lacks the tables {', '.join(missing)}; {self.database} was not changed"
            )
        return revision, counts["workspace"], counts["memory"]

    async def switch(self, conn: AsyncConnection) -> None:
        """Rename the current database away and the restored one in, in one transaction."""
        for attempt in range(1, SWITCH_ATTEMPTS + 1):
            if self.force:
                self.disconnected += await sessions_using(conn, self.database)
            # Background workers (autovacuum) are always stopped; client sessions only with --force.
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid() "
                    "AND (:force OR backend_type <> 'client backend')"
                ),
                {"name": self.database, "force": self.force},
            )
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            try:
                async with driver.transaction():
                    await driver.execute(
                        f"ALTER DATABASE {quote(self.database)} RENAME TO {quote(self.previous)}"
                    )
                    await driver.execute(
                        f"ALTER DATABASE {quote(self.staging)} RENAME TO {quote(self.database)}"
                    )
                return
            except asyncpg.PostgresError as exc:
                if exc.sqlstate != OBJECT_IN_USE:
                    raise
                clients = await sessions_using(conn, self.database)
                if (clients and not self.force) or attempt == SWITCH_ATTEMPTS:
                    users = describe_sessions(clients) or "background workers"
                    raise RestoreRefused(
                        f"the database {self.database} came into use during the restore ({users}). "
                        "Nothing was changed. Stop what uses it, or pass --force"
                    ) from exc
                await asyncio.sleep(0.2 * attempt)


async def drop_restore_copies(db: Database) -> list[str]:
    """Drop the databases restores left next to the configured one; returns their names."""
    url = make_url(db.url)
    database = url.database or "postgres"
    pattern = re.compile(rf"^{re.escape(database[:33])}_(before_)?restore_\d{{14}}$")
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            names = [n for n in (await conn.execute(text("SELECT datname FROM pg_database"))).scalars()]
            dropped = sorted(n for n in names if pattern.match(n))
            for name in dropped:
                await conn.execute(text(f"DROP DATABASE {quote(name)} WITH (FORCE)"))
    finally:
        await admin.dispose()
    return dropped
