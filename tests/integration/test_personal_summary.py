"""summary_personal_memory: facts about a user are read, reconciled with what is known, and kept.

The stand-in model answers each pipeline step by the name of its output model
(``ScriptedPersonalModel`` below): it rates as personal exactly the messages it has facts for,
extracts those facts, and decides reconciliations as each test says.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.jobs import run_worker
from app.main import job_handlers
from app.services import Services
from app.settings import Settings
from tests.support.standin import StandInOpenAI, minimal_answer, schema_name

_MESSAGE = re.compile(r"^\[(\d+)\] said [^\n]*\n(?:    \(answering: [^\n]*\)\n)?    (.*)$", re.MULTILINE)
_SCORED = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)
_CASE = re.compile(r"^New fact (\d+): (.*?)(?: \(happened [^)]*\))?$", re.MULTILINE)
_KNOWN = re.compile(r"^  - (m\d+): (.*?) \(recorded", re.MULTILINE)


@dataclass
class Case:
    """One new fact the reconcile step asks about, with the stored facts shown next to it."""

    index: int
    fact: str
    known: dict[str, str]  # label -> content

    def label_of(self, content: str) -> str:
        return next(label for label, stored in self.known.items() if stored == content)


def reconcile_cases(prompt: str) -> list[Case]:
    cases = []
    for block in prompt.split("\n\n"):
        head = _CASE.search(block)
        if head:
            known = dict(_KNOWN.findall(block))
            cases.append(Case(int(head.group(1)), head.group(2), known))
    return cases


def add_everything(cases: list[Case]) -> list[dict[str, Any]]:
    return [{"fact_index": c.index, "action": "add", "reason": "new"} for c in cases]


@dataclass
class ScriptedPersonalModel:
    """Stand-in answers for the personal pipeline; install with ``standin.responder = model``."""

    facts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # message text -> facts
    reconcile: Callable[[list[Case]], list[dict[str, Any]]] = add_everything
    insights: list[dict[str, Any]] = field(default_factory=list)
    time_range: dict[str, Any] | None = None

    def says(self, message: str, *facts: dict[str, Any]) -> ScriptedPersonalModel:
        self.facts[message] = list(facts)
        return self

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        prompt = request["messages"][-1]["content"]
        step = schema_name(request)
        if step == "PersonalInfoScores":
            scored = _SCORED.findall(prompt)
            return {
                "scores": [{"index": int(i), "score": 1.0 if m in self.facts else 0.0} for i, m in scored]
            }
        if step == "ExtractedFacts":
            found = [
                {"message_index": int(i), **fact}
                for i, message in _MESSAGE.findall(prompt)
                for fact in self.facts.get(message, [])
            ]
            return {"facts": found}
        if step == "ReconcileDecisions":
            return {"decisions": self.reconcile(reconcile_cases(prompt))}
        if step == "UserProfileInsights":
            return {"insights": self.insights}
        if step == "QueryTimeRange" and self.time_range is not None:
            return self.time_range
        return minimal_answer(request)


def fact(content: str, keywords: list[str], **extra: Any) -> dict[str, Any]:
    return {"content": content, "keywords": keywords, "observation_type": "preference", **extra}


def conversation(*user_messages: str, time_created: str | None = None) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for content in user_messages:
        messages.append({"role": "assistant", "content": "Tell me more."})
        message: dict[str, Any] = {"role": "user", "content": content}
        if time_created:
            message["time_created"] = time_created
        messages.append(message)
    return {"messages": messages}


async def summarise(
    client: httpx.AsyncClient, *user_messages: str, workspace: str = "ws", **fields: Any
) -> httpx.Response:
    body = {"workspace_id": workspace, "trajectories": [conversation(*user_messages)], **fields}
    return await client.post("/summary_personal_memory", json=body)


def steps_asked(standin: StandInOpenAI) -> list[str | None]:
    return [schema_name(r) for r in standin.chat_requests]


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(text(sql), params)).all()]


async def test_facts_are_read_from_personal_messages_in_remes_shape(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    standin.responder = ScriptedPersonalModel().says(
        "I have a cat named Shadow, she is 3",
        fact(
            "user has a 3-year-old cat named Shadow",
            ["cat", "Shadow", "pet"],
            observation_type="personal_info",
        ),
    )

    response = await summarise(client, "What is the capital of Peru?", "I have a cat named Shadow, she is 3")

    body = response.json()
    assert response.status_code == 200, body
    [memory] = body["metadata"]["memory_list"]
    assert memory["memory_type"] == "personal"
    assert memory["content"] == "user has a 3-year-old cat named Shadow"
    assert memory["when_to_use"] == "cat, Shadow, pet"
    assert memory["target"] == "user"
    assert memory["reflection_subject"] == ""
    assert memory["metadata"]["keywords"] == "cat, Shadow, pet"
    assert memory["metadata"]["source_message"] == "I have a cat named Shadow, she is 3"
    assert memory["metadata"]["observation_type"] == "personal_info"
    assert body["metadata"]["deleted_memory_ids"] == []
    assert body["metadata"]["decisions"][0]["action"] == "add"
    stored = await rows(engine, "SELECT memory_id, target FROM memory")
    assert stored == [{"memory_id": memory["memory_id"], "target": "user"}]
    [trajectory] = await rows(engine, "SELECT kind, status, error FROM trajectory")
    assert trajectory == {"kind": "personal", "status": "done", "error": None}


async def test_messages_below_the_information_threshold_yield_no_facts(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    standin.responder = ScriptedPersonalModel()  # rates every message 0

    response = await summarise(client, "Thanks, that helps!")

    assert response.status_code == 200
    assert response.json()["metadata"]["memory_list"] == []
    assert steps_asked(standin) == ["PersonalInfoScores"]
    assert await rows(engine, "SELECT memory_id FROM memory") == []


async def test_a_reversed_preference_leaves_one_current_fact_and_the_old_one_in_history(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    def replace_the_coffee_fact(cases: list[Case]) -> list[dict[str, Any]]:
        [case] = cases
        old = case.label_of("user loves coffee")
        return [{"fact_index": 0, "action": "replace", "memory": old, "reason": "no longer likes coffee"}]

    model = ScriptedPersonalModel(reconcile=replace_the_coffee_fact)
    model.says("I love coffee", fact("user loves coffee", ["coffee"]))
    model.says("I can't stand coffee anymore", fact("user dislikes coffee", ["coffee"]))
    standin.responder = model
    first = (await summarise(client, "I love coffee")).json()["metadata"]["memory_list"][0]

    response = await summarise(client, "I can't stand coffee anymore")

    body = response.json()
    assert response.status_code == 200, body
    [current] = body["metadata"]["memory_list"]
    assert body["metadata"]["deleted_memory_ids"] == [first["memory_id"]]
    stored = await rows(engine, "SELECT memory_id, content FROM memory")
    assert stored == [{"memory_id": current["memory_id"], "content": "user dislikes coffee"}]
    history = await rows(
        engine,
        "SELECT action, reason, before FROM memory_event WHERE memory_id = :id ORDER BY id",
        id=first["memory_id"],
    )
    assert [h["action"] for h in history] == ["add", "delete"]
    assert history[1]["reason"] == f"contradicted by {current['memory_id']}"
    assert history[1]["before"]["content"] == "user loves coffee"


async def test_the_same_fact_twice_gives_one_memory(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    standin.responder = ScriptedPersonalModel().says("I'm vegetarian", fact("user is vegetarian", ["diet"]))
    first = (await summarise(client, "I'm vegetarian")).json()["metadata"]["memory_list"][0]
    standin.requests.clear()

    response = await summarise(client, "I'm vegetarian")

    body = response.json()
    assert body["metadata"]["memory_list"] == []
    [decision] = body["metadata"]["decisions"]
    assert decision["action"] == "drop"
    assert decision["target_memory_id"] == first["memory_id"]
    assert "ReconcileDecisions" not in steps_asked(standin)  # a word-for-word repeat needs no model
    assert await rows(engine, "SELECT memory_id FROM memory") == [{"memory_id": first["memory_id"]}]


async def test_a_fact_known_in_other_words_is_dropped_as_the_model_decides(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    def already_known(cases: list[Case]) -> list[dict[str, Any]]:
        return [{"fact_index": c.index, "action": "drop", "memory": "m1", "reason": "known"} for c in cases]

    model = ScriptedPersonalModel(reconcile=already_known)
    model.says("I live in Lyon", fact("user lives in Lyon", ["Lyon", "home"]))
    model.says("My home is in Lyon", fact("user's home is in Lyon", ["Lyon", "home"]))
    standin.responder = model
    await summarise(client, "I live in Lyon")

    response = await summarise(client, "My home is in Lyon")

    assert response.json()["metadata"]["decisions"][0]["action"] == "drop"
    assert await rows(engine, "SELECT content FROM memory") == [{"content": "user lives in Lyon"}]


async def test_a_refining_fact_is_merged_into_the_stored_memory(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    def merge(cases: list[Case]) -> list[dict[str, Any]]:
        merged = "user plays tennis every Saturday at the club"
        return [{"fact_index": 0, "action": "update", "memory": "m1", "merged_content": merged}]

    model = ScriptedPersonalModel(reconcile=merge)
    model.says("I play tennis", fact("user plays tennis", ["tennis"]))
    model.says("I play at the club every Saturday", fact("user plays at the club on Saturdays", ["club"]))
    standin.responder = model
    first = (await summarise(client, "I play tennis")).json()["metadata"]["memory_list"][0]

    response = await summarise(client, "I play at the club every Saturday")

    [merged] = response.json()["metadata"]["memory_list"]
    assert merged["memory_id"] == first["memory_id"]
    assert merged["content"] == "user plays tennis every Saturday at the club"
    assert merged["when_to_use"] == "tennis, club"
    [update] = await rows(engine, "SELECT before, after FROM memory_event WHERE action = 'update'")
    assert update["before"]["content"] == "user plays tennis"
    assert update["after"]["content"] == merged["content"]
    assert len(await rows(engine, "SELECT memory_id FROM memory")) == 1


async def test_facts_of_different_users_are_reconciled_separately(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    standin.responder = ScriptedPersonalModel().says("I'm vegetarian", fact("user is vegetarian", ["diet"]))
    await summarise(client, "I'm vegetarian", user_name="alice")

    response = await summarise(client, "I'm vegetarian", user_name="bob")

    assert response.json()["metadata"]["decisions"][0]["action"] == "add"
    stored = await rows(engine, "SELECT target FROM memory ORDER BY target")
    assert stored == [{"target": "alice"}, {"target": "bob"}]


async def test_event_time_is_resolved_against_the_time_the_message_was_said(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    said = "Last weekend I went kayaking"
    standin.responder = ScriptedPersonalModel().says(
        said,
        # The model's own date is wrong on purpose: the deterministic resolver wins.
        fact(
            "user went kayaking", ["kayak"], time_expression="last weekend", event_time="2024-01-01T00:00:00"
        ),
    )
    body = {
        "workspace_id": "ws",
        "trajectories": [conversation(said, time_created="2025-03-12 09:00:00")],
    }

    response = await client.post("/summary_personal_memory", json=body)

    [memory] = response.json()["metadata"]["memory_list"]
    assert memory["metadata"]["event_time"] == "2025-03-08 00:00:00"
    assert memory["metadata"]["event_time_end"] == "2025-03-10 00:00:00"
    assert memory["metadata"]["time_expression"] == "last weekend"
    assert memory["metadata"]["time_info"] == "last weekend (2025-03-08 to 2025-03-09)"  # ReMe's field
    [stored] = await rows(engine, "SELECT event_time::text AS t FROM memory")
    assert stored["t"].startswith("2025-03-08 00:00:00")


async def test_the_models_event_time_is_used_when_the_resolver_finds_none(
    client: httpx.AsyncClient, standin: StandInOpenAI
) -> None:
    said = "At Easter I visited my grandmother"
    standin.responder = ScriptedPersonalModel().says(
        said, fact("user visited grandmother", ["family"], time_expression="Easter", event_time="2025-04-20")
    )

    response = await summarise(client, said)

    [memory] = response.json()["metadata"]["memory_list"]
    assert memory["metadata"]["event_time"] == "2025-04-20 00:00:00"
    assert memory["metadata"]["event_time_source"] == "llm"


async def test_an_llm_failure_leaves_the_trajectory_failed_and_nothing_written(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    standin.set_mode("error")

    response = await summarise(client, "I have two kids")

    body = response.json()
    assert response.status_code == 503
    assert body["success"] is False
    [trajectory] = await rows(engine, "SELECT status, error FROM trajectory")
    assert trajectory["status"] == "failed"
    assert "score_messages" in trajectory["error"]
    assert await rows(engine, "SELECT memory_id FROM memory") == []
    assert await rows(engine, "SELECT id FROM memory_event") == []


async def test_an_llm_timeout_while_reconciling_is_a_504_with_nothing_written(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    model = ScriptedPersonalModel()
    model.says("I run", fact("user runs", ["running"])).says(
        "I run daily", fact("user runs daily", ["running"])
    )
    standin.responder = model
    await summarise(client, "I run")

    def stall_after_extracting(request: dict[str, Any]) -> dict[str, Any]:
        if schema_name(request) == "ExtractedFacts":
            standin.set_mode("timeout", 1)  # the next request, reconcile, stalls
        return model(request)

    standin.responder = stall_after_extracting

    response = await summarise(client, "I run daily")

    assert response.status_code == 504, response.json()
    statuses = await rows(engine, "SELECT status FROM trajectory ORDER BY created_at")
    assert [s["status"] for s in statuses] == ["done", "failed"]
    assert await rows(engine, "SELECT content FROM memory") == [{"content": "user runs"}]


async def test_without_trajectories_the_request_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/summary_personal_memory", json={"workspace_id": "ws"})

    assert response.status_code == 400
    assert response.json()["metadata"]["errors"][0]["loc"] == ["body", "trajectories"]


async def test_an_unreadable_message_time_is_refused(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    bad = {"role": "user", "content": "hi", "time_created": "last tuesday-ish"}
    body = {"workspace_id": "ws", "trajectories": [{"messages": [bad]}]}

    response = await client.post("/summary_personal_memory", json=body)

    assert response.status_code == 400
    assert "time_created" in response.json()["answer"]
    assert await rows(engine, "SELECT id FROM trajectory") == []


async def test_async_mode_stores_the_input_and_a_job_that_the_worker_completes(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine, settings: Settings
) -> None:
    standin.responder = ScriptedPersonalModel().says("I'm a nurse", fact("user is a nurse", ["job", "nurse"]))

    response = await summarise(client, "I'm a nurse", async_mode=True)

    assert response.status_code == 202
    job_id = response.json()["metadata"]["job_id"]
    assert await rows(engine, "SELECT status FROM trajectory") == [{"status": "pending"}]
    services = await Services.start(settings)
    try:
        await run_worker(services, job_handlers(), once=True)
    finally:
        await services.stop()
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "done", job
    assert job["result"]["memory_list"][0]["content"] == "user is a nurse"
    assert await rows(engine, "SELECT status FROM trajectory") == [{"status": "done"}]
