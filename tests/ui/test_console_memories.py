"""The console in a browser: workspaces, the memory table, search, edit with history, delete."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.ui.seed import add_memories, seed_workspace

WS = "agent.console"


async def test_the_workspace_list_shows_counts_per_type_and_opens_a_workspace(
    page: Any, client: httpx.AsyncClient
) -> None:
    await seed_workspace(client, WS)

    await page.goto("/ui")
    row = page.locator("tr", has=page.locator(f"a:text-is('{WS}')"))
    cells = await row.locator("td").all_inner_texts()
    await row.locator("a").click()

    assert cells[:4] == ["8", "5", "3", "0"]  # total, task, personal, tool
    assert await page.locator("h1").inner_text() == WS
    assert await page.locator("#memories tbody tr").count() == 8


async def test_the_memory_table_filters_by_type_and_target(page: Any, client: httpx.AsyncClient) -> None:
    await seed_workspace(client, WS)

    await page.goto(f"/ui/w/{WS}")
    await page.select_option("#type", "personal")
    await page.fill("#target", "user")
    await page.click("button:text('Apply')")
    rows = page.locator("#memories tbody tr")

    assert await rows.count() == 3
    assert set(await rows.locator("td:nth-child(2)").all_inner_texts()) == {"personal"}
    assert "type=personal" in page.url


async def test_pages_follow_a_cursor_newest_first(page: Any, client: httpx.AsyncClient) -> None:
    await add_memories(client, WS, [{"content": f"note number {i:03d}"} for i in range(60)])

    await page.goto(f"/ui/w/{WS}")
    first = await page.locator("#memories tbody tr td:first-child a").all_inner_texts()
    await page.click("a[rel=next]")
    second = await page.locator("#memories tbody tr td:first-child a").all_inner_texts()

    assert len(first) == 50 and len(second) == 10
    assert not set(first) & set(second)
    assert await page.locator("a[rel=next]").count() == 0


async def test_a_search_url_shows_similarity_text_rank_and_fused_score(
    page: Any, client: httpx.AsyncClient
) -> None:
    await seed_workspace(client, WS)

    await page.goto(f"/ui/w/{WS}?q=retry+after+429+too+many+requests&mode=hybrid&top_k=3")
    first = await page.locator("#results tbody tr").first.locator("td").all_inner_texts()

    assert await page.locator("#results tbody tr").count() == 3
    assert first[0].startswith("When an API answers 429")
    similarity, text_rank, fused = (float(v) for v in first[2:5])
    assert 0 < similarity <= 1 and text_rank > 0 and fused > 0


async def test_the_search_box_is_reached_with_the_slash_key(page: Any, client: httpx.AsyncClient) -> None:
    await seed_workspace(client, WS)

    await page.goto(f"/ui/w/{WS}")
    await page.keyboard.press("/")
    await page.keyboard.type("window seat")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**q=window+seat**")

    assert "Prefers window seats" in await page.locator("#results tbody tr").first.inner_text()


async def test_an_edit_is_saved_and_shown_as_a_diff_in_the_history(
    page: Any, client: httpx.AsyncClient
) -> None:
    (memory_id,) = await add_memories(
        client, WS, [{"when_to_use": "When paging", "content": "Read every page."}]
    )

    await page.goto(f"/ui/w/{WS}/memory?id={memory_id}")
    await page.fill("#content", "Read every page until next_page is empty.")
    await page.fill("#score", "0.75")
    await page.click("#edit button[type=submit]")
    await page.wait_for_url("**saved=1")
    latest = page.locator("#history > li").first

    assert (
        await page.locator("dl.fields dd").nth(2).inner_text() == "Read every page until next_page is empty."
    )
    assert await latest.locator(".badge").inner_text() == "update"
    assert "edited through /v1" in await latest.inner_text()
    assert await latest.locator("ins").all_inner_texts() == ["page until next_page is empty.", "0.75"]
    assert await latest.locator("del").all_inner_texts() == ["page.", "0.0"]
    assert await latest.locator("code").count() == 1  # the request id
    assert await page.locator("#history > li").count() == 2  # add, update


async def test_saving_an_unchanged_memory_records_nothing(page: Any, client: httpx.AsyncClient) -> None:
    (memory_id,) = await add_memories(client, WS, [{"content": "Stay as you are.", "metadata": {"k": 1}}])

    await page.goto(f"/ui/w/{WS}/memory?id={memory_id}")
    await page.click("#edit button[type=submit]")
    await page.wait_for_url("**saved=0")

    assert await page.locator("#history > li").count() == 1


async def test_invalid_metadata_is_refused_with_the_reason(page: Any, client: httpx.AsyncClient) -> None:
    (memory_id,) = await add_memories(client, WS, [{"content": "Some fact."}])

    await page.goto(f"/ui/w/{WS}/memory?id={memory_id}")
    await page.fill("#metadata", "[1, 2]")
    await page.click("#edit button[type=submit]")

    assert "metadata must be a JSON object" in await page.locator("[role=alert]").inner_text()


async def test_a_deleted_memory_keeps_its_history(
    page: Any, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    (memory_id,) = await add_memories(client, WS, [{"content": "Soon gone."}])
    page.on("dialog", lambda dialog: dialog.accept())

    await page.goto(f"/ui/w/{WS}/memory?id={memory_id}")
    await page.click("button:text('Delete memory')")
    await page.wait_for_url(f"**/ui/w/{WS}?deleted=*")
    notice = await page.locator(".notice").inner_text()
    await page.goto(f"/ui/w/{WS}/memory?id={memory_id}")
    async with engine.connect() as conn:
        left = await conn.scalar(text("SELECT count(*) FROM memory WHERE memory_id = :id"), {"id": memory_id})

    assert "deleted" in notice and left == 0
    assert await page.locator("h1 .badge").inner_text() == "deleted"
    assert await page.locator("#history .badge").all_inner_texts() == ["delete", "add"]
    assert "Soon gone." in await page.locator("#history > li").first.inner_text()


async def test_dismissing_the_confirmation_keeps_the_memory(page: Any, client: httpx.AsyncClient) -> None:
    (memory_id,) = await add_memories(client, WS, [{"content": "Still here."}])
    page.on("dialog", lambda dialog: dialog.dismiss())

    await page.goto(f"/ui/w/{WS}/memory?id={memory_id}")
    await page.click("button:text('Delete memory')")
    stored = await client.get(f"/v1/workspaces/{WS}/memories/{memory_id}")

    assert stored.status_code == 200


async def test_a_workspace_is_created_and_deleted_after_typing_its_id(
    page: Any, client: httpx.AsyncClient
) -> None:
    await page.goto("/ui")
    await page.fill("#new-id", "scratch")
    await page.click("button:text('Create')")
    await page.wait_for_url("**/ui/w/scratch")
    await page.click("a:text('Data in/out')")
    await page.fill("#confirm", "scratch")
    await page.click("button:text('Delete workspace')")
    await page.wait_for_url("**/ui?deleted=scratch")

    assert (await client.get("/v1/workspaces/scratch/stats")).status_code == 404


async def test_an_unknown_memory_is_a_404_page(page: Any, client: httpx.AsyncClient) -> None:
    await seed_workspace(client, WS)

    response = await page.goto(f"/ui/w/{WS}/memory?id=nope")

    assert response.status == 404
    assert "no memory 'nope'" in await page.locator("[role=alert]").inner_text()


async def test_a_long_history_shows_the_latest_events_and_says_older_ones_exist(
    page: Any, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    (memory_id,) = await add_memories(client, WS, [{"content": "A busy memory."}])
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO memory_event (workspace_id, memory_id, action, before, after, reason)"
                " SELECT :ws, :id, 'update', jsonb_build_object('score', n),"
                " jsonb_build_object('score', n + 1), 'step ' || n FROM generate_series(1, 250) AS n"
            ),
            {"ws": WS, "id": memory_id},
        )

    await page.goto(f"/ui/w/{WS}/memory?id={memory_id}")

    assert await page.locator("#history > li").count() == 200
    assert "step 250" in await page.locator("#history > li").first.inner_text()
    assert "Older events are not shown" in await page.locator("#history + p").inner_text()


async def test_the_first_tab_reaches_the_skip_link_which_moves_focus_to_the_content(
    page: Any, client: httpx.AsyncClient
) -> None:
    await seed_workspace(client, WS)

    await page.goto("/ui")
    await page.keyboard.press("Tab")
    first = await page.evaluate("document.activeElement.textContent")
    await page.keyboard.press("Enter")
    await page.keyboard.press("Tab")
    after_skip = await page.evaluate("document.activeElement.textContent")

    assert first == "Skip to content"
    assert after_skip == WS  # the first link of the main content, past the navigation


UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea")]
    .filter((el) => el.type !== "hidden" && el.type !== "radio" && el.labels.length === 0)
    .map((el) => el.name || el.id)"""


