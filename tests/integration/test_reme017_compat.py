"""Compatibility suite: ReMe 0.1.7's recorded answers, replayed against this service.

Every scenario in ``tests/fixtures/reme017/`` (recorded by ``tests/tools/record_reme017.py``)
is a list of requests with ReMe 0.1.7's status and answer. Each request is sent here, in
order, over HTTP, and the answers are compared: envelope, keys, types, and every value that
does not depend on the embedding model. Keys this service adds are allowed (clients ignore
what they do not know).

What is normalised rather than compared, because it legitimately differs:

- lists from a similarity search (``memory_list`` of the retrieve flows): which memories, in
  which order and how many depend on the embedding model (ReMe's personal flow also drops
  memories below a similarity of 0.1); compared are emptiness, the ``top_k`` bound, and the
  fields of every memory both sides returned;
- the ``answer`` text of the retrieve flows (built from those lists): compared is whether it
  is empty;
- lists of memories elsewhere are compared as sets by ``memory_id`` (ReMe's order is the order
  of insertion, which its record flow changes).

Any other difference fails the test unless ``INTENDED`` lists it with its reason; an entry of
``INTENDED`` that no longer matches any difference fails it too. Scenarios run one after the
other, each on an empty database. docs/api.md ("Differences from
ReMe 0.1.x") says the same in prose.
"""

from __future__ import annotations

import json
import shutil
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.database import truncate_sql

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reme017"
SCENARIOS = sorted(path.stem for path in FIXTURES.glob("*.json"))
RETRIEVE_FLOWS = ("/retrieve_task_memory_simple", "/retrieve_personal_memory")

# Differences from ReMe 0.1.7 that are on purpose: "<scenario>/<step>:<path>" patterns
# (fnmatch) and the reason. Keep docs/api.md "Differences from ReMe 0.1.x" in step.
INTENDED: dict[str, str] = {
    "*/load *:response.answer": "flows that act rather than answer (vector_store, record_task_memory) say in "
    "answer what they did, for people reading curl, CLI or MCP output; ReMe leaves it empty",
    "*/list *:response.answer": "as for load",
    "vector_store/*:response.answer": "as for load",
    "record_and_delete_task_memory/record *:response.answer": "as for load",
    "service/list of flows:response.web_search": (
        "flowllm's own demo flows (web_search, query_llm, mock_data) appear in ReMe's list although "
        "they are not ReMe flows; only ReMe's memory flows are listed here"
    ),
    "service/list of flows:response.query_llm": "see web_search; ReMe lists its react flow under the name of "
    "the op inside it (query_llm), here it is listed as react",
    "service/list of flows:response.mock_data": "see web_search",
    "service/list of flows:response.*.parameters.required": "ReMe marks query as required although its flows "
    "also take messages; here only what the request model requires is required",
    "service/list of flows:response.*.parameters.properties.*.type": "ReMe writes Python type names (str, "
    "list, bool); here the types are JSON Schema's (string, array, boolean), as tool schemas need",
    "service/list of flows:response.*.description": "our own descriptions",
    "service/list of flows:length": (
        "ReMe lists 17 entries, with duplicates and demo flows; here each flow once"
    ),
    "vector_store/delete one memory by id:response.metadata.action_result": "ReMe answers null; here "
    "{deleted_count, deleted_ids}",
    "vector_store/delete a workspace:response.metadata.action_result": "ReMe answers null; here "
    "{deleted_count}",
    "vector_store/delete unknown:response.metadata.action_result": "ReMe answers an empty string; here "
    "{deleted_count: 0}",
    "vector_store/dump a workspace:*": "ReMe 0.1.7's dump fails ('dict' object has no attribute 'metadata'); "
    "here it writes the file",
    "vector_store/unknown action:*": "ReMe answers HTTP 200 with success false; invalid input is a 400 here, "
    "with the field named in metadata.errors",
    "retrieve_task_memory_simple/*:response.metadata.memory_list.*.score": "ReMe overwrites a memory's score "
    "with the query similarity; here score stays the stored one and similarity is its own field",
    "workspace_ids/retrieve in *:response.metadata.memory_list.*.score": "as for retrieve_task_memory_simple",
    "retrieve_personal_memory/retrieve facts:response.metadata.memory_list.*.score": "as for "
    "retrieve_task_memory_simple",
    "retrieve_personal_memory/retrieve facts:response.metadata.memory_list.*.metadata.match_*_flag": "ReMe's "
    "internal ranking flags are not part of the memory here",
    "record_and_delete_task_memory/record a use that helped:response.metadata.deleted_memory_ids": "ReMe "
    "deletes and re-inserts a recorded memory; here it is updated in place, so nothing is deleted",
    "record_and_delete_task_memory/record a use that helped:response.metadata.update_result.*": "as for "
    "deleted_memory_ids: inserted_count and deleted_count are 0, updated_count says how many changed",
    "record_and_delete_task_memory/list compat_tasks:response.metadata.action_result.*.metadata.freq": (
        "ReMe's record_task_memory with update_utility false writes nothing, so the use is not counted; "
        "here it is (freq + 1)"
    ),
    "record_and_delete_task_memory/record an unknown memory:*": (
        "ReMe inserts a memory it does not know, as the client sent it; here unknown ids change "
        "nothing and are listed in metadata.not_found_memory_ids"
    ),
    "record_and_delete_task_memory/delete rarely helpful memories:*": "ReMe 0.1.7's delete_task_memory fails "
    "('VectorNode' object is not subscriptable); here it deletes what the thresholds select",
}

