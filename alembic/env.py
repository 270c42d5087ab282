"""Alembic environment.

The service runs migrations on its own connection (``config.attributes["connection"]``);
the ``alembic`` command line builds one from the service settings, starting the embedded
server when no ``REME_DATABASE_URL`` is set.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from pgvector.sqlalchemy import Vector
from sqlalchemy import Connection

from app.models import Base
from app.settings import Settings, get_settings

target_metadata = Base.metadata


def compare_type(
    ctx: Any, inspected_column: Any, metadata_column: Any, inspected_type: Any, metadata_type: Any
) -> bool | None:
    # The embedding dimension is fixed per database at migration time, not in the model.
    if isinstance(metadata_type, Vector):
        return False
    return None


def settings() -> Settings:
    return context.config.attributes.get("settings") or get_settings()


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=compare_type,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_settings() -> None:
    from app.db import Database

    db = Database(settings())
    await db.start()
    try:
        assert db.engine is not None
        async with db.engine.begin() as conn:
            await conn.run_sync(run_on)
    finally:
        await db.stop()


connection = context.config.attributes.get("connection")
if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
elif connection is not None:
    run_on(connection)
else:
    asyncio.run(run_from_settings())
