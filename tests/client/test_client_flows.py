"""The ReMe-compatible flows through ReMeClient and AsyncReMeClient (each test runs with both),
with the stand-in as the service's chat model. Every typed result must declare every key it gets."""

from __future__ import annotations

import pytest
from reme_client import JobTimeoutError
from reme_client.models.results import TaskSummaryResult, ToolCallsRecorded

from tests.client.conftest import AnyClient, collect, done, undeclared_fields
from tests.integration.task_support import SUCCESS, responder, trajectory
from tests.integration.test_personal_summary import ScriptedPersonalModel, fact
from tests.integration.test_task_async import run_worker_once
from tests.integration.test_tool_summary import scripted_model
from tests.support.standin import StandInOpenAI


async def test_task_memory_is_learnt_retrieved_recorded_and_pruned(
    reme: AnyClient, standin: StandInOpenAI
) -> None:
    standin.responder = responder(
        success=[{**SUCCESS, "confidence": 0.8, "step_type": "Decision"}], failure=[], comparative=[]
    )

    summary = await done(reme.summary_task_memory("agent", [trajectory("t1", 1.0)]))
    retrieved = await done(reme.retrieve_task_memory("agent", "research a public company", top_k=3))
    simple = await done(reme.retrieve_task_memory_simple("agent", "research a company", search_mode="hybrid"))
    recorded = await done(reme.record_task_memory("agent", retrieved.memory_list, update_utility=False))
    pruned = await done(reme.delete_task_memory("agent", freq_threshold=1, utility_threshold=0.5))

    [memory] = summary.memory_list
    assert memory.when_to_use == SUCCESS["when_to_use"] and summary.update_result.inserted_count == 1
    assert (memory.confidence, memory.step_type) == (0.8, "decision")
    assert [m.memory_id for m in retrieved.memory_list] == [memory.memory_id]
    assert retrieved.memory_list[0].similarity is not None and retrieved.answer
    assert simple.search_mode == "hybrid" and simple.memory_list[0].fused_score is not None
    assert [(u.memory_id, u.freq, u.utility) for u in recorded.updated_memories] == [(memory.memory_id, 1, 0)]
    assert [(m.memory_id, m.metadata["freq"]) for m in recorded.memory_list] == [(memory.memory_id, 1)]
    assert recorded.update_result.updated_count == 1 and recorded.deleted_memory_ids == []
    assert pruned.deleted_memory_ids == [memory.memory_id]
    for result in (summary, retrieved, simple, recorded, pruned):
        assert undeclared_fields(result) == []


async def test_a_summarised_run_is_listed_with_the_memories_learnt_from_it(
    reme: AnyClient, standin: StandInOpenAI
) -> None:
    standin.responder = responder(failure=[], comparative=[])
    summary = await done(reme.summary_task_memory_simple("agent", [trajectory("t1", 1.0)]))

    [run] = await collect(reme.iter_trajectories("agent", page_size=1))
    detail = await done(reme.get_trajectory("agent", run.id))

    assert run.id == summary.trajectory_ids[0] and run.status == "done"
    assert [m.memory_id for m in detail.memories] == [summary.memory_list[0].memory_id]
    assert undeclared_fields(detail) == []


async def test_personal_memory_is_summarised_and_retrieved(reme: AnyClient, standin: StandInOpenAI) -> None:
    said = "I have a cat named Shadow, she is 3"
    standin.responder = ScriptedPersonalModel().says(said, fact("alice has a cat named Shadow", ["cat"]))
    conversation = {"messages": [{"role": "assistant", "content": "Hi!"}, {"role": "user", "content": said}]}

    summary = await done(reme.summary_personal_memory("home", [conversation], user_name="alice"))
    found = await done(reme.retrieve_personal_memory("home", "what pet does alice have", user_name="alice"))

    assert [m.content for m in summary.memory_list] == ["alice has a cat named Shadow"]
    assert summary.decisions[0].action == "add" and summary.user_name == "alice"
    assert [m.content for m in found.memory_list] == ["alice has a cat named Shadow"]
    assert found.memory_list[0].target == "alice" and found.time_range is None
    assert undeclared_fields(summary) == [] and undeclared_fields(found) == []


