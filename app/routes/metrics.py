"""``GET /metrics``: the service's metrics in the Prometheus text format.

Who may read it is decided by the auth gate (``app.routes.auth_middleware``): anyone when
auth is off and no token is set; else the ``REME_METRICS__TOKEN`` bearer or an admin key.
"""

from __future__ import annotations

from litestar import Response, get

from app.errors import NotFound
from app.observability import metrics
from app.routes.deps import ServicesDep


@get("/metrics", summary="Metrics in the Prometheus text format", tags=["health"], include_in_schema=False)
async def metrics_endpoint(services: ServicesDep) -> Response[bytes]:
    if not services.settings.metrics.enabled:
        raise NotFound("metrics are disabled (REME_METRICS__ENABLED=false)")
    await services.cached_gauges.refresh()
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE_LATEST)
