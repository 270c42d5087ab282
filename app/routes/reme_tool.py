"""ReMe-compatible tool memory flows: record calls, write guidelines, retrieve them by name."""

from __future__ import annotations

from litestar import Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody

from app.logging import current_request_id
from app.pipelines.tool.common import ToolFlowResult, enqueue_tool_flow
from app.pipelines.tool.record import queue_tool_calls, record_tool_calls
from app.pipelines.tool.retrieve import retrieve_tool_guidelines
from app.pipelines.tool.summary import summarize_tools
from app.routes.deps import ServicesDep
from app.routes.flows import accepted, reme_answer
from app.routes.schemas import ReMeResponse
from app.schemas.tool import AddToolCallResultRequest, ToolNamesRequest


def flow_response(result: ToolFlowResult) -> Response[ReMeResponse]:
    body = reme_answer(result.answer, success=result.success, **result.metadata)
    return Response(body, status_code=result.status_code)


@post("/add_tool_call_result", summary="Record tool-call results and judge the new ones", status_code=200)
async def add_tool_call_result(
    data: JSONBody[AddToolCallResultRequest], services: ServicesDep
) -> Response[ReMeResponse]:
    if data.async_mode:
        job_id = await queue_tool_calls(services, data.workspace_id, data.model_dump(mode="json"))
        return accepted(job_id, "add_tool_call_result")
    result = await record_tool_calls(
        services,
        data.workspace_id,
        data.tool_call_results,
        default_tool_name=data.tool_name,
        request_id=current_request_id(),
    )
    return flow_response(result)


@post(
    "/summary_tool_memory", summary="Write each tool's usage guideline from its recent calls", status_code=200
)
async def summary_tool_memory(
    data: JSONBody[ToolNamesRequest], services: ServicesDep
) -> Response[ReMeResponse]:
    if data.async_mode:
        payload = data.model_dump(mode="json")
        job_id = await enqueue_tool_flow(services, data.workspace_id, "summary_tool_memory", payload)
        return accepted(job_id, "summary_tool_memory")
    result = await summarize_tools(
        services, data.workspace_id, data.tool_names, request_id=current_request_id()
    )
    return flow_response(result)


@post("/retrieve_tool_memory", summary="The guidelines of the named tools (exact names)", status_code=200)
async def retrieve_tool_memory(
    data: JSONBody[ToolNamesRequest], services: ServicesDep
) -> Response[ReMeResponse]:
    result = await retrieve_tool_guidelines(
        services, data.workspace_id, data.tool_names, request_id=current_request_id()
    )
    return flow_response(result)


ROUTES: list[HTTPRouteHandler] = [add_tool_call_result, summary_tool_memory, retrieve_tool_memory]
