"""Parallel loads of one workspace: the workspace ends up holding exactly one file's memories."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.providers.embeddings import build_embedder
from app.settings import EmbeddingSettings
from app.store.memory_lines import memory_from_record
from tests.integration.test_vector_store import BFCL, action, listed, reme_lines

WORKSPACE = "contested"
PARALLEL_LOADS = 4


@pytest.fixture(scope="module")
async def embedded_records() -> list[dict[str, Any]]:
    """BFCL's memories with their local-model vectors, so that loads skip embedding and their
    database writes overlap as much as they can."""
    embedder = build_embedder(EmbeddingSettings(provider="local"))
    records = reme_lines(BFCL)
    texts = [memory_from_record(r, line=n).embedding_text() for n, r in enumerate(records, 1)]
    vectors = await embedder.embed(texts)
    await embedder.close()
    return [
        {**r, "embedding": v, "embedding_model": embedder.model_name}
        for r, v in zip(records, vectors, strict=True)
    ]


def write_variant(storage_dir: Path, records: list[dict[str, Any]]) -> tuple[str, set[str]]:
    """``records`` under fresh memory ids, as ``<dir>/contested.jsonl``; returns the directory
    and the ids the file holds."""
    folder = storage_dir / f"load-{uuid.uuid4().hex}"
    folder.mkdir()
    variant = [{**r, "memory_id": uuid.uuid4().hex} for r in records]
    (folder / f"{WORKSPACE}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in variant))
    return str(folder), {r["memory_id"] for r in variant}


def owners(held: set[str], files: list[tuple[str, set[str]]]) -> dict[int, int]:
    """How many of the held memories come from each file."""
    return {i: len(held & ids) for i, (_, ids) in enumerate(files)}


async def test_parallel_loads_leave_exactly_one_files_memories(
    client: httpx.AsyncClient, storage_dir: Path, embedded_records: list[dict[str, Any]]
) -> None:
    # Given a workspace with memories, and four files of the same size with different ids
    before, _ = write_variant(storage_dir, embedded_records)
    assert (await action(client, workspace_id=WORKSPACE, action="load", path=before)).status_code == 200
    files = [write_variant(storage_dir, embedded_records) for _ in range(PARALLEL_LOADS)]

    # When all four are loaded into the workspace at the same time
    responses = await asyncio.gather(
        *(action(client, workspace_id=WORKSPACE, action="load", path=path) for path, _ in files)
    )

    # Then every load succeeded and the workspace holds one file's memories, not a mix
    assert [r.status_code for r in responses] == [200] * PARALLEL_LOADS, [r.text for r in responses]
    held = {m["memory_id"] for m in await listed(client, WORKSPACE)}
    assert held in [ids for _, ids in files], f"{len(held)} memories held, by file: {owners(held, files)}"
