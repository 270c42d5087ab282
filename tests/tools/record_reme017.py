"""Record ReMe 0.1.7's answers for the compatibility fixtures in ``tests/fixtures/reme017/``.

    python -m tests.tools.record_reme017 [--venv PATH] [--keep]

Starts the loopback model stand-in and ReMe 0.1.7 (``reme backend=http ...
vector_store.default.backend=local``, in its own venv, created when missing), sends every
scenario's requests in order, and writes each scenario with ReMe's answers as one JSON file.
Only flows that need no chat model are recorded: a step during which ReMe called the chat
model stops the recording.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import start_peer, start_stand_in

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reme017"
LIBRARY = FIXTURES / "library"
DIM = 64

Step = dict[str, Any]


def post(path: str, body: dict[str, Any], name: str) -> Step:
    return {"name": name, "method": "POST", "path": path, "body": body}


def get(path: str, name: str) -> Step:
    return {"name": name, "method": "GET", "path": path, "body": None}


def first_library_memory() -> dict[str, Any]:
    """The first memory of the task library, as a client would send it back."""
    line = (LIBRARY / "compat_tasks.jsonl").read_text(encoding="utf-8").splitlines()[0]
    memory: dict[str, Any] = json.loads(line)
    memory["workspace_id"] = "compat_tasks"
    return memory


def load(workspace_id: str) -> Step:
    body = {"workspace_id": workspace_id, "action": "load", "path": "library"}
    return post("/vector_store", body, f"load {workspace_id}")


def listing(workspace_id: str) -> Step:
    return post("/vector_store", {"workspace_id": workspace_id, "action": "list"}, f"list {workspace_id}")


def scenarios() -> dict[str, list[Step]]:
    memory = first_library_memory()
    retrieve = "/retrieve_task_memory_simple"
    return {
        "service": [get("/health", "health"), get("/list", "list of flows")],
        "vector_store": [
            load("compat_tasks"),
            listing("compat_tasks"),
            post(
                "/vector_store",
                {"workspace_id": "compat_copy", "action": "copy", "src_workspace_id": "compat_tasks"},
                "copy into a new workspace",
            ),
            listing("compat_copy"),
            post(
                "/vector_store",
                {"workspace_id": "compat_copy", "action": "delete_ids", "memory_ids": [memory["memory_id"]]},
                "delete one memory by id",
            ),
            listing("compat_copy"),
            post("/vector_store", {"workspace_id": "compat_copy", "action": "delete"}, "delete a workspace"),
            listing("compat_copy"),
            post("/vector_store", {"workspace_id": "never_created", "action": "delete"}, "delete unknown"),
            listing("never_created"),
            post(
                "/vector_store",
                {"workspace_id": "compat_tasks", "action": "dump", "path": "dumps"},
                "dump a workspace",
            ),
            post("/vector_store", {"workspace_id": "compat_tasks", "action": "explode"}, "unknown action"),
        ],
        "retrieve_task_memory_simple": [
            load("compat_tasks"),
            post(retrieve, {"workspace_id": "compat_tasks", "query": "API authentication"}, "default top_k"),
            post(
                retrieve,
                {"workspace_id": "compat_tasks", "query": "API authentication", "top_k": 1},
                "top_k 1",
            ),
            post(
                retrieve,
                {"workspace_id": "compat_tasks", "query": "API authentication", "top_k": 500},
                "top_k above the limit",
            ),
            post(retrieve, {"workspace_id": "never_created", "query": "API authentication"}, "no match"),
        ],
        "record_and_delete_task_memory": [
            load("compat_tasks"),
            post(
                "/record_task_memory",
                {"workspace_id": "compat_tasks", "memory_dicts": [], "update_utility": True},
                "record nothing",
            ),
            post(
                "/record_task_memory",
                {"workspace_id": "compat_tasks", "memory_dicts": [memory], "update_utility": True},
                "record a use that helped",
            ),
            listing("compat_tasks"),
            post(
                "/record_task_memory",
                {"workspace_id": "compat_tasks", "memory_dicts": [memory], "update_utility": False},
                "record a use that did not help",
            ),
            listing("compat_tasks"),
            post(
                "/record_task_memory",
                {
                    "workspace_id": "compat_tasks",
                    "memory_dicts": [{**memory, "memory_id": "0000000000000000000000000000dead"}],
                    "update_utility": True,
                },
                "record an unknown memory",
            ),
            post(
                "/delete_task_memory",
                {"workspace_id": "compat_tasks", "freq_threshold": 1, "utility_threshold": 0.5},
                "delete rarely helpful memories",
            ),
        ],
        "retrieve_personal_memory": [
            load("compat_personal"),
            post(
                "/retrieve_personal_memory",
                {"workspace_id": "compat_personal", "query": "What pet does the user have"},
                "retrieve facts",
            ),
            post(
                "/retrieve_personal_memory",
                {"workspace_id": "never_created", "query": "What pet does the user have"},
                "no match",
            ),
        ],
        "workspace_ids": [
            step
            for workspace_id in ("user@example.com", "张三", "my workspace")
            for step in (
                load(workspace_id),
                listing(workspace_id),
                post(
                    retrieve,
                    {"workspace_id": workspace_id, "query": "API authentication", "top_k": 5},
                    f"retrieve in {workspace_id}",
                ),
            )
        ],
    }


def record(base_url: str, stand_in_stats: Any, steps: list[Step]) -> list[Step]:
    recorded = []
    with httpx.Client(base_url=base_url, timeout=120) as http:
        for step in steps:
            before = stand_in_stats()["chat_calls"]
            if step["method"] == "GET":
                response = http.get(step["path"])
            else:
                response = http.post(step["path"], json=step["body"])
            if stand_in_stats()["chat_calls"] != before:
                raise SystemExit(f"step {step['name']!r} made ReMe call its chat model; not recordable")
            recorded.append({**step, "status": response.status_code, "response": response.json()})
            print(f"  {step['name']}: HTTP {response.status_code}", file=sys.stderr)
    return recorded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=None, help="ReMe 0.1.7 venv (created when missing)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, ReMe's files)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="reme017-record-"))
    stand_in = start_stand_in(workdir, DIM)
    peer = None
    try:
        peer = start_peer(workdir, stand_in, DIM, args.venv)
        shutil.copytree(LIBRARY, peer.workdir / "library")
        for name, steps in scenarios().items():
            print(f"{name}:", file=sys.stderr)
            fixture = {
                "recorded_with": "reme-ai 0.1.7, flowllm 0.1.6 (backend=http, vector_store local)",
                "steps": record(peer.base_url, stand_in.stats, steps),
            }
            text = json.dumps(fixture, ensure_ascii=False, indent=1) + "\n"
            (FIXTURES / f"{name}.json").write_text(text, encoding="utf-8")
    finally:
        for handle in (peer, stand_in):
            if handle is not None:
                handle.process.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"work directory kept: {workdir}", file=sys.stderr)


if __name__ == "__main__":
    main()
