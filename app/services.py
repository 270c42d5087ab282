"""The long-lived collaborators a request needs, built once in the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field

from app.db import Database
from app.errors import LLMNotConfigured
from app.observability.metrics import CachedGauges, mark_process_dead
from app.providers.embeddings import Embedder, build_embedder
from app.providers.llm import LLMClient
from app.settings import Settings
from app.store.jobs import job_counts
from app.store.memories import memory_counts_by_type
from app.store.vector_index import VectorIndexBuilder, vector_index_missing


@dataclass
class Services:
    settings: Settings
    db: Database
    embedder: Embedder
    llm_client: LLMClient | None = None
    extras: dict[str, object] = field(default_factory=dict)
    # Restarts the embedded server if its postmaster dies (None with an external database).
    db_monitor: asyncio.Task[None] | None = None
    # Gauges of /metrics read from the database, at most every REME_METRICS__REFRESH_SECONDS.
    cached_gauges: CachedGauges = field(init=False)
    # Builds the vector index after loads that set it aside (app.store.vector_index).
    index_builder: VectorIndexBuilder = field(init=False)

    def __post_init__(self) -> None:
        self.cached_gauges = CachedGauges(self.count_stored, self.settings.metrics.refresh_seconds)
        self.index_builder = VectorIndexBuilder(self.db, self.settings.load)

    async def count_stored(self) -> tuple[dict[str, int], dict[str, int]]:
        """Memories per type and jobs per status."""
        async with self.db.session() as session:
            return await memory_counts_by_type(session), await job_counts(session)

    def llm(self, flow: str) -> LLMClient:
        """The chat model, or a clear 503 naming the setting to give."""
        if self.llm_client is None:
            raise LLMNotConfigured(flow)
        return self.llm_client

    @classmethod
    async def start(cls, settings: Settings) -> Services:
        db = Database(settings)
        await db.start()
        try:
            await db.prepare()
        except BaseException:
            await db.stop()
            raise
        embedder = build_embedder(settings.embedding)
        llm = LLMClient(settings.llm) if settings.llm.configured else None
        monitor = asyncio.create_task(db.keep_embedded_alive()) if db.embedded is not None else None
        services = cls(settings=settings, db=db, embedder=embedder, llm_client=llm, db_monitor=monitor)
        await services.resume_index_build()
        return services

    async def resume_index_build(self) -> None:
        """A load set the vector index aside and its process ended before building it: build it."""
        if self.db.citus:
            return
        async with self.db.session() as session:
            missing = await vector_index_missing(session)
        if missing:
            self.index_builder.request()

    async def stop(self) -> None:
        await self.index_builder.stop()
        if self.db_monitor is not None:
            self.db_monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.db_monitor
        if self.llm_client is not None:
            await self.llm_client.close()
        await self.embedder.close()
        await self.db.stop()
        mark_process_dead(os.getpid())  # several server processes: drop this one's live gauges
