"""vector_store dump/load paths: never a file outside the allowed directory, and clear 400s."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

WORKSPACE = "paths"


async def action(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/vector_store", json={"workspace_id": WORKSPACE, **body})


def memory_line(memory_id: str, content: str) -> str:
    return json.dumps({"memory_id": memory_id, "when_to_use": content, "content": content}) + "\n"


class DirectorySwapper:
    """Swaps ``name`` between a real directory and a link to ``outside`` as fast as it can."""

    def __init__(self, parent: Path, outside: Path) -> None:
        self.swapped = parent / "swapped"
        self.real = parent / "swapped.dir"
        self.link = parent / "swapped.link"
        self.swapped.mkdir()
        self.link.symlink_to(outside, target_is_directory=True)
        self.stop = threading.Event()
        self.swaps = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        # Each state is held for a moment (also leaving the server thread, in this process,
        # some CPU): a check made in one state and an open made in the other is the race.
        while not self.stop.is_set() and self.swaps < 100_000:
            self.move(self.swapped, self.real)
            self.move(self.link, self.swapped)
            time.sleep(0.002)
            self.move(self.swapped, self.link)
            self.move(self.real, self.swapped)
            time.sleep(0.002)
            self.swaps += 1

    def move(self, source: Path, target: Path) -> None:
        try:
            os.rename(source, target)
        except FileNotFoundError:
            pass
        except OSError:
            # A dump created ``target`` while it was missing; that directory is inside.
            shutil.rmtree(target, ignore_errors=True)


@pytest.fixture
def swapper(storage_dir: Path, tmp_path: Path) -> Iterator[tuple[DirectorySwapper, Path]]:
    outside = tmp_path / "outside"
    outside.mkdir()
    parent = storage_dir / uuid.uuid4().hex
    parent.mkdir()
    swapping = DirectorySwapper(parent, outside)
    (swapping.swapped / f"{WORKSPACE}.jsonl").write_text(memory_line("inside", "a memory from inside"))
    (outside / f"{WORKSPACE}.jsonl").write_text(memory_line("outside", "a secret from outside"))
    swapping.thread.start()
    yield swapping, outside
    swapping.stop.set()
    swapping.thread.join(timeout=10)


async def test_a_directory_swapped_for_a_link_never_leads_outside(
    client: httpx.AsyncClient, swapper: tuple[DirectorySwapper, Path]
) -> None:
    swapping, outside = swapper
    before = sorted(p.name for p in outside.iterdir())
    await client.post("/vector_store", json={"workspace_id": WORKSPACE, "action": "delete"})
    added = await client.post(
        "/v1/workspaces/paths/memories", json={"when_to_use": "to dump", "content": "a stored memory"}
    )
    assert added.status_code in (200, 201), added.text

    statuses = []
    for _ in range(10):
        dumped = await action(client, action="dump", path=str(swapping.swapped))
        loaded = await action(client, action="load", path=str(swapping.swapped))
        statuses += [dumped.status_code, loaded.status_code]
        assert "secret from outside" not in loaded.text
        listing = await client.get("/v1/workspaces/paths/memories")
        assert "secret from outside" not in listing.text
        assert sorted(p.name for p in outside.iterdir()) == before

    assert swapping.swaps > 0
    assert all(status < 500 for status in statuses), statuses
    assert (outside / f"{WORKSPACE}.jsonl").read_text() == memory_line("outside", "a secret from outside")


async def test_a_link_inside_the_allowed_directory_is_refused_by_name(
    client: httpx.AsyncClient, storage_dir: Path, tmp_path: Path
) -> None:
    await client.post("/v1/workspaces/paths/memories", json={"when_to_use": "w", "content": "c"})
    link = storage_dir / f"link-{uuid.uuid4().hex}"
    link.symlink_to(tmp_path, target_is_directory=True)

    for act in ("dump", "load"):
        response = await action(client, action=act, path=str(link))
        assert response.status_code == 400, response.text
        assert "symbolic link" in response.json()["answer"]
        assert response.json()["metadata"]["errors"][0]["loc"] == ["body", "path"]
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".jsonl")]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("x" * 5000, "5000 characters"),
        ("a/" + "y" * 300, "longer than the file system allows"),
        ("~nosuchuser/dir", "cannot be expanded"),
        ("dir\x00name", "NUL"),
    ],
)
async def test_paths_that_can_never_work_are_a_400(client: httpx.AsyncClient, path: str, words: str) -> None:
    await client.post("/v1/workspaces/paths/memories", json={"when_to_use": "w", "content": "c"})
    for act in ("dump", "load"):
        response = await action(client, action=act, path=path)

        assert response.status_code == 400, (act, response.text)
        assert words in response.json()["answer"]


async def test_dumping_onto_a_directory_is_a_400(client: httpx.AsyncClient, storage_dir: Path) -> None:
    await client.post("/v1/workspaces/paths/memories", json={"when_to_use": "w", "content": "c"})
    folder = storage_dir / uuid.uuid4().hex
    (folder / f"{WORKSPACE}.jsonl").mkdir(parents=True)

    response = await action(client, action="dump", path=str(folder))

    assert response.status_code == 400, response.text
    assert "is a directory" in response.json()["answer"]
    assert [p.name for p in folder.iterdir()] == [f"{WORKSPACE}.jsonl"]


async def test_a_path_under_a_file_is_a_400(client: httpx.AsyncClient, storage_dir: Path) -> None:
    await client.post("/v1/workspaces/paths/memories", json={"when_to_use": "w", "content": "c"})
    file = storage_dir / f"plain-{uuid.uuid4().hex}"
    file.write_text("not a directory")

    for act in ("dump", "load"):
        response = await action(client, action=act, path=str(file / "below"))

        assert response.status_code == 400, (act, response.text)
        assert "is not a directory" in response.json()["answer"]
    assert file.read_text() == "not a directory"


async def test_dump_then_load_through_new_directories_still_works(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    await client.post("/v1/workspaces/paths/memories", json={"when_to_use": "kept", "content": "kept"})
    folder = storage_dir / uuid.uuid4().hex / "a" / "b"

    dumped = await action(client, action="dump", path=str(folder))
    loaded = await action(client, action="load", path=str(folder))

    assert dumped.status_code == 200, dumped.text
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["metadata"]["action_result"]["size"] == 1
    assert [p.name for p in folder.iterdir()] == [f"{WORKSPACE}.jsonl"]
