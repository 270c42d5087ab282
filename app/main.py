"""The composition root: ``create_app()`` assembles routes, dependencies, errors and lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from sqlalchemy.exc import InterfaceError, OperationalError

from app.db import describe_database
from app.errors import SchemaMismatch
from app.jobs import JobHandler, keep_sweeping_stranded
from app.middleware import request_id_middleware
from app.observability.tracing import configure_tracing
from app.pipelines.personal import summary as personal_summary
from app.pipelines.task import summary as task_summary
from app.pipelines.task import summary_simple as task_summary_simple
from app.pipelines.tool import record as tool_record
from app.pipelines.tool import summary as tool_summary
from app.routes.auth_middleware import AuthGate
from app.routes.deps import provide_services
from app.routes.docs import docs_router, schema_router, swagger_plugin
from app.routes.errors import EXCEPTION_HANDLERS
from app.routes.health import HealthController
from app.routes.metrics import metrics_endpoint
from app.routes.reme import compat_routes
from app.routes.request import ReMeRequest
from app.routes.schemas import ReMeResponse
from app.routes.ui import ui_router, ui_template_config
from app.routes.v1 import v1_router
from app.services import Services
from app.settings import Settings, get_settings
from app.version import __version__

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the ASGI application; nothing starts until its lifespan runs."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        configure_tracing()
        try:
            services = await Services.start(settings)
        except SchemaMismatch as exc:
            app.state.startup_error = exc  # `reme serve` exits with its code, without a traceback
            log.error("refusing to start: %s", exc.message)
            raise
        except (ConnectionError, OperationalError, InterfaceError) as exc:
            app.state.startup_error = exc
            log.error("cannot reach the database %s: %s", describe_database(settings), exc)
            raise
        app.state.services = services
        # Whoever runs the app says where it listens (`reme serve`, `reme mcp`); else it is in-process.
        listening = getattr(app.state, "listening", None) or "in-process"
        log.info(
            "serving on %s; database: %s; embeddings: %s (%d dims); chat model: %s",
            listening,
            describe_database(settings),
            services.embedder.model_name,
            services.embedder.dim,
            settings.llm.describe(),
        )
        sweeper = asyncio.create_task(
            keep_sweeping_stranded(services, settings.limits.stranded_sweep_seconds),
            name="stranded-trajectory sweep",
        )
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await services.stop()
            log.info("stopped")

    swagger = swagger_plugin()
    app = Litestar(
        route_handlers=[
            HealthController,
            metrics_endpoint,
            docs_router(swagger),
            v1_router(),
            ui_router(),
            *compat_routes(),
        ],
        template_config=ui_template_config(),
        dependencies={"services": Provide(provide_services)},
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        middleware=[AuthGate],
        request_class=ReMeRequest,
        request_max_body_size=settings.limits.max_body_bytes,
        # Keep the process's logging (app.logging: every line carries the request id).
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="ReMe on PostgreSQL",
            version=__version__,
            description="Task, personal and tool memory for LLM agents; wire-compatible with ReMe 0.1.x.",
            path="/schema",
            openapi_router=schema_router("/schema"),
            render_plugins=[swagger],
        ),
    )
    document_error_responses(app)
    # Outermost, around Litestar's router and exception handlers: a request that matches no
    # route (404/405) gets a request id, its header and an access-log line too.
    app.asgi_handler = request_id_middleware(app.asgi_handler, record_metrics=settings.metrics.enabled)
    return app


def job_handlers() -> dict[str, JobHandler]:
    """The handler of each flow that can run as a job (``async_mode``), for ``reme worker``."""
    return {
        task_summary.FLOW: task_summary.summarise_task_memory_job,
        task_summary_simple.FLOW: task_summary_simple.summarise_task_memory_simple_job,
        personal_summary.FLOW: personal_summary.run_personal_summary_job,
        tool_record.FLOW: tool_record.run_record_job,
        tool_summary.FLOW: tool_summary.run_summary_job,
    }


ERROR_STATUSES = {
    400: "Invalid request: `answer` says what, `metadata.errors` where",
    401: "API key missing or unknown (when auth is enabled)",
    403: "API key not allowed for this workspace or scope",
    404: "Not found",
    413: "Request body too large",
    503: "A model server or the database is unavailable; nothing was half-written",
    504: "A model call timed out; nothing was half-written",
}


def document_error_responses(app: Litestar) -> None:
    """Every error is ReMe's envelope: say so in the OpenAPI schema of every operation."""
    specs = {
        status: ResponseSpec(ReMeResponse, description=description)
        for status, description in ERROR_STATUSES.items()
    }
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler):
                handler.responses = {**specs, **(handler.responses or {})}
