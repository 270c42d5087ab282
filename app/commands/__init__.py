"""Subcommands of the ``reme`` command line, one module per group.

Every command that opens the database says which one on stderr first, so that a command run
without the service's ``REME_DATA_DIR`` / ``REME_DATABASE_URL`` is noticed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from tqdm import tqdm

from app.db import Database, describe_database
from app.settings import Settings, get_settings

if TYPE_CHECKING:
    from app.services import Services

T = TypeVar("T")

# Exit codes of every command (docs/operations.md lists them).
EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and something failed (a job, pg_dump, a key not found)
EXIT_USAGE = 2  # bad arguments or input; nothing was changed
EXIT_REFUSED = 3  # the database does not fit the settings (embedding model or dimension); nothing changed
EXIT_UNAVAILABLE = 4  # the database could not be reached


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code of an error a person can act on (its message is enough); None for the others."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    from app.errors import ReMeError, SchemaMismatch

    if isinstance(exc, SchemaMismatch):
        return EXIT_REFUSED
    if isinstance(exc, ReMeError):
        return EXIT_USAGE
    if isinstance(exc, (ConnectionError, OperationalError, InterfaceError)):
        return EXIT_UNAVAILABLE
    return None


def announce_database(settings: Settings) -> None:
    print(f"reme: database: {describe_database(settings)}", file=sys.stderr, flush=True)


def with_database(work: Callable[[Database], Awaitable[T]]) -> T:
    """Start the database (embedded or configured), run ``work``, and stop it again."""
    settings = get_settings()
    announce_database(settings)

    async def run() -> T:
        db = Database(settings)
        await db.start()
        try:
            return await work(db)
        finally:
            await db.stop()

    return asyncio.run(run())


@asynccontextmanager
async def cli_services() -> AsyncIterator[Services]:
    """The service's collaborators for a command: the database is checked and migrated first."""
    from app.services import Services  # the models' clients: imported only by commands that use them

    settings = get_settings()
    announce_database(settings)
    services = await Services.start(settings)
    try:
        yield services
    finally:
        await services.stop()


def progress_bar(desc: str, total: int | None = None) -> Any:
    """A progress bar on stderr; log lines go around it (app.logging writes through tqdm)."""
    return tqdm(total=total, unit="memory", desc=desc, file=sys.stderr)
