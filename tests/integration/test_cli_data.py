"""``reme load`` and ``reme dump`` as a user runs them: child processes on the test database."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.integration.test_vector_store import BFCL, reme_lines

REPO = Path(__file__).resolve().parents[2]


async def reme(database_url: str, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "REME_DATABASE_URL": database_url,
        "REME_EMBEDDING__PROVIDER": "local",
        "REME_LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def texts(records: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(r["memory_id"], r["when_to_use"], r["content"]) for r in records}


async def test_load_then_dump_round_trips_a_reme_file(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    code, out, err = await reme(database_url, "load", "cli_ws", str(BFCL))
    assert code == 0, err
    assert "loaded 474 memories (reme) into cli_ws" in out
    assert "embedding" in err  # the progress bar

    target = tmp_path / "out.jsonl"
    code, out, err = await reme(database_url, "dump", "cli_ws", str(target))

    assert code == 0, err
    dumped = reme_lines(target)
    assert len(dumped) == 474
    assert texts(dumped) == texts(reme_lines(BFCL))
    listed = await client.post("/vector_store", json={"workspace_id": "cli_ws", "action": "list"})
    assert len(listed.json()["metadata"]["action_result"]) == 474


async def test_ndjson_dump_with_vectors_loads_back_without_reembedding(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    await client.post(
        "/v1/workspaces/cli_src/memories",
        json=[{"content": "alpha", "metadata": {"k": 1}}, {"content": "beta"}],
    )
    exported = tmp_path / "src.ndjson"
    code, _, err = await reme(database_url, "dump", "cli_src", str(exported), "--include-embeddings")
    assert code == 0, err

    code, out, err = await reme(database_url, "load", "cli_dst", str(exported))

    assert code == 0, err
    assert "loaded 2 memories (ndjson)" in out
    records = [json.loads(line) for line in exported.read_text().splitlines()]
    assert len(records[0]["embedding"]) == 384
    items = (await client.get("/v1/workspaces/cli_dst/memories")).json()["items"]
    assert sorted(m["content"] for m in items) == ["alpha", "beta"]


async def test_load_of_a_missing_file_fails_cleanly(client: httpx.AsyncClient, database_url: str) -> None:
    code, _, err = await reme(database_url, "load", "cli_ws", "/no/such/file.jsonl")

    assert code == 2
    assert "/no/such/file.jsonl" in err
