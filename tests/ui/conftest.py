"""Fixtures of the console tests: the system Chromium driven by Playwright, against the live test app.

Without a browser the tests skip and say why; with REME_REQUIRE_BROWSER=1 (set by .ci/run)
a missing browser fails them instead.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth import create_key
from app.settings import AuthSettings
from tests.conftest import app_settings
from tests.support.server import RunningServer, start_server
from tests.support.standin import StandInOpenAI
from tests.ui.browser import LAUNCH_ARGS, chromium_path, missing_browser_reason


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    reason = missing_browser_reason()
    if reason is not None:
        if os.environ.get("REME_REQUIRE_BROWSER") == "1":
            pytest.fail(f"REME_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=str(chromium_path()), args=LAUNCH_ARGS)
        yield launched
        await launched.close()


async def new_page(browser: Any, base_url: str) -> Any:
    """A page in a fresh context (no cookies) that refuses every request leaving the service."""
    context = await browser.new_context(base_url=base_url, viewport={"width": 1366, "height": 900})
    outside: list[str] = []

    async def only_the_service(route: Any) -> None:
        if route.request.url.startswith(base_url):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_the_service)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    page.outside_requests = outside
    return page


@pytest.fixture
async def page(browser: Any, app_server: RunningServer, client: httpx.AsyncClient) -> AsyncIterator[Any]:
    """A browser page on the test app; ``client`` empties the tables after the test."""
    opened = await new_page(browser, app_server.base_url)
    yield opened
    assert opened.outside_requests == [], "the console must load nothing from outside the service"
    await opened.context.close()


@pytest.fixture(scope="module")
def auth_server(
    app_server: RunningServer, database_url: str, standin: StandInOpenAI, storage_dir: Path
) -> Iterator[RunningServer]:
    running = start_server(app_settings(database_url, standin, storage_dir, auth=AuthSettings(enabled=True)))
    yield running
    running.stop()


@pytest.fixture
async def secured_page(
    browser: Any, auth_server: RunningServer, client: httpx.AsyncClient
) -> AsyncIterator[Any]:
    opened = await new_page(browser, auth_server.base_url)
    yield opened
    assert opened.outside_requests == []
    await opened.context.close()


async def given_key(engine: AsyncEngine, scope: str, workspaces: list[str] | None) -> str:
    async with AsyncSession(engine) as session, session.begin():
        _, key = await create_key(session, name=f"{scope}-key", scope=scope, workspaces=workspaces)
    return key


async def log_in(page: Any, key: str, start: str = "/ui") -> None:
    await page.goto(start)
    await page.fill("#key", key)
    await page.click("button:text('Log in')")


async def record_status(page: Any, element_id: str) -> None:
    """Keep every text the status line ``element_id`` shows in ``window.seen`` (progress goes by fast)."""
    await page.evaluate(
        """(id) => {
            const status = document.getElementById(id);
            window.seen = [];
            new MutationObserver(() => window.seen.push(status.textContent))
                .observe(status, {childList: true, characterData: true, subtree: true});
        }""",
        element_id,
    )