async def test_tool_calls_are_recorded_summarised_and_retrieved_by_name(
    reme: AnyClient, standin: StandInOpenAI
) -> None:
    calls = [
        {"tool_name": "web_search", "input": {"q": "asyncio"}, "output": "10 results", "time_cost": 1.5},
        {"tool_name": "web_search", "input": {"q": ""}, "output": "error: empty query", "success": False},
        {"tool_name": "", "input": {}, "output": "nameless"},
    ]
    standin.responder = scripted_model

    recorded = await done(reme.add_tool_call_result("agent", calls))
    summary = await done(reme.summary_tool_memory("agent", ["web_search"]))
    guidelines = await done(reme.retrieve_tool_memory("agent", ["web_search", "never_called"]))

    assert recorded.deduplication_stats.added == 2 and [r.index for r in recorded.rejected] == [2]
    assert recorded.stats["web_search"].call_count == 2
    assert summary.summarized == ["web_search"]
    assert [m.when_to_use for m in guidelines.memory_list] == ["web_search"]
    assert guidelines.success is True and guidelines.answer.startswith("Tool: web_search")
    assert guidelines.unknown == ["never_called"] and "never_called" in guidelines.notes[0]
    assert len(guidelines.memory_list[0].tool_call_results or []) == 2
    for result in (recorded, summary, guidelines):
        assert undeclared_fields(result) == []


async def test_vector_store_lists_copies_and_deletes_workspaces(reme: AnyClient) -> None:
    await done(reme.add_memories("source", [{"content": "one"}, {"content": "two"}]))

    copied = await done(reme.vector_store("target", "copy", src_workspace_id="source"))
    listed = await done(reme.vector_store("target", "list", limit=1))
    deleted = await done(reme.vector_store("source", "delete"))

    assert copied.action_result == {"size": 2}
    assert len(listed.action_result) == 1 and listed.action_result[0]["content"] == "one"
    assert deleted.action_result == {"deleted_count": 2}
    assert undeclared_fields(copied) == []


async def test_a_submitted_summary_is_waited_for_until_the_worker_finishes_it(
    reme: AnyClient, standin: StandInOpenAI, database_url: str
) -> None:
    standin.responder = responder(failure=[], comparative=[])

    accepted = await done(reme.submit_summary_task_memory("agent", [trajectory("t1", 1.0)]))
    with pytest.raises(JobTimeoutError) as waited:
        await done(reme.wait_for_job(accepted.job_id, timeout=0.2, poll_interval=0.05))
    await run_worker_once(database_url, standin)
    job = await done(reme.wait_for_job(accepted.job_id, timeout=30, poll_interval=0.1))

    assert accepted.status == "queued" and waited.value.job.status == "queued"
    assert job.status == "done" and job.flow == "summary_task_memory"
    learnt = job.result_as(TaskSummaryResult)
    assert [m.when_to_use for m in learnt.memory_list] == [SUCCESS["when_to_use"]]
    assert undeclared_fields(learnt) == []
    assert undeclared_fields(accepted) == [] and undeclared_fields(job) == []


async def test_a_submitted_tool_call_batch_gives_a_typed_result_once_done(
    reme: AnyClient, standin: StandInOpenAI, database_url: str
) -> None:
    standin.responder = scripted_model
    calls = [{"tool_name": "web_search", "input": {"q": "asyncio"}, "output": "GOOD result 1"}]

    accepted = await done(reme.submit_add_tool_call_result("agent", calls))
    await run_worker_once(database_url, standin)
    job = await done(reme.wait_for_job(accepted.job_id, timeout=30, poll_interval=0.1))

    recorded = job.result_as(ToolCallsRecorded)
    assert recorded.deduplication_stats.added == 1 and recorded.judged is True
    assert undeclared_fields(recorded) == []
