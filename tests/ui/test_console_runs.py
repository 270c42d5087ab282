"""The console in a browser: trajectories and validations, tool memory, jobs, charts, data in and out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.task_support import SUCCESS, responder, trajectory
from tests.support.standin import StandInOpenAI
from tests.ui.conftest import record_status
from tests.ui.seed import given_failed_job, given_tool_calls, given_trajectory, seed_workspace, set_usage

WS = "agent.runs"


async def test_a_trajectory_shows_messages_derived_memories_and_every_validation(
    page: Any, engine: AsyncEngine
) -> None:
    trajectory_id, memory_id = await given_trajectory(engine, WS)

    await page.goto(f"/ui/w/{WS}/trajectories")
    await page.click(f"a[href$='{trajectory_id}']")
    verdicts = await page.locator("#validations tbody tr").all_inner_texts()

    assert await page.locator("#messages li").count() == 4
    assert await page.locator("#derived a").inner_text() == "When comparing flight prices"
    assert "kept" in verdicts[0] and "0.85" in verdicts[0] and "Specific and reusable." in verdicts[0]
    assert "rejected" in verdicts[1] and "0.20" in verdicts[1] and "Luck is not a method." in verdicts[1]
    await page.click("#derived a")
    assert memory_id in page.url


async def test_a_summarised_run_shows_what_the_judge_kept_and_rejected(
    page: Any, client: httpx.AsyncClient, standin: StandInOpenAI
) -> None:
    weak = {"when_to_use": "When unsure what to do next", "content": "Think harder about the problem."}
    verdicts = {
        "judgements": [
            {"index": 0, "is_valid": True, "score": 0.9, "feedback": "actionable"},
            {"index": 1, "is_valid": False, "score": 0.3, "feedback": "too vague to reuse"},
        ]
    }
    standin.responder = responder(success=[SUCCESS, weak], judge=verdicts)
    summary = await client.post(
        "/summary_task_memory", json={"workspace_id": WS, "trajectories": [trajectory("t1", 1.0)]}
    )
    assert summary.status_code == 200, summary.text

    await page.goto(f"/ui/w/{WS}/trajectories?status=done")
    await page.locator("#trajectories tbody tr a").first.click()
    verdicts_shown = await page.locator("#validations tbody tr").all_inner_texts()

    assert await page.locator("h2 .badge").inner_text() == "done"
    assert await page.locator("#derived a").all_inner_texts() == [SUCCESS["when_to_use"]]
    assert any("kept" in row and "actionable" in row and "0.90" in row for row in verdicts_shown)
    assert any("rejected" in row and "too vague to reuse" in row for row in verdicts_shown)


async def test_a_failed_trajectory_shows_its_error_and_is_found_by_status(
    page: Any, engine: AsyncEngine
) -> None:
    await given_trajectory(engine, WS)
    await given_trajectory(engine, WS, status="failed", error="LLMTimeout: the judge did not answer in 30 s")

    await page.goto(f"/ui/w/{WS}/trajectories?status=failed")
    rows = page.locator("#trajectories tbody tr")
    listed = await rows.all_inner_texts()
    await rows.first.locator("a").click()

    assert len(listed) == 1 and "LLMTimeout" in listed[0]
    assert "the judge did not answer" in await page.locator("dd.error").inner_text()


async def test_tool_memory_shows_statistics_recent_calls_guideline_and_success_over_time(
    page: Any, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    await given_tool_calls(engine, client, WS, "flight_search")

    await page.goto(f"/ui/w/{WS}/tools")
    row = await page.locator("#tools tbody tr").first.all_inner_texts()
    await page.click("a:text('flight_search')")

    assert row[0].split("\t")[:3] == ["flight_search", "10", "60%"]
    assert "60%" in await page.locator("#tool-stats").inner_text()
    assert await page.locator("#calls tbody tr").count() == 10
    assert "one query per page" in await page.locator("#guideline").inner_text()
    assert await page.locator("svg.chart circle").count() == 5  # one per day


async def test_a_failed_job_is_listed_with_its_error_and_retried(page: Any, engine: AsyncEngine) -> None:
    job_id = await given_failed_job(engine, WS)

    await page.goto("/ui/jobs?status=failed")
    row = await page.locator("#jobs tbody tr").first.inner_text()
    await page.click("#jobs button:text('Retry')")
    await page.wait_for_url("**retried=*")
    async with engine.connect() as conn:
        status, attempts = (
            await conn.execute(text("SELECT status, attempts FROM job WHERE id = :id"), {"id": job_id})
        ).one()

    assert "the chat model answered 500" in row
    assert (status, attempts) == ("queued", 0)
    assert await page.locator("#jobs tbody tr td.muted").inner_text() == "No failed jobs."


async def test_charts_show_growth_and_what_pruning_would_remove(
    page: Any, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    ids = await seed_workspace(client, WS)
    await set_usage(engine, WS, ids[0], freq=6, utility=1)  # would be pruned at freq>=5, utility/freq<0.5
    await set_usage(engine, WS, ids[1], freq=6, utility=5)

    await page.goto(f"/ui/w/{WS}/charts")
    summary = await page.locator("#prune-summary").inner_text()
    await page.fill("#u", "0.9")
    await page.click("button:text('Show')")
    stricter = await page.locator("#prune-summary").inner_text()

    assert await page.locator("#growth svg rect").count() >= 2  # bars for task and personal
    assert summary.startswith("1 of 5 task memories") and "3 were never retrieved" in summary
    assert stricter.startswith("2 of 5")
    assert await page.locator("#freq svg rect[fill='#c0392b']:has(title)").count() == 1  # one bar: freq 6


async def test_a_dump_downloads_in_reme_format(page: Any, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await seed_workspace(client, WS)

    await page.goto(f"/ui/w/{WS}/data")
    async with page.expect_download() as info:
        await page.click("#dump")
    download = await info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    lines = [json.loads(line) for line in saved.read_text().splitlines()]

    assert download.suggested_filename == f"{WS}.jsonl"
    assert len(lines) == 8
    assert {"memory_id", "when_to_use", "content", "metadata", "time_created"} <= set(lines[0])
    assert "freq" in lines[0]["metadata"] and "embedding" not in lines[0]


async def test_an_upload_reports_progress_and_loads_the_file(
    page: Any, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    file = tmp_path / "library.jsonl"
    records = [
        {"memory_id": f"m{i}", "when_to_use": f"situation {i}", "content": f"advice {i}"} for i in range(300)
    ]
    file.write_text("\n".join(json.dumps(r) for r in records) + "\n")

    await page.goto("/ui")
    await page.fill("#new-id", WS)
    await page.click("button:text('Create')")
    await page.click("a:text('Data in/out')")
    await page.set_input_files("#file", str(file))
    await record_status(page, "upload-status")
    await page.click("#upload button[type=submit]")
    status = page.locator("#upload-status")
    await status.filter(has_text="Loaded").wait_for()
    seen = await page.evaluate("window.seen")
    listed = (await client.get(f"/v1/workspaces/{WS}/memories", params={"limit": 500})).json()["items"]

    assert (await status.inner_text()).startswith("Loaded 300 memories.")
    assert "Embedding: 300 of 300 memories" in seen  # streamed before the write finished
    assert await page.locator("#upload-progress").get_attribute("max") == "1"
    assert sorted(m["memory_id"] for m in listed) == sorted(r["memory_id"] for r in records)
    await status.locator("a").click()
    assert await page.locator(".stats strong").first.inner_text() == "300"


async def test_an_upload_with_a_bad_line_names_it_and_writes_nothing(
    page: Any, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await seed_workspace(client, WS)
    file = tmp_path / "broken.jsonl"
    file.write_text(json.dumps({"content": "fine"}) + "\n{not json\n")

    await page.goto(f"/ui/w/{WS}/data")
    await page.set_input_files("#file", str(file))
    await page.check("input[name=replace][value=true]")
    page.on("dialog", lambda dialog: dialog.accept())
    await page.click("#upload button[type=submit]")
    status = page.locator("#upload-status")
    await status.filter(has_text="Failed").wait_for()
    stats = (await client.get(f"/v1/workspaces/{WS}/stats")).json()

    assert "line 2" in await status.inner_text()
    assert stats["memory_count"] == 8
