"""ReMe-compatible personal memory flows: summary_personal_memory, retrieve_personal_memory."""

from __future__ import annotations

from litestar import Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody

from app.logging import current_request_id
from app.pipelines.personal import retrieve, summary
from app.routes.deps import ServicesDep
from app.routes.flows import accepted, reme_answer
from app.routes.schemas import ReMeResponse
from app.schemas.personal import RetrievePersonalMemoryRequest, SummaryPersonalMemoryRequest


@post("/summary_personal_memory", summary="Read facts about a user from conversations", status_code=200)
async def summary_personal_memory(
    data: JSONBody[SummaryPersonalMemoryRequest], services: ServicesDep
) -> Response[ReMeResponse]:
    if data.async_mode:
        job_id = await summary.enqueue_personal_summary(services, data)
        return accepted(job_id, summary.FLOW)
    result = await summary.summarise_personal_memory(services, data, current_request_id())
    return Response(reme_answer("", **result))


@post("/retrieve_personal_memory", summary="What is known about a user that answers a query", status_code=200)
async def retrieve_personal_memory(
    data: JSONBody[RetrievePersonalMemoryRequest], services: ServicesDep
) -> ReMeResponse:
    answer, metadata = await retrieve.retrieve_personal_memory(services, data, current_request_id())
    return reme_answer(answer, **metadata)


ROUTES: list[HTTPRouteHandler] = [summary_personal_memory, retrieve_personal_memory]
