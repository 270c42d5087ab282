"""Pooled connections are checked before use: a closed one is replaced, a fresh one is not pinged."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from app.db import build_engine
from app.settings import DatabaseSettings, ServerSettings, Settings


def one_connection_settings(ping_after_idle: float) -> Settings:
    return Settings(
        server=ServerSettings(pool_size=1, max_overflow=0),
        database=DatabaseSettings(ping_after_idle=ping_after_idle),
    )


async def test_a_connection_the_server_closed_is_replaced_before_use_without_a_ping(
    database_url: str,
) -> None:
    # Given a pool whose only connection was used a moment ago (so it would not be pinged)
    engine = build_engine(database_url, one_connection_settings(ping_after_idle=3600))
    admin = build_engine(database_url, Settings())
    try:
        async with engine.connect() as conn:
            killed = await conn.scalar(text("SELECT pg_backend_pid()"))

        # when the server ends that connection's backend
        async with admin.connect() as conn:
            # (waits up to 30 s for the backend to be gone)
            assert await conn.scalar(text("SELECT pg_terminate_backend(:pid, 30000)"), {"pid": killed})
        await asyncio.sleep(0.05)  # let the event loop read the end of the stream

        # then the next checkout gets a working connection to another backend
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT pg_backend_pid()")) != killed
    finally:
        await engine.dispose()
        await admin.dispose()
