"""ReMe-compatible task-memory flows: summary, retrieval, usage recording and pruning."""

from __future__ import annotations

from litestar import Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody

from app.logging import current_request_id
from app.pipelines.task.domain import FlowResult
from app.pipelines.task.react import react
from app.pipelines.task.record import delete_task_memory, memory_ids_to_record, record_task_memory
from app.pipelines.task.retrieve import RetrievalOptions, retrieve_task_memory, retrieve_task_memory_simple
from app.pipelines.task.runs import queue_summary
from app.pipelines.task.summary import summarise_task_memory
from app.pipelines.task.summary_simple import summarise_task_memory_simple
from app.routes.deps import ServicesDep
from app.routes.flows import accepted, reme_answer
from app.routes.schemas import ReMeResponse
from app.schemas.task import (
    DeleteTaskRequest,
    ReactRequest,
    RecordTaskRequest,
    RetrieveTaskRequest,
    SummaryTaskRequest,
)

TAGS = ["task memory"]


def _answer(result: FlowResult) -> Response[ReMeResponse]:
    return Response(reme_answer(result.answer, **result.metadata), status_code=200)


def _options(data: RetrieveTaskRequest) -> RetrievalOptions:
    return RetrievalOptions(
        query=data.query,
        messages=data.messages,
        top_k=data.top_k,
        search_mode=data.search_mode,
        filters=data.filters(),
        rerank=data.rerank,
        rewrite=data.rewrite,
    )


@post("/summary_task_memory", status_code=200, tags=TAGS, summary="Learn task memories from trajectories")
async def summary_task_memory(
    data: JSONBody[SummaryTaskRequest], services: ServicesDep
) -> Response[ReMeResponse]:
    flow = "summary_task_memory"
    if data.async_mode:
        return accepted(await queue_summary(services, flow, data.workspace_id, data.new_trajectories()), flow)
    trajectories = data.new_trajectories()
    return _answer(
        await summarise_task_memory(services, data.workspace_id, trajectories, current_request_id())
    )


@post(
    "/summary_task_memory_simple", status_code=200, tags=TAGS, summary="Learn task memories, one call per run"
)
async def summary_task_memory_simple(
    data: JSONBody[SummaryTaskRequest], services: ServicesDep
) -> Response[ReMeResponse]:
    flow = "summary_task_memory_simple"
    if data.async_mode:
        return accepted(await queue_summary(services, flow, data.workspace_id, data.new_trajectories()), flow)
    trajectories = data.new_trajectories()
    result = await summarise_task_memory_simple(
        services, data.workspace_id, trajectories, current_request_id()
    )
    return _answer(result)


@post("/retrieve_task_memory", status_code=200, tags=TAGS, summary="Task memories and guidance for a task")
async def retrieve_task_memory_flow(
    data: JSONBody[RetrieveTaskRequest], services: ServicesDep
) -> Response[ReMeResponse]:
    return _answer(
        await retrieve_task_memory(services, data.workspace_id, _options(data), current_request_id())
    )


@post("/retrieve_task_memory_simple", status_code=200, tags=TAGS, summary="Task memories, no model call")
async def retrieve_task_memory_simple_flow(
    data: JSONBody[RetrieveTaskRequest], services: ServicesDep
) -> Response[ReMeResponse]:
    result = await retrieve_task_memory_simple(
        services, data.workspace_id, _options(data), current_request_id()
    )
    return _answer(result)


@post("/record_task_memory", status_code=200, tags=TAGS, summary="Count a use of task memories")
async def record_task_memory_flow(
    data: JSONBody[RecordTaskRequest], services: ServicesDep
) -> Response[ReMeResponse]:
    ids = memory_ids_to_record(data.memory_dicts, data.memory_ids)
    result = await record_task_memory(
        services, data.workspace_id, ids, helped=data.update_utility, request_id=current_request_id()
    )
    return _answer(result)


@post("/delete_task_memory", status_code=200, tags=TAGS, summary="Prune task memories that rarely help")
async def delete_task_memory_flow(
    data: JSONBody[DeleteTaskRequest], services: ServicesDep
) -> Response[ReMeResponse]:
    result = await delete_task_memory(
        services,
        data.workspace_id,
        freq_threshold=data.freq_threshold,
        utility_threshold=data.utility_threshold,
        request_id=current_request_id(),
    )
    return _answer(result)


@post("/react", status_code=200, tags=TAGS, summary="The chat model answers a task, helped by task memories")
async def react_flow(data: JSONBody[ReactRequest], services: ServicesDep) -> ReMeResponse:
    options = RetrievalOptions(query=data.query, messages=data.messages, top_k=data.top_k)
    answer, messages, metadata = await react(services, data.workspace_id, options, current_request_id())
    return ReMeResponse(
        answer=answer, messages=messages, metadata={"request_id": current_request_id(), **metadata}
    )


ROUTES: list[HTTPRouteHandler] = [
    summary_task_memory,
    summary_task_memory_simple,
    retrieve_task_memory_flow,
    retrieve_task_memory_simple_flow,
    record_task_memory_flow,
    delete_task_memory_flow,
    react_flow,
]
