"""The Python examples of the READMEs run as printed, against the live service."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import httpx
from reme_client import ReMeClient

from tests.integration.task_support import SUCCESS, responder
from tests.support.server import RunningServer
from tests.support.standin import StandInOpenAI

REPO = Path(__file__).resolve().parents[2]


def python_block(readme: Path, after: str) -> str:
    """The first ```python block after the heading or text ``after``."""
    text = readme.read_text(encoding="utf-8")
    found = re.search(r"```python\n(.*?)```", text[text.index(after) :], re.DOTALL)
    assert found, f"no python example after {after!r} in {readme}"
    return found.group(1)


def run(code: str, base_url: str) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code.replace("http://127.0.0.1:8002", base_url), "README", "exec"), {})
    return printed.getvalue()


async def test_the_readme_example_retrieves_records_and_lists(
    app_server: RunningServer, client: httpx.AsyncClient
) -> None:
    with ReMeClient(app_server.base_url) as reme:
        [seeded] = reme.add_memories(
            "my_agent", {"when_to_use": "When buying train tickets", "content": "Book early."}
        )

    printed = run(python_block(REPO / "README.md", "## From Python"), app_server.base_url)

    assert "1. When buying train tickets: Book early." in printed
    assert f"{seeded.memory_id} 1 1 When buying train tickets" in printed


async def test_the_client_readme_example_learns_from_a_run(
    app_server: RunningServer, standin: StandInOpenAI, client: httpx.AsyncClient
) -> None:
    standin.responder = responder(failure=[], comparative=[])

    run(python_block(REPO / "clients" / "python" / "README.md", "pip install"), app_server.base_url)

    with ReMeClient(app_server.base_url) as reme:
        assert [m.when_to_use for m in reme.iter_memories("my_agent")] == [SUCCESS["when_to_use"]]
