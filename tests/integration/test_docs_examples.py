"""Every shell example in README.md and docs/*.md runs against a live service, so the docs stay true.

Each fenced ``bash`` block is run in order, one document at a time, by ``bash -euo pipefail`` with
``localhost:8002`` pointed at the test service, ``reme`` on the test database, and the chat model
played by the stand-in. ``curl`` runs with ``--fail-with-body``, so an HTTP error fails the block;
every JSON line a block prints must parse and must not be an error envelope.

A block that cannot run in a test (it installs packages, starts a server that runs until stopped,
needs Docker) is preceded by ``<!-- not run: REASON -->``; the reason is required.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.integration.task_support import responder as task_responder
from tests.support.server import RunningServer
from tests.support.standin import StandInOpenAI, minimal_answer

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(?P<reason>.*?)\s*-->\s*$")
DOCUMENTED_ADDRESS = "localhost:8002"


@dataclass(frozen=True)
class Example:
    document: str
    line: int  # of the opening fence, from 1
    code: str
    not_run: str | None  # the reason, when marked


def shell_examples(document: str) -> list[Example]:
    """The ``bash`` blocks of a Markdown file, with their not-run marks."""
    lines = (REPO / document).read_text(encoding="utf-8").splitlines()
    examples: list[Example] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        if opening.group(1) in ("bash", "sh", "shell"):
            mark = NOT_RUN.match(lines[index - 1]) if index > 0 else None
            code = "\n".join(lines[index + 1 : end])
            examples.append(Example(document, index + 1, code, mark.group("reason") if mark else None))
        index = end + 1
    return examples


def test_every_document_with_commands_is_covered() -> None:
    covered = {example.document for document in DOCUMENTS for example in shell_examples(document)}
    assert {"README.md", "docs/api.md", "docs/operations.md"} <= covered
    for document in DOCUMENTS:
        for example in shell_examples(document):
            assert example.not_run is None or len(example.not_run) > 10, (
                f"{document}:{example.line}: say why the example is not run"
            )


def memory_file_lines(count: int) -> str:
    """A small memory library in ReMe's dump format, as the examples' input files."""
    lines = [
        {
            "workspace_id": "appworld",
            "memory_id": f"{i:032x}",
            "memory_type": "task",
            "when_to_use": f"When an API returns paginated results (case {i})",
            "content": "Loop over every page until the response has no next page; do not stop at the first.",
            "score": 0.8,
            "metadata": {"freq": 0, "utility": 0},
        }
        for i in range(1, count + 1)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines)


@pytest.fixture
def workdir(tmp_path: Path, settings: Settings) -> Iterator[Path]:
    """The reader's folder: the files the examples name, and the migrations for ``alembic``."""
    work = tmp_path / "work"
    (work / "library").mkdir(parents=True)
    (work / "backup").mkdir()
    (work / "library" / "appworld.jsonl").write_text(memory_file_lines(5), encoding="utf-8")
    (work / "more.ndjson").write_text(memory_file_lines(2), encoding="utf-8")
    (work / "alembic.ini").symlink_to(REPO / "alembic.ini")
    (work / "alembic").symlink_to(REPO / "alembic")
    # vector_store load reads <REME_STORAGE__ALLOWED_DIR>/library/<workspace>.jsonl
    library = Path(settings.storage.allowed_dir) / "library"
    library.mkdir(parents=True, exist_ok=True)
    (library / "appworld.jsonl").write_text(memory_file_lines(5), encoding="utf-8")
    yield work
    shutil.rmtree(library)


@pytest.fixture
def shell_env(tmp_path: Path, settings: Settings, standin: StandInOpenAI) -> dict[str, str]:
    """What a reader's shell has: ``reme`` and ``curl`` on PATH, settings in the environment."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("the documented examples use `curl`, which is not installed")
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "curl").write_text(f'#!/bin/sh\nexec {curl} --fail-with-body "$@"\n', encoding="utf-8")
    (shims / "curl").chmod(0o755)
    answers = task_responder()

    def answer(request: dict[str, Any]) -> Any:
        try:
            return answers(request)
        except KeyError:  # not a task-memory step: the smallest valid answer, with words in it
            return with_text(minimal_answer(request))

    standin.responder = answer
    return {
        "PATH": f"{shims}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        "REME_DATABASE_URL": settings.database_url or "",
        "REME_EMBEDDING__PROVIDER": "local",
        "REME_LLM__BASE_URL": standin.base_url,
        "REME_LLM__API_KEY": "test-key",
        "REME_LLM__MODEL": "stand-in",
        "REME_STORAGE__ALLOWED_DIR": str(settings.storage.allowed_dir),
        "REME_LOG_LEVEL": "WARNING",
    }


def with_text(value: Any) -> Any:
    """``value`` with every empty string replaced by a sentence (a guideline may not be empty)."""
    if value == "":
        return "Search with a specific query and check the first results."
    if isinstance(value, dict):
        return {key: with_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_text(item) for item in value]
    return value


def json_answers(output: str) -> list[Any]:
    """The JSON documents printed, one after another (curl adds no newline after a body)."""
    decoder = json.JSONDecoder()
    found, position = [], 0
    while position < len(output):
        if output[position] in "{[":
            value, position = decoder.raw_decode(output, position)
            found.append(value)
        elif output[position].isspace():
            position += 1
        else:  # a line of text, not JSON
            newline = output.find("\n", position)
            position = len(output) if newline < 0 else newline + 1
    return found


def run_example(example: Example, server: RunningServer, env: dict[str, str], cwd: Path) -> int:
    """Run one block; the number of JSON answers it printed."""
    address = server.base_url.removeprefix("http://")
    code = example.code.replace(DOCUMENTED_ADDRESS, address)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    where = f"{example.document}:{example.line}"
    assert result.returncode == 0, f"{where} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    answers = json_answers(result.stdout)
    for printed in answers:
        assert not (isinstance(printed, dict) and printed.get("success") is False), f"{where}: {printed}"
    return len(answers)


def documents_with_commands() -> list[str]:
    return [d for d in DOCUMENTS if any(example.not_run is None for example in shell_examples(d))]


@pytest.mark.parametrize("document", documents_with_commands())
async def test_the_documented_commands_work(
    document: str,
    client: httpx.AsyncClient,
    app_server: RunningServer,
    shell_env: dict[str, str],
    workdir: Path,
) -> None:
    examples = [example for example in shell_examples(document) if example.not_run is None]

    answers = [run_example(example, app_server, shell_env, workdir) for example in examples]

    for example, count in zip(examples, answers, strict=True):
        if "curl" in example.code:
            assert count > 0, f"{example.document}:{example.line}: no JSON answer printed"
