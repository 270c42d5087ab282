"""``reme db``: migrations, backup and restore (pg_dump custom format)."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path

from app.commands import with_database
from app.db import Database, head_revision, libpq_env, server_binary


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
        "restore",
        help="replace the database with a backup FILE, all or nothing (stop the service first)",
    )
    restore.add_argument("file", type=Path)
    restore.add_argument(
        "--force",
        action="store_true",
        help="restore although services or workers use the database: they are disconnected at the "
        "switch and reconnect to the restored data",
    )
    restore.add_argument(
        "--drop-previous",
        action="store_true",
        help="drop the database as it was before (default: keep it as <db>_before_restore_<time>)",
    )
    restore.set_defaults(func=run_restore)
    drop = actions.add_parser(
        "drop-previous",
        help="drop the copies restores leave (<db>_before_restore_*, and <db>_restore_* of interrupted ones)",
    )
    drop.set_defaults(func=run_drop_previous)


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
    from app.restore import Restorer, RestoreRefused, RestoreResult

    source: Path = args.file.resolve()
    if not source.is_file():
        print(f"no such backup file: {source}", file=sys.stderr)
        return 2

    async def work(db: Database) -> RestoreResult:
        return await Restorer(db, source, force=args.force, drop_previous=args.drop_previous).run()

    try:
        result = with_database(work)
    except RestoreRefused as exc:
        print(f"restore refused: {exc}", file=sys.stderr)
        return 1
    if result.disconnected:
        print(f"disconnected: {', '.join(sorted(set(result.disconnected)))}")
    print(
        f"restored {source} into {result.database}: revision {result.revision}, "
        f"{result.workspaces} workspace(s), {result.memories} memories"
    )
    if result.previous:
        print(
            f"the database as it was before is kept as {result.previous} (reme db drop-previous removes it)"
        )
    return 0


def run_drop_previous(args: argparse.Namespace) -> int:
    from app.restore import drop_restore_copies

    dropped = with_database(drop_restore_copies)
    print(f"dropped {len(dropped)} database(s){': ' if dropped else ''}{', '.join(dropped)}")
    return 0
