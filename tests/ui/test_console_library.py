"""The console's Data page: load a bundled memory library, with and without the script, and who may."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.library import LIBRARY
from tests.support.server import RunningServer
from tests.ui.conftest import given_key, log_in, record_status

APPWORLD = LIBRARY["appworld"].memory_count


@pytest.fixture
async def scriptless_page(
    browser: Any, app_server: RunningServer, client: httpx.AsyncClient
) -> AsyncIterator[Any]:
    """A browser page with JavaScript turned off: the console must work with plain forms."""
    context = await browser.new_context(base_url=app_server.base_url, java_script_enabled=False)
    opened = await context.new_page()
    opened.set_default_timeout(60_000)
    yield opened
    await context.close()


async def memory_count(client: httpx.AsyncClient, workspace_id: str) -> int | None:
    response = await client.get(f"/v1/workspaces/{workspace_id}/stats")
    return response.json()["memory_count"] if response.status_code == 200 else None


async def test_loading_a_library_shows_progress_and_its_memories_appear(
    page: Any, client: httpx.AsyncClient
) -> None:
    await page.goto("/ui")
    await page.click("header nav a:text('Data')")
    await page.select_option("#library", "appworld")
    await record_status(page, "library-status")
    await page.click("#library-load button[type=submit]")
    status = page.locator("#library-status")
    await status.filter(has_text="Loaded").wait_for(timeout=120_000)
    seen = await page.evaluate("window.seen")

    assert (await status.inner_text()).startswith(f"Loaded {APPWORLD} memories.")
    assert f"Embedding: {APPWORLD} of {APPWORLD} memories" in seen  # streamed before the write finished
    assert await memory_count(client, "appworld") == APPWORLD  # the library's own name by default
    await status.locator("a").click()
    await page.wait_for_url("**/ui/w/appworld")
    assert await page.locator(".stats strong").first.inner_text() == str(APPWORLD)
    assert await page.locator("#memories tbody tr").count() > 0


async def test_a_workspace_data_tab_links_to_the_form_with_itself_as_target(
    page: Any, client: httpx.AsyncClient
) -> None:
    await client.post("/v1/workspaces", json={"id": "agent.lib"})

    await page.goto("/ui/w/agent.lib/data")
    await page.click("#load-library")

    assert await page.locator("#library-workspace").input_value() == "agent.lib"


async def test_without_javascript_the_form_posts_and_reports_the_count(
    scriptless_page: Any, client: httpx.AsyncClient
) -> None:
    await client.post(
        "/v1/workspaces/agent.nojs/memories", json=[{"memory_type": "task", "content": "own memory"}]
    )

    await scriptless_page.goto("/ui/data")
    await scriptless_page.select_option("#library", "appworld")
    await scriptless_page.fill("#library-workspace", "agent.nojs")
    await scriptless_page.check("input[name=replace]")
    await scriptless_page.click("#library-load button[type=submit]")
    await scriptless_page.wait_for_url("**/ui/data?*loaded=*")
    notice = await scriptless_page.locator("[role=status].notice").inner_text()

    assert f"Loaded {APPWORLD} memories of library appworld into workspace agent.nojs" in notice
    assert await memory_count(client, "agent.nojs") == APPWORLD  # replaced: its own memory is gone
    assert await memory_count(client, "appworld") is None


async def test_a_read_key_gets_no_load_form_and_its_post_is_refused(
    secured_page: Any, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = await given_key(engine, "read", ["appworld"])

    await log_in(secured_page, key, "/ui/data")
    token = await secured_page.locator("meta[name=csrf-token]").get_attribute("content")
    forced = await secured_page.request.post(
        "/ui/data/library", form={"csrf_token": token, "library": "appworld"}
    )

    assert await secured_page.locator("#library-load").count() == 0
    assert "may only read" in await secured_page.locator("#library-read-only").inner_text()
    assert forced.status == 403
    assert "needs a write key" in await forced.text()
    assert await memory_count(client, "appworld") is None


async def test_a_write_key_for_another_workspace_may_not_load_into_the_default_one(
    secured_page: Any, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = await given_key(engine, "write", ["agent.mine"])

    await log_in(secured_page, key, "/ui/data")
    await secured_page.click("#library-load button[type=submit]")  # target left empty: "appworld"
    status = secured_page.locator("#library-status")
    await status.filter(has_text="Failed").wait_for()

    assert "Failed (403)" in await status.inner_text()
    assert "'appworld'" in await status.inner_text()
    assert await memory_count(client, "appworld") is None


async def test_a_library_load_without_the_page_token_is_refused(
    app_server: RunningServer, client: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=app_server.base_url) as browserless:
        await browserless.get("/ui/data")  # receives the token cookie
        token = browserless.cookies["reme_console_csrf"]
        missing = await browserless.post("/ui/data/library", data={"library": "appworld"})
        wrong = await browserless.post(
            "/ui/data/library",
            data={"library": "appworld"},
            headers={"X-CSRF-Token": "x", "Accept": "application/x-ndjson"},
        )
        cross_site = await browserless.post(
            "/ui/data/library",
            data={"library": "appworld", "csrf_token": token},
            headers={"Origin": "https://evil.example"},
        )

    assert [missing.status_code, wrong.status_code, cross_site.status_code] == [403, 403, 403]
    assert await memory_count(client, "appworld") is None


async def test_an_unknown_library_or_a_bad_workspace_id_is_named(
    app_server: RunningServer, client: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=app_server.base_url) as browserless:
        await browserless.get("/ui/data")
        token = browserless.cookies["reme_console_csrf"]
        unknown = await browserless.post("/ui/data/library", data={"library": "nope", "csrf_token": token})
        bad_id = await browserless.post(
            "/ui/data/library", data={"library": "appworld", "workspace": "a/b", "csrf_token": token}
        )

    assert unknown.status_code == 404
    assert "no memory library named &#39;nope&#39;; available: appworld, bfcl_v3" in unknown.text
    assert bad_id.status_code == 400
    assert "invalid workspace id &#39;a/b&#39;" in bad_id.text
