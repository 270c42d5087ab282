"""GET /metrics: the counters move with the requests, model calls and jobs that were made."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.jobs import run_worker
from app.main import job_handlers
from app.services import Services
from app.settings import Settings
from tests.integration.task_support import responder, trajectory
from tests.support.metrics import scrape
from tests.support.standin import StandInOpenAI

SUMMARY_STEPS = (
    "split_runs",
    "extract_success_patterns",
    "extract_failure_lessons",
    "extract_comparative_insights",
    "judge_candidates",
    "embed_candidates",
    "drop_duplicates",
    "persist_memories",
)
WORKSPACE_ROUTE = "/v1/workspaces/{workspace_id}/memories"


async def test_requests_are_counted_by_route_template_not_by_path(client: httpx.AsyncClient) -> None:
    before = await scrape(client)

    for workspace in ("alpha", "beta", "gamma"):
        await client.get(f"/v1/workspaces/{workspace}/memories")
    await client.get("/health")

    after = await scrape(client)
    routes = after.labels_of("reme_http_requests_total", "route")
    assert WORKSPACE_ROUTE in routes
    assert not any("alpha" in route for route in routes)
    delta = after.value("reme_http_requests_total", route=WORKSPACE_ROUTE, method="GET")
    assert delta - before.value("reme_http_requests_total", route=WORKSPACE_ROUTE, method="GET") == 3
    health = after.value("reme_http_requests_total", route="/health", status="200")
    assert health - before.value("reme_http_requests_total", route="/health", status="200") == 1
    latency = after.value("reme_http_request_duration_seconds_count", route="/health", method="GET")
    assert (
        latency - before.value("reme_http_request_duration_seconds_count", route="/health", method="GET") == 1
    )


async def test_paths_that_match_no_route_share_one_label(client: httpx.AsyncClient) -> None:
    before = await scrape(client)

    await client.get("/no/such/page-1")
    await client.get("/no/such/page-2")

    after = await scrape(client)
    assert not any("page-" in route for route in after.labels_of("reme_http_requests_total", "route"))
    unmatched = after.value("reme_http_requests_total", route="(unmatched)", status="404")
    assert unmatched - before.value("reme_http_requests_total", route="(unmatched)", status="404") == 2


async def test_a_summary_moves_step_model_token_and_embedding_counters(
    client: httpx.AsyncClient, standin: StandInOpenAI
) -> None:
    standin.responder = responder()
    before = await scrape(client)

    response = await client.post(
        "/summary_task_memory", json={"workspace_id": "m1", "trajectories": [trajectory("t1", 1.0)]}
    )

    assert response.status_code == 200, response.text
    usage = response.json()["metadata"]["usage"]
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    flow = "summary_task_memory"
    for step in SUMMARY_STEPS:
        assert moved("reme_pipeline_step_duration_seconds_count", flow=flow, step=step) == 1, step
    assert moved("reme_llm_calls_total", model="stand-in") == usage["calls"] == len(standin.chat_requests)
    assert moved("reme_llm_tokens_total", model="stand-in", kind="prompt") == usage["prompt_tokens"]
    assert moved("reme_llm_tokens_total", model="stand-in", kind="completion") == usage["completion_tokens"]
    assert moved("reme_llm_errors_total") == 0
    assert moved("reme_embedding_calls_total") >= 1
    assert moved("reme_embedding_texts_total") >= moved("reme_embedding_calls_total")


async def test_a_failing_model_call_is_counted_as_an_error_of_its_step(
    client: httpx.AsyncClient, standin: StandInOpenAI
) -> None:
    standin.set_mode("error")
    before = await scrape(client)

    response = await client.post(
        "/summary_task_memory", json={"workspace_id": "m2", "trajectories": [trajectory("t1", 1.0)]}
    )

    assert response.status_code == 503, response.text
    after = await scrape(client)
    errors = after.value("reme_llm_errors_total", model="stand-in") - before.value(
        "reme_llm_errors_total", model="stand-in"
    )
    assert errors >= 1
    assert any(error.startswith("http_5") for error in after.labels_of("reme_llm_errors_total", "error"))


async def test_the_pool_gauges_are_exposed(client: httpx.AsyncClient) -> None:
    samples = await scrape(client)

    names = {name for name, _, _ in samples.rows}
    assert {"reme_db_pool_connections_in_use", "reme_db_pool_waiting"} <= names
    # /metrics reads the cached gauges outside any held connection: nothing is left checked out.
    assert samples.value("reme_db_pool_waiting") == 0


async def test_jobs_are_counted_by_flow_and_outcome(
    client: httpx.AsyncClient, standin: StandInOpenAI, settings: Settings, engine: AsyncEngine
) -> None:
    standin.responder = responder()
    flow = "summary_task_memory_simple"
    accepted = await client.post(
        f"/{flow}", json={"workspace_id": "m3", "async_mode": True, "trajectories": [trajectory("t1", 1.0)]}
    )
    assert accepted.status_code == 202, accepted.text
    before = await scrape(client)

    services = await Services.start(settings)
    try:
        await run_worker(services, job_handlers(), once=True)
    finally:
        await services.stop()

    after = await scrape(client)
    assert (
        after.value("reme_jobs_total", flow=flow, outcome="done")
        - before.value("reme_jobs_total", flow=flow, outcome="done")
        == 1
    )
    assert (
        after.value("reme_job_duration_seconds_count", flow=flow)
        - before.value("reme_job_duration_seconds_count", flow=flow)
        == 1
    )
