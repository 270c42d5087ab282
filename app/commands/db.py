"""``reme db``: migrations, backup and restore (pg_dump custom format)."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from app.commands import with_database
from app.db import EMBEDDED_DATABASE, Database, head_revision, libpq_env, server_binary


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="database: upgrade, current, backup, restore")
    actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = actions.add_parser("upgrade", help="apply migrations up to a revision (default head)")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(func=run_upgrade)
    current = actions.add_parser("current", help="show the applied and the newest revision")
    current.set_defaults(func=run_current)
    backup = actions.add_parser("backup", help="write a pg_dump custom-format backup to FILE")
    backup.add_argument("file", type=Path)
    backup.set_defaults(func=run_backup)
    restore = actions.add_parser(
        "restore", help="replace the database with a backup FILE (stop the service first)"
    )
    restore.add_argument("file", type=Path)
    restore.set_defaults(func=run_restore)


def run_upgrade(args: argparse.Namespace) -> int:
    async def work(db: Database) -> str | None:
        await db.prepare_and_upgrade(args.revision)
        return await db.current_revision()

    print(f"database at revision {with_database(work)}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    async def work(db: Database) -> tuple[str | None, str | None]:
        return await db.current_revision(), head_revision(db.settings)

    current, head = with_database(work)
    state = "up to date" if current == head else "behind: run `reme db upgrade`"
    print(f"current: {current or 'none'}\nhead: {head} ({state})")
    return 0


def run_backup(args: argparse.Namespace) -> int:
    target: Path = args.file.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)

    async def work(db: Database) -> int:
        conn_args, env = libpq_env(db)
        cmd = [server_binary(db, "pg_dump"), "-Fc", "--no-owner", "-f", str(target), *conn_args]
        done = await asyncio.to_thread(subprocess.run, cmd, env=env, check=False)
        return done.returncode

    code = with_database(work)
    if code == 0:
        print(f"backup written to {target} ({target.stat().st_size} bytes)")
    else:
        print(f"pg_dump failed with exit code {code}", file=sys.stderr)
    return code


def run_restore(args: argparse.Namespace) -> int:
    source: Path = args.file.resolve()
    if not source.is_file():
        print(f"no such backup file: {source}", file=sys.stderr)
        return 2

    async def work(db: Database) -> int:
        conn_args, env = libpq_env(db)
        restore = [server_binary(db, "pg_restore"), "--no-owner", "--exit-on-error"]
        if db.embedded is not None:
            await recreate_embedded_database(db)
        else:
            restore += ["--clean", "--if-exists", "--single-transaction"]
        cmd = [*restore, *conn_args, str(source)]
        done = await asyncio.to_thread(subprocess.run, cmd, env=env, check=False)
        return done.returncode

    code = with_database(work)
    if code == 0:
        print(f"restored {source}")
    else:
        print(f"pg_restore failed with exit code {code}", file=sys.stderr)
    return code


async def recreate_embedded_database(db: Database) -> None:
    """Drop and create the embedded database so the restore lands in an empty one."""
    assert db.engine is not None
    await db.engine.dispose()
    admin = db.url.replace(f"/{EMBEDDED_DATABASE}?", "/postgres?")
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": EMBEDDED_DATABASE},
            )
            await conn.execute(text(f"DROP DATABASE IF EXISTS {EMBEDDED_DATABASE}"))
            await conn.execute(text(f"CREATE DATABASE {EMBEDDED_DATABASE}"))
    finally:
        await engine.dispose()
