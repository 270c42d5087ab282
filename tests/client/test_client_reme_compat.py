"""The client on the paths ReMe clients rely on: ``react``, ``GET /list``, empty and unmatched
requests that ReMe answers with 200, capped ``top_k``, any-script workspace ids and ReMe's
metadata fields. Each test runs with both clients against the live service."""

from __future__ import annotations

from typing import Any

from reme_client import TaskTrajectory

from tests.client.conftest import AnyClient, done, undeclared_fields
from tests.integration.task_support import SUCCESS, responder, trajectory
from tests.integration.test_personal_summary import ScriptedPersonalModel, conversation, fact
from tests.support.standin import StandInOpenAI, schema_name

REPLY = "Split it into history, finances, products and competitors, then search each."


def plain_replies_too(steps: Any) -> Any:
    """The flows' structured steps get their scripted answers; ``react``'s plain chat gets ``REPLY``."""

    def answer(request: dict[str, Any]) -> Any:
        return steps(request) if schema_name(request) else REPLY

    return answer


async def test_react_answers_with_task_memories_in_context_and_its_run_can_be_learnt(
    reme: AnyClient, standin: StandInOpenAI
) -> None:
    standin.responder = plain_replies_too(responder(failure=[], comparative=[]))
    [memory] = (await done(reme.summary_task_memory_simple("agent", [trajectory("t1", 1.0)]))).memory_list
    earlier = [{"role": "user", "content": "I am preparing an investment memo."}]

    result = await done(reme.react("agent", "Research Xiaomi", messages=earlier, top_k=1))
    run = result.as_trajectory(1.0, task_id="xiaomi")
    learnt = await done(reme.summary_task_memory_simple("agent", [run]))

    [asked_react] = [r for r in standin.chat_requests if not schema_name(r)]
    system, *asked = asked_react["messages"]
    assert SUCCESS["content"] in system["content"]
    assert [m["content"] for m in asked] == ["I am preparing an investment memo.", "Research Xiaomi"]
    assert result.answer == REPLY and result.success is True
    assert [(m.role, m.content) for m in result.messages] == [
        ("user", "I am preparing an investment memo."),
        ("user", "Research Xiaomi"),
        ("assistant", REPLY),
    ]
    assert [m.memory_id for m in result.memory_list] == [memory.memory_id]
    assert TaskTrajectory.model_validate(run).task_id == "xiaomi" and len(learnt.trajectory_ids) == 1
    assert undeclared_fields(result) == []


async def test_list_flows_describes_every_flow_as_a_function_tool(reme: AnyClient) -> None:
    listings = await done(reme.list_flows())

    by_name = {listing.function.name: listing for listing in listings}
    assert {"react", "record_task_memory", "retrieve_tool_memory", "vector_store"} <= set(by_name)
    assert {listing.type for listing in listings} == {"function"}
    react = by_name["react"].function
    assert "top_k" in react.parameters["properties"] and "POST /react" in react.description
    assert [found for listing in listings for found in undeclared_fields(listing)] == []


async def test_recording_nothing_or_unknown_ids_answers_remes_keys(reme: AnyClient) -> None:
    nothing = await done(reme.record_task_memory("agent", []))
    unknown = await done(reme.record_task_memory("agent", ["no-such-memory"], update_utility=True))

    assert nothing.success is True and nothing.updated_memories == [] and nothing.memory_list == []
    assert nothing.deleted_memory_ids == [] and nothing.update_result.updated_count == 0
    assert unknown.not_found_memory_ids == ["no-such-memory"] and unknown.memory_list == []
    assert undeclared_fields(nothing) == [] and undeclared_fields(unknown) == []


async def test_nothing_found_is_an_empty_answer_with_a_note(reme: AnyClient) -> None:
    tasks = await done(reme.retrieve_task_memory_simple("empty", "anything at all"))
    tools = await done(reme.retrieve_tool_memory("empty", ["never_called", "nor_this"]))

    assert (tasks.answer, tasks.memory_list, tasks.success) == ("", [], True) and tasks.notes
    assert (tools.answer, tools.memory_list, tools.success) == ("", [], True)
    assert tools.unknown == ["never_called", "nor_this"] and "nor_this" in tools.notes[0]
    assert undeclared_fields(tasks) == [] and undeclared_fields(tools) == []


async def test_a_top_k_above_the_limit_is_capped_with_a_note(reme: AnyClient) -> None:
    await done(reme.add_memories("agent", [{"content": "Check the fees", "when_to_use": "booking travel"}]))

    found = await done(reme.retrieve_task_memory_simple("agent", "booking travel", top_k=100_000))

    assert len(found.memory_list) == 1
    assert any("top_k 100000" in note for note in found.notes)


async def test_workspace_ids_of_any_script_work_in_flows_and_v1_routes(reme: AnyClient) -> None:
    workspace = "équipe ops@example.com 東京"
    await done(reme.create_workspace(workspace))
    await done(reme.add_memories(workspace, [{"content": "Restart the worker after a deploy"}]))

    found = await done(reme.retrieve_task_memory_simple(workspace, "after a deploy"))
    stats = await done(reme.workspace_stats(workspace))

    assert [m.workspace_id for m in found.memory_list] == [workspace]
    assert stats.workspace_id == workspace and stats.memory_count == 1


async def test_a_personal_fact_carries_the_time_it_is_about(reme: AnyClient, standin: StandInOpenAI) -> None:
    said = "Last weekend I went kayaking"
    standin.responder = ScriptedPersonalModel().says(
        said, fact("alice went kayaking", ["kayak"], time_expression="last weekend")
    )

    summary = await done(
        reme.summary_personal_memory(
            "home", [conversation(said, time_created="2025-03-12 09:00:00")], user_name="alice"
        )
    )

    [memory] = summary.memory_list
    assert memory.time_info == "last weekend (2025-03-08 to 2025-03-09)"


async def test_health_answers_as_reme_does(reme: AnyClient) -> None:
    health = await done(reme.health())

    assert health.status == "healthy" and health.version
