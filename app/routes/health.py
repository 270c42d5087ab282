"""Liveness and readiness."""

from __future__ import annotations

from litestar import Controller, Response, get
from sqlalchemy import text

from app.db import head_revision
from app.routes.deps import ServicesDep
from app.routes.schemas import HealthResponse, ReadyResponse
from app.version import __version__


class HealthController(Controller):
    tags = ["health"]

    @get("/health", summary="The process is alive")
    async def health(self) -> HealthResponse:
        return HealthResponse(status="healthy", version=__version__)  # ReMe's word

    @get("/ready", summary="The database is reachable and migrated to head")
    async def ready(self, services: ServicesDep) -> Response[ReadyResponse]:
        database, revision = "ok", None
        try:
            async with services.db.session() as session:
                await session.execute(text("SELECT 1"))
            revision = await services.db.current_revision()
        except Exception as exc:  # any failure means "not ready"; the reason is reported
            database = f"unavailable: {type(exc).__name__}"
        head = head_revision(services.settings)
        ready = database == "ok" and revision == head
        body = ReadyResponse(
            status="ready" if ready else "not ready",
            database=database,
            revision=revision,
            head=head,
            embedding_model=services.embedder.model_name,
            embedding_dim=services.embedder.dim,
            llm_configured=services.llm_client is not None,
        )
        return Response(body, status_code=200 if ready else 503)
