"""The interactive API page renders in a real browser with no network beyond loopback.

Debian's ``chromium`` renders ``/docs`` of the live test service. In that browser every host name other
than 127.0.0.1 fails to resolve and every other address is unreachable, so a page that needed a
CDN would stay blank. Without
``chromium`` the test is skipped, unless ``REME_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes
that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.server import RunningServer

BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    # Loopback only: any other host name resolves to nothing, and any other address goes to a
    # proxy on a closed port (Chromium always connects to loopback directly).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    "--virtual-time-budget=20000",
]


def chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    if os.environ.get("REME_REQUIRE_BROWSER") == "1":
        pytest.fail("REME_REQUIRE_BROWSER=1 but `chromium` is not installed (apt-get install -y chromium)")
    pytest.skip("`chromium` is not installed (apt-get install -y chromium); the docs page is not rendered")


def rendered_dom(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran, as headless Chromium sees it."""
    result = subprocess.run(
        [chromium(), *BROWSER_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def operation_paths(schema: dict[str, object]) -> set[str]:
    paths = schema["paths"]
    assert isinstance(paths, dict)
    return set(paths)


async def test_docs_page_needs_nothing_but_the_service(app_server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=app_server.base_url) as http:
        page = await http.get("/docs")

    assert page.status_code == 200
    referenced = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert referenced, "the page loads Swagger UI's script and style"
    assert all(url.startswith("/") and not url.startswith("//") for url in referenced), referenced
    async with httpx.AsyncClient(base_url=app_server.base_url) as http:
        for url in referenced:
            asset = await http.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 0, url


async def test_docs_page_lists_every_operation_in_a_browser_offline(
    app_server: RunningServer, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=app_server.base_url) as http:
        schema = (await http.get("/openapi.json")).json()

    dom = rendered_dom(f"{app_server.base_url}/docs", tmp_path / "profile")

    shown = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    assert shown == operation_paths(schema)
    assert "/summary_task_memory" in shown
    assert "/v1/workspaces/{workspace_id}/search" in shown


async def test_schema_answers_where_fastapi_clients_look_for_it(app_server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=app_server.base_url) as http:
        fastapi_style = await http.get("/openapi.json")
        litestar_style = await http.get("/schema/openapi.json")
        swagger = await http.get("/schema/swagger")

    assert fastapi_style.status_code == 200
    assert fastapi_style.json() == litestar_style.json()
    assert fastapi_style.json()["openapi"].startswith("3.")
    assert swagger.status_code == 200
    assert "/docs/static/swagger-ui-bundle.js" in swagger.text