async def test_every_form_field_of_every_page_has_a_label(page: Any, client: httpx.AsyncClient) -> None:
    (memory_id, *_) = await seed_workspace(client, WS)
    pages = [
        "/ui",
        f"/ui/w/{WS}",
        f"/ui/w/{WS}/memory?id={memory_id}",
        f"/ui/w/{WS}/trajectories",
        f"/ui/w/{WS}/charts",
        f"/ui/w/{WS}/data",
        "/ui/jobs",
    ]

    unlabelled = {}
    for path in pages:
        await page.goto(path)
        unlabelled[path] = await page.evaluate(UNLABELLED)

    assert unlabelled == {path: [] for path in pages}


async def test_an_invalid_workspace_id_is_refused_with_the_rule(page: Any, client: httpx.AsyncClient) -> None:
    response = await page.request.post(
        "/ui/workspaces",
        form={"id": "team/alpha", "csrf_token": await _token(page)},
    )

    assert response.status == 400
    assert "cannot contain &#39;/&#39;" in await response.text()


async def _token(page: Any) -> str:
    await page.goto("/ui")
    return str(await page.locator("meta[name=csrf-token]").get_attribute("content"))


async def test_stored_markup_is_shown_as_text_never_run(page: Any, client: httpx.AsyncClient) -> None:
    hostile = '<img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>'
    (memory_id,) = await add_memories(client, WS, [{"when_to_use": hostile, "content": hostile}])

    await page.goto(f"/ui/w/{WS}")
    await page.goto(f"/ui/w/{WS}/memory?id={memory_id}")
    await page.goto(f"/ui/w/{WS}?q=script&mode=vector")

    assert await page.evaluate("window.pwned") is None
    assert hostile in await page.locator("#results").inner_text()


async def test_a_workspace_id_with_spaces_and_a_hash_works_everywhere(
    page: Any, client: httpx.AsyncClient
) -> None:
    odd = "team alpha #1"

    await page.goto("/ui")
    await page.fill("#new-id", odd)
    await page.click("button:text('Create')")
    heading = await page.locator("h1").inner_text()
    (memory_id,) = await add_memories(client, quote(odd, safe=""), [{"content": "first"}])
    await page.reload()
    await page.locator("#memories tbody a").first.click()
    await page.fill("#content", "second")
    await page.click("#edit button[type=submit]")
    await page.wait_for_url("**saved=1")

    assert heading == odd
    stored = await client.get(f"/v1/workspaces/{quote(odd, safe='')}/memories/{memory_id}")
    assert stored.json()["content"] == "second"
