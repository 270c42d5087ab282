"""Subcommands of the ``reme`` command line, one module per group."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.db import Database
from app.settings import get_settings

T = TypeVar("T")


def with_database(work: Callable[[Database], Awaitable[T]]) -> T:
    """Start the database (embedded or configured), run ``work``, and stop it again."""

    async def run() -> T:
        db = Database(get_settings())
        await db.start()
        try:
            return await work(db)
        finally:
            await db.stop()

    return asyncio.run(run())
