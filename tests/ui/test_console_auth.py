"""The console with API keys enabled: a login form, what a key may see, write scope, and form tokens."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.server import RunningServer
from tests.ui.conftest import given_key, log_in
from tests.ui.seed import add_memories, given_failed_job


async def test_without_a_key_the_console_asks_for_one_and_returns_to_the_page(
    secured_page: Any, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await add_memories(client, "alpha", [{"content": "alpha fact"}])
    key = await given_key(engine, "read", ["alpha"])

    await secured_page.goto("/ui/w/alpha")
    asked = secured_page.url
    await secured_page.fill("#key", "reme_wrong")
    await secured_page.click("button:text('Log in')")
    refused = await secured_page.locator("[role=alert]").inner_text()
    await secured_page.fill("#key", key)
    await secured_page.click("button:text('Log in')")
    await secured_page.wait_for_url("**/ui/w/alpha")

    assert "/ui/login?next=%2Fui%2Fw%2Falpha" in asked
    assert "unknown" in refused
    assert await secured_page.locator("#memories tbody tr").count() == 1


async def test_a_key_sees_only_its_workspaces_and_their_jobs(
    secured_page: Any, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await add_memories(client, "alpha", [{"content": "alpha fact"}])
    await add_memories(client, "beta", [{"content": "beta secret"}])
    await given_failed_job(engine, "alpha")
    await given_failed_job(engine, "beta")
    key = await given_key(engine, "read", ["alpha"])

    await log_in(secured_page, key)
    listed = await secured_page.locator("table.grid tbody th a").all_inner_texts()
    forbidden = await secured_page.goto("/ui/w/beta")
    await secured_page.goto("/ui/jobs?status=failed")
    jobs = await secured_page.locator("#jobs tbody tr").all_inner_texts()

    assert listed == ["alpha"]
    assert forbidden.status == 403
    assert len(jobs) == 1 and "alpha" in jobs[0]
    assert await secured_page.locator("#jobs button").count() == 0  # a read key cannot retry


async def test_a_read_key_gets_no_edit_form_and_its_posts_are_refused(
    secured_page: Any, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    (memory_id,) = await add_memories(client, "alpha", [{"content": "read only"}])
    key = await given_key(engine, "read", ["alpha"])

    await log_in(secured_page, key, f"/ui/w/alpha/memory?id={memory_id}")
    token = await secured_page.locator("meta[name=csrf-token]").get_attribute("content")
    forced = await secured_page.request.post(
        f"/ui/w/alpha/memory/delete?id={memory_id}", form={"csrf_token": token}
    )

    assert await secured_page.locator("#edit").count() == 0
    assert forced.status == 403 and "may not write" in await forced.text()
    assert (await client.get(f"/v1/workspaces/alpha/memories/{memory_id}")).status_code == 200


async def test_a_write_key_edits_and_logging_out_asks_for_a_key_again(
    secured_page: Any, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    (memory_id,) = await add_memories(client, "alpha", [{"content": "first version"}])
    key = await given_key(engine, "write", ["alpha"])

    await log_in(secured_page, key, f"/ui/w/alpha/memory?id={memory_id}")
    await secured_page.fill("#content", "second version")
    await secured_page.click("#edit button[type=submit]")
    await secured_page.wait_for_url("**saved=1")
    await secured_page.click("button:text('Log out')")
    await secured_page.goto("/ui")

    stored = (await client.get(f"/v1/workspaces/alpha/memories/{memory_id}")).json()
    assert stored["content"] == "second version"
    assert "/ui/login" in secured_page.url


async def test_the_key_cookie_is_httponly_and_the_api_does_not_accept_it(
    secured_page: Any, auth_server: RunningServer, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    await add_memories(client, "alpha", [{"content": "alpha fact"}])
    key = await given_key(engine, "admin", None)

    await log_in(secured_page, key)
    cookies = {c["name"]: c for c in await secured_page.context.cookies()}
    through_api = await secured_page.request.get("/v1/workspaces")

    assert cookies["reme_console_key"]["httpOnly"] is True
    assert cookies["reme_console_key"]["sameSite"] == "Lax"
    assert cookies["reme_console_key"]["path"] == "/ui"
    assert through_api.status == 401


async def test_a_form_post_without_the_page_token_is_refused(
    app_server: RunningServer, client: httpx.AsyncClient
) -> None:
    (memory_id,) = await add_memories(client, "alpha", [{"content": "keep me"}])
    async with httpx.AsyncClient(base_url=app_server.base_url) as browserless:
        await browserless.get("/ui")  # receives the token cookie
        token = browserless.cookies["reme_console_csrf"]
        missing = await browserless.post(f"/ui/w/alpha/memory/delete?id={memory_id}", data={})
        wrong = await browserless.post(f"/ui/w/alpha/memory/delete?id={memory_id}", data={"csrf_token": "x"})
        cross_site = await browserless.post(
            f"/ui/w/alpha/memory/delete?id={memory_id}",
            data={"csrf_token": token},
            headers={"Origin": "https://evil.example"},
        )

    assert [missing.status_code, wrong.status_code, cross_site.status_code] == [403, 403, 403]
    assert (await client.get(f"/v1/workspaces/alpha/memories/{memory_id}")).status_code == 200