TYPE_NAMES = {"str": "string", "list": "array", "bool": "boolean", "int": "integer", "float": "number"}


def load_scenario(name: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))["steps"]
    return steps


class Comparison:
    """Differences between ReMe's answer and ours for one step, as (path, what) pairs."""

    def __init__(self, step: dict[str, Any]) -> None:
        self.step = step
        self.retrieval = step["path"] in RETRIEVE_FLOWS
        self.differences: list[tuple[str, str]] = []

    def differ(self, path: str, what: str) -> None:
        self.differences.append((path, what))

    def compare(self, theirs: Any, ours: Any, path: str) -> None:
        if isinstance(theirs, dict):
            if not isinstance(ours, dict):
                self.differ(path, f"ReMe has an object, we have {type(ours).__name__}")
                return
            for key, value in theirs.items():
                if key not in ours:
                    self.differ(f"{path}.{key}", "missing")
                else:
                    self.compare(value, ours[key], f"{path}.{key}")
        elif isinstance(theirs, list):
            self.compare_lists(theirs, ours, path)
        elif isinstance(theirs, bool) or theirs is None or isinstance(theirs, str):
            if theirs != ours:
                self.differ(path, f"ReMe {theirs!r}, we {ours!r}")
        elif isinstance(theirs, int | float):
            if isinstance(ours, bool) or not isinstance(ours, int | float) or abs(theirs - ours) > 1e-9:
                self.differ(path, f"ReMe {theirs!r}, we {ours!r}")
        else:
            raise AssertionError(f"unexpected JSON value at {path}: {theirs!r}")

    def compare_lists(self, theirs: list[Any], ours: Any, path: str) -> None:
        if not isinstance(ours, list):
            self.differ(path, f"ReMe has a list, we have {type(ours).__name__}")
        elif theirs and all(isinstance(m, dict) and "memory_id" in m for m in theirs):
            self.compare_memories(theirs, ours, path)
        else:
            if len(theirs) != len(ours):
                self.differ(path, f"ReMe has {len(theirs)} items, we have {len(ours)}")
            for i, (a, b) in enumerate(zip(theirs, ours, strict=False)):
                self.compare(a, b, f"{path}.{i}")

    def compare_memories(self, theirs: list[dict[str, Any]], ours: list[Any], path: str) -> None:
        ours_by_id = {m.get("memory_id"): m for m in ours if isinstance(m, dict)}
        if self.retrieval and path.endswith("memory_list"):
            top_k = (self.step["body"] or {}).get("top_k", 3)
            if not ours or len(ours) > top_k:
                self.differ(path, f"ReMe returned {len(theirs)} memories, we {len(ours)} (top_k {top_k})")
        elif set(ours_by_id) != {m["memory_id"] for m in theirs}:
            self.differ(
                path, f"memory ids: ReMe {sorted(m['memory_id'] for m in theirs)}, we {sorted(ours_by_id)}"
            )
        for memory in theirs:
            if memory["memory_id"] in ours_by_id:
                self.compare(memory, ours_by_id[memory["memory_id"]], f"{path}.{memory['memory_id']}")


