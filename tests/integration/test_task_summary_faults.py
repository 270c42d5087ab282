"""summary_task_memory under bad input and a failing model: clear 4xx/503/504, nothing half-written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import LLMSettings, Settings
from tests.conftest import app_settings
from tests.integration.task_support import SUCCESS, responder, rows, trajectory
from tests.support.server import start_server
from tests.support.standin import StandInOpenAI, schema_name

ONE_RUN = {"workspace_id": "w1", "trajectories": [trajectory("t1", 1.0)]}


def error_locations(response: httpx.Response) -> list[list[Any]]:
    return [e["loc"] for e in response.json()["metadata"]["errors"]]


@pytest.mark.parametrize(
    ("mode", "status"),
    [("error", 503), ("timeout", 504), ("garbage", 503)],
)
async def test_a_failing_model_leaves_the_trajectory_failed_and_no_memory(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine, mode: str, status: int
) -> None:
    standin.set_mode(mode)  # type: ignore[arg-type]

    response = await client.post("/summary_task_memory", json=ONE_RUN)

    body = response.json()
    assert response.status_code == status, body
    assert body["success"] is False
    assert "chat model" in body["answer"]
    [run] = await rows(engine, "SELECT status, error, messages FROM trajectory")
    assert run["status"] == "failed"
    assert run["error"] == body["answer"]
    assert run["messages"] == ONE_RUN["trajectories"][0]["messages"]
    assert await rows(engine, "SELECT 1 FROM memory") == []


async def test_a_failing_judge_writes_no_memory_and_no_validation_record(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    extract = responder()

    def judge_fails(request: dict[str, Any]) -> dict[str, Any]:
        if schema_name(request) == "CandidateJudgements":
            raise RuntimeError("judge down")
        return extract(request)

    standin.responder = judge_fails

    response = await client.post("/summary_task_memory", json=ONE_RUN)

    assert response.status_code == 503
    assert await rows(engine, "SELECT 1 FROM memory") == []
    assert await rows(engine, "SELECT 1 FROM validation_record") == []
    assert [r["status"] for r in await rows(engine, "SELECT status FROM trajectory")] == ["failed"]


async def test_unknown_role_is_a_400_naming_the_message(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    run = trajectory("t1", 1.0)
    run["messages"][2]["role"] = "robot"

    response = await client.post("/summary_task_memory", json={"workspace_id": "w1", "trajectories": [run]})

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert [str(p) for p in error_locations(response)[0]] == [
        "body",
        "trajectories",
        "0",
        "messages",
        "2",
        "role",
    ]
    assert await rows(engine, "SELECT 1 FROM trajectory") == []


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"workspace_id": "w1", "trajectories": []}, ["body", "trajectories"]),
        ({"workspace_id": "w1"}, ["body", "trajectories"]),
        (
            {"workspace_id": "w1", "trajectories": [{"messages": [{"role": "user", "content": "x"}]}]},
            ["body", "trajectories", "0", "score"],
        ),
        (
            {"workspace_id": "w1", "trajectories": [{"messages": [], "score": 1}]},
            ["body", "trajectories", "0", "messages"],
        ),
        ({"workspace_id": "bad/id", "trajectories": [trajectory("", 1.0)]}, ["body", "workspace_id"]),
    ],
)
async def test_missing_or_invalid_fields_are_a_400_saying_where(
    client: httpx.AsyncClient, body: dict[str, Any], where: list[str]
) -> None:
    response = await client.post("/summary_task_memory", json=body)

    assert response.status_code == 400, response.json()
    assert where in [[str(p) for p in loc] for loc in error_locations(response)]


async def test_a_message_over_the_size_limit_is_a_400_naming_its_index(
    client: httpx.AsyncClient, settings: Settings, engine: AsyncEngine
) -> None:
    run = trajectory("t1", 1.0)
    run["messages"][3]["content"] = "x" * (settings.limits.max_message_chars + 1)

    response = await client.post("/summary_task_memory", json={"workspace_id": "w1", "trajectories": [run]})

    assert response.status_code == 400
    assert error_locations(response) == [["body", "trajectories", 0, "messages", 3, "content"]]
    assert await rows(engine, "SELECT 1 FROM trajectory") == []


async def test_too_many_messages_or_trajectories_are_a_400(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    limits = settings.limits
    long_run = {"score": 1.0, "messages": [{"role": "user", "content": "hi"}] * (limits.max_messages + 1)}
    many = [trajectory("", 1.0)] * (limits.max_trajectories + 1)

    too_long = await client.post(
        "/summary_task_memory", json={"trajectories": [trajectory("", 1.0), long_run]}
    )
    too_many = await client.post("/summary_task_memory_simple", json={"trajectories": many})

    assert too_long.status_code == 400
    assert error_locations(too_long) == [["body", "trajectories", 1, "messages"]]
    assert too_many.status_code == 400
    assert error_locations(too_many) == [["body", "trajectories"]]


async def test_without_a_model_summary_is_a_503_naming_the_setting_and_retrieval_still_works(
    client: httpx.AsyncClient,
    database_url: str,
    standin: StandInOpenAI,
    storage_dir: Path,
    engine: AsyncEngine,
) -> None:
    no_llm = start_server(app_settings(database_url, standin, storage_dir, llm=LLMSettings()))
    try:
        async with httpx.AsyncClient(base_url=no_llm.base_url, timeout=30) as other:
            summary = await other.post("/summary_task_memory", json=ONE_RUN)
            simple = await other.post("/summary_task_memory_simple", json={**ONE_RUN, "async_mode": True})
            retrieval = await other.post(
                "/retrieve_task_memory_simple", json={"workspace_id": "w1", "query": SUCCESS["when_to_use"]}
            )
    finally:
        no_llm.stop()

    assert summary.status_code == 503
    assert "REME_LLM__BASE_URL" in summary.json()["answer"]
    assert simple.status_code == 503
    assert await rows(engine, "SELECT 1 FROM trajectory") == []
    assert retrieval.status_code == 200
    assert retrieval.json()["success"] is True
    assert standin.chat_requests == []
