"""Take the screenshots of docs/ui.md: a throwaway database, demo data, the system Chromium.

    python -m tests.ui.screenshots [OUTPUT_DIR]     # default: docs/ui

Everything runs locally: an embedded PostgreSQL in a temporary directory, the service on
127.0.0.1 with the local embedding model, and Chromium driven by Playwright.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from app.auth import create_key
from app.db import normalise_url
from app.settings import AuthSettings, EmbeddingSettings, Settings, StorageSettings
from tests.support.database import create_database, embedded_server
from tests.support.server import start_server
from tests.ui.browser import LAUNCH_ARGS, chromium_path, missing_browser_reason
from tests.ui.seed import given_failed_job, given_tool_calls, given_trajectory, seed_workspace, set_usage

WS = "travel_agent"
TOPICS = ["flights", "hotels", "trains", "visas", "payments", "refunds", "calendars", "maps"]


async def seed(client: httpx.AsyncClient, engine: AsyncEngine) -> dict[str, Any]:
    """A workspace with a few months of history, a run, a tool, a failed job, an edited memory."""
    ids = await seed_workspace(client, WS)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    history = [
        {
            "memory_id": f"hist{i:04d}",
            "memory_type": "task",
            "when_to_use": f"When handling {TOPICS[i % len(TOPICS)]} request #{i}",
            "content": f"Check the {TOPICS[(i * 3) % len(TOPICS)]} details twice before confirming.",
            "score": round(0.5 + (i % 5) / 10, 2),
            "time_created": (start + timedelta(days=i // 4, hours=i % 4)).isoformat(),
            "metadata": {"freq": (i * 7) % 13, "utility": min((i * 5) % 7, (i * 7) % 13)},
        }
        for i in range(240)
    ]
    body = "\n".join(json.dumps(h) for h in history)
    response = await client.post(f"/v1/workspaces/{WS}/import", content=body)
    assert response.status_code == 200, response.text
    await set_usage(engine, WS, ids[0], freq=9, utility=7)
    await client.patch(
        f"/v1/workspaces/{WS}/memories/{ids[0]}",
        json={"content": "Loop until next_page is empty or null; the first page is never all.", "score": 0.9},
    )
    trajectory_id, _ = await given_trajectory(engine, WS)
    await given_trajectory(
        engine, WS, status="failed", error="LLMTimeout: the judge did not answer within 30 s"
    )
    await given_tool_calls(engine, client, WS, "flight_search")
    await given_failed_job(engine, WS)
    for other, count in (("support_bot", 12), ("user_alice", 4)):
        await client.post(
            f"/v1/workspaces/{other}/memories",
            json=[
                {"memory_type": "personal", "content": f"fact {i}", "target": "alice"} for i in range(count)
            ],
        )
    return {"memory_id": ids[0], "trajectory_id": trajectory_id}


async def shoot(page: Any, path: str, out: Path, name: str, *, full: bool = True) -> None:
    await page.goto(path)
    await page.screenshot(path=str(out / f"{name}.png"), full_page=full)
    print(f"{out / name}.png  <- {path}")


async def upload(page: Any, out: Path, storage: Path) -> None:
    """The data page after uploading a file: the progress bar full and the count loaded."""
    file = storage / "support_library.jsonl"
    lines = [
        {"when_to_use": f"When a customer asks about topic {i}", "content": f"Answer {i}"} for i in range(500)
    ]
    file.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    await page.goto("/ui/w/support_bot/data")
    await page.set_input_files("#file", str(file))
    await page.click("#upload button[type=submit]")
    await page.locator("#upload-status").filter(has_text="Loaded").wait_for()
    await page.screenshot(path=str(out / "upload.png"), full_page=True)
    print(f"{out / 'upload'}.png  <- upload of {file.name}")


async def load_library(page: Any, out: Path) -> None:
    """The Data page after loading a bundled library into a new workspace: the bar full, the count."""
    await page.goto("/ui/data")
    await page.select_option("#library", "appworld")
    await page.fill("#library-workspace", "my_agent")
    await page.click("#library-load button[type=submit]")
    await page.locator("#library-status").filter(has_text="Loaded").wait_for(timeout=300_000)
    await page.screenshot(path=str(out / "library.png"), full_page=True)
    print(f"{out / 'library'}.png  <- library appworld loaded into my_agent")


async def main(out: Path) -> None:
    reason = missing_browser_reason()
    if reason:
        raise SystemExit(reason)
    from playwright.async_api import async_playwright

    storage = Path(tempfile.mkdtemp(prefix="reme-shots-"))
    with embedded_server() as pg:
        url = create_database(pg, "reme_screens")
        base = {"database_url": url, "embedding": EmbeddingSettings(provider="local")}
        settings = Settings(**base, storage=StorageSettings(allowed_dir=storage))
        server = start_server(settings)
        secured = start_server(
            Settings(**base, storage=StorageSettings(allowed_dir=storage), auth=AuthSettings(enabled=True))
        )
        engine = create_async_engine(normalise_url(url))
        try:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as client:
                made = await seed(client, engine)
            async with AsyncSession(engine) as session, session.begin():
                await create_key(session, name="ci", scope="read", workspaces=[WS])
            async with async_playwright() as driver:
                browser = await driver.chromium.launch(executable_path=str(chromium_path()), args=LAUNCH_ARGS)
                context = await browser.new_context(
                    base_url=server.base_url, viewport={"width": 1366, "height": 800}, device_scale_factor=1
                )
                page = await context.new_page()
                await shoot(page, "/ui", out, "workspaces")
                await shoot(page, f"/ui/w/{WS}", out, "workspace", full=False)
                await shoot(page, f"/ui/w/{WS}?q=next+page+token&mode=hybrid&top_k=8", out, "search")
                await shoot(page, f"/ui/w/{WS}/memory?id={made['memory_id']}", out, "memory")
                await shoot(page, f"/ui/w/{WS}/trajectories/{made['trajectory_id']}", out, "trajectory")
                await shoot(page, f"/ui/w/{WS}/tools/detail?name=flight_search", out, "tool")
                await shoot(page, "/ui/jobs?status=failed", out, "jobs")
                await shoot(page, f"/ui/w/{WS}/charts", out, "charts")
                await shoot(page, f"/ui/w/{WS}/data", out, "data")
                await upload(page, out, storage)
                await load_library(page, out)
                login = await browser.new_context(
                    base_url=secured.base_url, viewport={"width": 1366, "height": 500}
                )
                await shoot(await login.new_page(), "/ui/w/travel_agent", out, "login")
                await browser.close()
        finally:
            await engine.dispose()
            secured.stop()
            server.stop()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/ui")
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
