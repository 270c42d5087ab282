"""The pool gauges follow the engine's pool: connections checked out, and callers waiting."""

from __future__ import annotations

import asyncio

import pytest

from app.db import build_engine
from app.observability import metrics
from app.settings import ServerSettings, Settings


def gauge(metric: object) -> float:
    value: float = metric._value.get()  # type: ignore[attr-defined]
    return value


@pytest.mark.usefixtures("app_server")
async def test_a_caller_waiting_for_the_only_connection_is_counted_until_it_gets_it(
    database_url: str,
) -> None:
    engine = build_engine(database_url, Settings(server=ServerSettings(pool_size=1, max_overflow=0)))
    in_use, waiting = gauge(metrics.DB_POOL_IN_USE), gauge(metrics.DB_POOL_WAITING)
    try:
        holder = await engine.connect()
        assert gauge(metrics.DB_POOL_IN_USE) == in_use + 1

        second = asyncio.create_task(engine.connect().start())
        for _ in range(3000):  # at most 30 s for the task to start waiting
            if gauge(metrics.DB_POOL_WAITING) != waiting:
                break
            await asyncio.sleep(0.01)
        assert gauge(metrics.DB_POOL_WAITING) == waiting + 1

        await holder.close()
        other = await asyncio.wait_for(second, timeout=30)
        assert gauge(metrics.DB_POOL_WAITING) == waiting
        assert gauge(metrics.DB_POOL_IN_USE) == in_use + 1
        await other.close()
        assert gauge(metrics.DB_POOL_IN_USE) == in_use
    finally:
        await engine.dispose()
