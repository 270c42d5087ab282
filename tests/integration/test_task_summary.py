"""summary_task_memory: trajectories become judged, deduplicated task memories, all or nothing."""

from __future__ import annotations

import asyncio
import json

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.task_support import (
    COMPARATIVE,
    FAILURE,
    SUCCESS,
    judged,
    reme_messages,
    responder,
    rows,
    steps_called,
    trajectory,
)
from tests.support.standin import StandInOpenAI


async def test_success_and_failure_of_one_task_yield_all_three_kinds_of_memory(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    standin.responder = responder()
    body = {"workspace_id": "w1", "trajectories": [trajectory("t1", 1.0), trajectory("t1", 0.0)]}

    response = await client.post("/summary_task_memory", json=body)

    result = response.json()
    assert response.status_code == 200, result
    assert result["success"] is True
    steps = steps_called(standin.chat_requests)
    assert sorted(s for s in steps if s != "CandidateJudgements") == [
        "ComparativeInsights",
        "FailureLessons",
        "SuccessPatterns",
    ]
    assert steps.count("CandidateJudgements") == 3
    memories = result["metadata"]["memory_list"]
    assert {m["metadata"]["origin"] for m in memories} == {"success", "failure", "comparative"}
    assert {m["content"] for m in memories} == {
        SUCCESS["content"],
        FAILURE["content"],
        COMPARATIVE["content"],
    }
    assert result["metadata"]["update_result"] == {"inserted_count": 3, "deleted_count": 0}
    assert json.loads(result["answer"]) == memories


async def test_stored_memory_carries_remes_fields_judge_score_and_its_source(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    standin.responder = responder(judge=judged(score=0.77))

    response = await client.post(
        "/summary_task_memory", json={"workspace_id": "w1", "trajectories": [trajectory("t9", 1.0)]}
    )

    [memory] = response.json()["metadata"]["memory_list"]
    assert memory["memory_type"] == "task"
    assert memory["when_to_use"] == SUCCESS["when_to_use"]
    assert memory["score"] == 0.77
    assert memory["author"] == "stand-in"
    assert memory["metadata"]["experience"] == SUCCESS["content"]
    assert memory["metadata"]["tags"] == SUCCESS["tags"]
    assert memory["metadata"]["task_id"] == "t9"
    # ReMe's fields: the model gave no confidence, so the judge's score stands in.
    assert memory["metadata"]["confidence"] == 0.77
    assert memory["metadata"]["step_type"] == ""
    [stored] = await rows(
        engine, "SELECT source_trajectory_id, embedding IS NOT NULL AS has_vector FROM memory"
    )
    assert str(stored["source_trajectory_id"]) == memory["metadata"]["source_trajectory_id"]
    assert stored["has_vector"] is True


async def test_no_comparison_between_runs_of_different_tasks(
    client: httpx.AsyncClient, standin: StandInOpenAI
) -> None:
    standin.responder = responder()
    body = {"workspace_id": "w1", "trajectories": [trajectory("t1", 1.0), trajectory("t2", 0.0)]}

    response = await client.post("/summary_task_memory", json=body)

    assert response.status_code == 200
    assert "ComparativeInsights" not in steps_called(standin.chat_requests)


async def test_every_judged_candidate_gets_a_validation_record_and_rejects_are_not_stored(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    weak = {"when_to_use": "When unsure what to do next", "content": "Think harder about the problem."}
    verdicts = {
        "judgements": [
            {"index": 0, "is_valid": True, "score": 0.9, "feedback": "good"},
            {"index": 1, "is_valid": True, "score": 0.3, "feedback": "vague"},
        ]
    }
    standin.responder = responder(success=[SUCCESS, weak], judge=verdicts)

    response = await client.post(
        "/summary_task_memory", json={"workspace_id": "w1", "trajectories": [trajectory("", 1.0)]}
    )

    memories = response.json()["metadata"]["memory_list"]
    assert [m["content"] for m in memories] == [SUCCESS["content"]]
    records = await rows(
        engine, "SELECT memory_id, is_valid, score, feedback, model FROM validation_record ORDER BY score"
    )
    assert [(r["score"], r["feedback"], r["model"]) for r in records] == [
        (0.3, "vague", "stand-in"),
        (0.9, "good", "stand-in"),
    ]
    assert records[0]["memory_id"] is None
    assert records[1]["memory_id"] == memories[0]["memory_id"]


async def test_a_candidate_without_a_readable_verdict_is_rejected(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    # The judge answers JSON, but its verdict for the only candidate is malformed.
    standin.responder = responder(judge={"judgements": [{"index": 0, "is_valid": "perhaps", "score": 7}]})

    response = await client.post(
        "/summary_task_memory", json={"workspace_id": "w1", "trajectories": [trajectory("", 1.0)]}
    )

    assert response.status_code == 200
    assert response.json()["metadata"]["memory_list"] == []
    [record] = await rows(engine, "SELECT memory_id, is_valid FROM validation_record")
    assert record == {"memory_id": None, "is_valid": False}


async def test_summarising_the_same_trajectory_twice_adds_nothing_the_second_time(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    standin.responder = responder()
    body = {"workspace_id": "w1", "trajectories": [trajectory("t1", 1.0), trajectory("t1", 0.0)]}
    first = await client.post("/summary_task_memory", json=body)

    second = await client.post("/summary_task_memory", json=body)

    assert first.json()["metadata"]["update_result"]["inserted_count"] == 3
    assert second.status_code == 200
    assert second.json()["metadata"]["memory_list"] == []
    assert second.json()["metadata"]["update_result"] == {"inserted_count": 0, "deleted_count": 0}
    assert len(await rows(engine, "SELECT 1 FROM memory")) == 3


async def test_duplicates_within_one_batch_are_stored_once(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    same_words = {**SUCCESS, "content": "  " + SUCCESS["content"].upper() + " "}
    standin.responder = responder(success=[SUCCESS, same_words])

    response = await client.post(
        "/summary_task_memory", json={"workspace_id": "w1", "trajectories": [trajectory("", 1.0)]}
    )

    assert len(response.json()["metadata"]["memory_list"]) == 1
    assert len(await rows(engine, "SELECT 1 FROM memory")) == 1


async def test_stored_memories_of_another_workspace_do_not_count_as_duplicates(
    client: httpx.AsyncClient, standin: StandInOpenAI
) -> None:
    standin.responder = responder()
    await client.post(
        "/summary_task_memory", json={"workspace_id": "a", "trajectories": [trajectory("", 1.0)]}
    )

    response = await client.post(
        "/summary_task_memory", json={"workspace_id": "b", "trajectories": [trajectory("", 1.0)]}
    )

    assert response.json()["metadata"]["update_result"]["inserted_count"] == 1


async def test_persisting_writes_add_events_and_marks_trajectories_done(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    standin.responder = responder()

    response = await client.post(
        "/summary_task_memory", json={"workspace_id": "w1", "trajectories": [trajectory("", 1.0)]}
    )

    [memory] = response.json()["metadata"]["memory_list"]
    [event] = await rows(engine, "SELECT memory_id, action, after FROM memory_event")
    assert (event["memory_id"], event["action"]) == (memory["memory_id"], "add")
    assert event["after"]["content"] == SUCCESS["content"]
    [run] = await rows(engine, "SELECT status, error, attempts, processed_at FROM trajectory")
    assert (run["status"], run["error"], run["attempts"]) == ("done", None, 1)
    assert run["processed_at"] is not None


async def test_the_reme_trajectory_file_is_accepted_and_stored_unchanged(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    standin.responder = responder()
    messages = reme_messages()
    body = {"workspace_id": "w1", "trajectories": [{"task_id": "xiaomi", "messages": messages, "score": 1.0}]}

    response = await client.post("/summary_task_memory", json=body)

    assert response.status_code == 200, response.json()
    [stored] = await rows(engine, "SELECT messages FROM trajectory")
    assert stored["messages"] == messages
    prompt = standin.chat_requests[0]["messages"][0]["content"]
    assert "-> call web_search" in prompt and "Analyze Xiaomi Corporation" in prompt


async def test_summary_simple_makes_one_call_per_trajectory_without_a_judge(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    standin.responder = lambda request: {"experiences": [{**SUCCESS, "confidence": 0.65}]}
    body = {
        "workspace_id": "w1",
        "trajectories": [trajectory("t1", 1.0), trajectory("t1", 0.0, "Book a flight")],
    }

    response = await client.post("/summary_task_memory_simple", json=body)

    result = response.json()
    assert response.status_code == 200, result
    assert steps_called(standin.chat_requests) == ["TrajectoryExperiences"] * 2
    [memory] = result["metadata"]["memory_list"]  # the second run proposed the same memory
    assert memory["score"] == 0.65
    assert await rows(engine, "SELECT 1 FROM validation_record") == []
    assert [r["status"] for r in await rows(engine, "SELECT status FROM trajectory")] == ["done", "done"]


async def test_concurrent_summaries_of_one_workspace_store_a_memory_once(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    standin.responder = responder()
    body = {"workspace_id": "w1", "trajectories": [trajectory("", 1.0)]}

    responses = await asyncio.gather(*(client.post("/summary_task_memory", json=body) for _ in range(3)))

    assert [r.status_code for r in responses] == [200] * 3
    assert sum(r.json()["metadata"]["update_result"]["inserted_count"] for r in responses) == 1
    assert len(await rows(engine, "SELECT 1 FROM memory")) == 1
    assert len(await rows(engine, "SELECT 1 FROM validation_record")) == 3