def compare_flow_list(
    theirs: list[dict[str, Any]], ours: list[dict[str, Any]], comparison: Comparison
) -> None:
    """GET /list: each flow ReMe lists must be listed here with (at least) its parameters."""
    ours_by_name = {item["function"]["name"]: item for item in ours}
    if len(theirs) != len(ours):
        comparison.differ("length", f"ReMe lists {len(theirs)} entries, we {len(ours)}")
    for item in theirs:
        name = item["function"]["name"]
        path = f"response.{name}"
        if name not in ours_by_name:
            comparison.differ(path, "not listed")
            continue
        if item["type"] != ours_by_name[name]["type"]:
            comparison.differ(f"{path}.type", f"ReMe {item['type']!r}, we {ours_by_name[name]['type']!r}")
        function, ours_function = item["function"], ours_by_name[name]["function"]
        if function["description"] != ours_function["description"]:
            comparison.differ(f"{path}.description", "different text")
        parameters, ours_parameters = function["parameters"], ours_function["parameters"]
        if parameters["type"] != ours_parameters["type"]:
            comparison.differ(f"{path}.parameters.type", "different")
        if not set(parameters["required"]) <= set(ours_parameters["required"]):
            comparison.differ(f"{path}.parameters.required", f"ReMe {parameters['required']}")
        for prop, spec in parameters["properties"].items():
            ours_spec = ours_parameters["properties"].get(prop)
            prop_path = f"{path}.parameters.properties.{prop}"
            if ours_spec is None:
                comparison.differ(prop_path, "missing")
                continue
            if TYPE_NAMES.get(spec["type"], spec["type"]) != ours_spec.get("type"):
                comparison.differ(f"{prop_path}.type", f"ReMe {spec['type']!r}, we {ours_spec.get('type')!r}")
            if spec["type"] != ours_spec.get("type"):
                comparison.differ(f"{prop_path}.type", "named differently")
            if spec.get("description") != ours_spec.get("description"):
                comparison.differ(f"{prop_path}.description", "different text")
            if "enum" in spec and sorted(spec["enum"]) != sorted(ours_spec.get("enum", [])):
                comparison.differ(f"{prop_path}.enum", f"ReMe {spec['enum']}, we {ours_spec.get('enum')}")


def compare_step(step: dict[str, Any], status: int, body: Any) -> list[tuple[str, str]]:
    comparison = Comparison(step)
    if status != step["status"]:
        comparison.differ("status", f"ReMe HTTP {step['status']}, we HTTP {status}")
    theirs = step["response"]
    if step["path"] == "/list":
        compare_flow_list(theirs, body, comparison)
        return comparison.differences
    if comparison.retrieval and isinstance(body, dict):
        # Our own wording: compared is whether there is an answer at all.
        theirs = {**theirs, "answer": bool(theirs["answer"])}
        body = {**body, "answer": bool(body.get("answer"))}
    comparison.compare(theirs, body, "response")
    return comparison.differences


def intended(key: str) -> str | None:
    return next((pattern for pattern in INTENDED if fnmatchcase(key, pattern)), None)


async def replay(client: httpx.AsyncClient, scenario: str) -> list[tuple[str, str]]:
    """Send the scenario's requests in order; the differences as ("<scenario>/<step>:<path>", what)."""
    found = []
    for step in load_scenario(scenario):
        if step["method"] == "GET":
            response = await client.get(step["path"])
        else:
            response = await client.post(step["path"], json=step["body"])
        for path, what in compare_step(step, response.status_code, response.json()):
            found.append((f"{scenario}/{step['name']}:{path}", what))
    return found


async def test_replaying_reme017_answers_shows_only_intended_differences(
    client: httpx.AsyncClient, engine: AsyncEngine, storage_dir: Path
) -> None:
    shutil.copytree(FIXTURES / "library", storage_dir / "library", dirs_exist_ok=True)
    unexplained: list[str] = []
    used: set[str] = set()
    for scenario in SCENARIOS:
        async with engine.begin() as conn:  # each scenario starts from an empty database, as ReMe did
            await conn.execute(text(truncate_sql()))
        for key, what in await replay(client, scenario):
            pattern = intended(key)
            if pattern is None:
                unexplained.append(f"{key}: {what}")
            else:
                used.add(pattern)

    if unexplained:
        pytest.fail("differences from ReMe 0.1.7 not listed in INTENDED:\n" + "\n".join(unexplained))
    stale = [pattern for pattern in INTENDED if pattern not in used]
    assert stale == [], f"INTENDED entries that no longer match a difference: {stale}"


def test_every_recorded_scenario_has_steps_with_remes_answers() -> None:
    assert SCENARIOS, f"no fixtures in {FIXTURES}"
    for scenario in SCENARIOS:
        steps = load_scenario(scenario)
        assert steps, scenario
        assert all({"method", "path", "body", "status", "response"} <= step.keys() for step in steps)
