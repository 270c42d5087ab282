"""The long-lived collaborators a request needs, built once in the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from app.db import Database
from app.errors import LLMNotConfigured
from app.providers.embeddings import Embedder, build_embedder
from app.providers.llm import LLMClient
from app.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    embedder: Embedder
    llm_client: LLMClient | None = None
    extras: dict[str, object] = field(default_factory=dict)
    # Restarts the embedded server if its postmaster dies (None with an external database).
    db_monitor: asyncio.Task[None] | None = None

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
        return cls(settings=settings, db=db, embedder=embedder, llm_client=llm, db_monitor=monitor)

    async def stop(self) -> None:
        if self.db_monitor is not None:
            self.db_monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.db_monitor
        if self.llm_client is not None:
            await self.llm_client.close()
        await self.embedder.close()
        await self.db.stop()
