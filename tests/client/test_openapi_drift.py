"""The client's models and routes, checked against the OpenAPI schema of the live service.

When the service changes (a new route, a renamed field, a new type), a test here fails and names
exactly what to update in clients/python: the route the client lacks, the field it misses or
declares wrongly. Constraints (lengths, ranges) and defaults are left to the service, which
answers a clear 400; names, types and required fields must agree."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from reme_client import _flow_calls as flows
from reme_client import _v1_calls as v1
from reme_client._core import Call
from reme_client.models import flows as fm
from reme_client.models import v1 as vm

from tests.support.server import RunningServer

JOB = uuid.UUID(int=1)
JOB_TIME = datetime(2025, 1, 1, tzinfo=UTC)

# Each request the client sends: the call, the server's request and response components it uses.
OPERATIONS: list[tuple[Callable[[], Call[Any]], str | None, str | None]] = [
    (lambda: flows.summary_task_memory("w", []), "SummaryTaskRequest", "ReMeResponse"),
    (lambda: flows.submit_summary_task_memory("w", []), "SummaryTaskRequest", "ReMeResponse"),
    (lambda: flows.summary_task_memory_simple("w", []), "SummaryTaskRequest", "ReMeResponse"),
    (lambda: flows.submit_summary_task_memory_simple("w", []), "SummaryTaskRequest", "ReMeResponse"),
    (lambda: flows.retrieve_task_memory("w", "q"), "RetrieveTaskRequest", "ReMeResponse"),
    (lambda: flows.retrieve_task_memory_simple("w", "q"), "RetrieveTaskRequest", "ReMeResponse"),
    (lambda: flows.record_task_memory("w", ["m"]), "RecordTaskRequest", "ReMeResponse"),
    (lambda: flows.delete_task_memory("w"), "DeleteTaskRequest", "ReMeResponse"),
    (lambda: flows.react("w", "q"), "ReactRequest", "ReMeResponse"),
    (lambda: flows.summary_personal_memory("w", []), "SummaryPersonalMemoryRequest", "ReMeResponse"),
    (lambda: flows.submit_summary_personal_memory("w", []), "SummaryPersonalMemoryRequest", "ReMeResponse"),
    (lambda: flows.retrieve_personal_memory("w", "q"), "RetrievePersonalMemoryRequest", "ReMeResponse"),
    (lambda: flows.add_tool_call_result("w", []), "AddToolCallResultRequest", "ReMeResponse"),
    (lambda: flows.submit_add_tool_call_result("w", []), "AddToolCallResultRequest", "ReMeResponse"),
    (lambda: flows.summary_tool_memory("w", ["t"]), "ToolNamesRequest", "ReMeResponse"),
    (lambda: flows.submit_summary_tool_memory("w", ["t"]), "ToolNamesRequest", "ReMeResponse"),
    (lambda: flows.retrieve_tool_memory("w", ["t"]), "ToolNamesRequest", "ReMeResponse"),
    (lambda: flows.vector_store("w", "list"), "VectorStoreRequest", "ReMeResponse"),
    # An inline array of open objects (no component); test_client_reme_compat checks the typed listing.
    (flows.list_flows, None, None),
    (v1.health, None, "HealthResponse"),
    (v1.ready, None, "ReadyResponse"),
    (lambda: v1.list_workspaces(limit=1, cursor="c"), None, "WorkspacePage"),
    (lambda: v1.create_workspace("w"), "WorkspaceCreate", "WorkspaceOut"),
    (lambda: v1.workspace_stats("w"), None, "WorkspaceStatsOut"),
    (lambda: v1.delete_workspace("w"), None, "WorkspaceDeleted"),
    (lambda: v1.add_memories("w", []), "MemoriesIn", "MemoriesAdded"),
    (
        lambda: v1.list_memories(
            "w",
            memory_type="task",
            target="t",
            min_score=0.5,
            created_after=JOB_TIME,
            created_before=JOB_TIME,
            order="asc",
            limit=1,
            cursor="c",
        ),
        None,
        "MemoryPage",
    ),
    (lambda: v1.get_memory("w", "m"), None, "MemoryOut"),
    (lambda: v1.patch_memory("w", "m", content="c"), "MemoryPatchIn", "MemoryOut"),
    (lambda: v1.delete_memory("w", "m"), None, None),
    (lambda: v1.memory_history("w", "m"), None, "MemoryHistory"),
    (lambda: v1.search("w", "q"), "SearchIn", "SearchOut"),
    (
        lambda: v1.list_trajectories("w", kind="task", status="done", order="asc", limit=1, cursor="c"),
        None,
        "TrajectoryPage",
    ),
    (lambda: v1.get_trajectory("w", JOB), None, "TrajectoryDetailOut"),
    (lambda: v1.retry_trajectory("w", JOB, user_name="u"), "TrajectoryRetryIn", "TrajectoryRetryOut"),
    (lambda: v1.get_job(JOB), None, None),  # the service declares an open object; test_client_flows checks it
    (lambda: v1.export_workspace("w", include_embeddings=True), None, None),  # NDJSON stream
    (lambda: v1.import_memories("w", b"", replace=True), None, "ImportResult"),
    (v1.list_libraries, None, "LibraryList"),
    (lambda: v1.load_library("appworld", workspace_id="w", replace=True), "LibraryLoad", "LibraryLoaded"),
]

# Client model <-> server component, for every model the client sends or reads.
MODEL_PAIRS: list[tuple[type[BaseModel], str]] = [
    (fm.ReMeResponse, "ReMeResponse"),
    (fm.SummaryTaskRequest, "SummaryTaskRequest"),
    (fm.TaskTrajectory, "TrajectoryIn"),
    (fm.TaskMessage, "TaskMessage"),
    (fm.RetrieveTaskRequest, "RetrieveTaskRequest"),
    (fm.RecordTaskRequest, "RecordTaskRequest"),
    (fm.DeleteTaskRequest, "DeleteTaskRequest"),
    (fm.ReactRequest, "ReactRequest"),
    (fm.SummaryPersonalMemoryRequest, "SummaryPersonalMemoryRequest"),
    (fm.PersonalTrajectory, "PersonalTrajectory"),
    (fm.PersonalMessage, "PersonalMessage"),
    (fm.RetrievePersonalMemoryRequest, "RetrievePersonalMemoryRequest"),
    (fm.AddToolCallResultRequest, "AddToolCallResultRequest"),
    (fm.ToolNamesRequest, "ToolNamesRequest"),
    (fm.VectorStoreRequest, "VectorStoreRequest"),
    (vm.Health, "HealthResponse"),
    (vm.Ready, "ReadyResponse"),
    (vm.Workspace, "WorkspaceOut"),
    (vm.WorkspacePage, "WorkspacePage"),
    (vm.WorkspaceStats, "WorkspaceStatsOut"),
    (vm.WorkspaceDeleted, "WorkspaceDeleted"),
    (vm.WorkspaceCreate, "WorkspaceCreate"),
    (vm.NewMemory, "MemoryIn"),
    (vm.MemoryPatch, "MemoryPatchIn"),
    (vm.Memory, "MemoryOut"),
    (vm.MemoryPage, "MemoryPage"),
    (vm.MemoriesAdded, "MemoriesAdded"),
    (vm.MemoryEvent, "MemoryEventOut"),
    (vm.MemoryHistory, "MemoryHistory"),
    (vm.SearchRequest, "SearchIn"),
    (vm.SearchHit, "SearchHitOut"),
    (vm.SearchResult, "SearchOut"),
    (vm.Trajectory, "TrajectoryOut"),
    (vm.TrajectoryPage, "TrajectoryPage"),
    (vm.ValidationRecord, "ValidationRecordOut"),
    (vm.TrajectoryDetail, "TrajectoryDetailOut"),
    (vm.TrajectoryRetryRequest, "TrajectoryRetryIn"),
    (vm.TrajectoryRetry, "TrajectoryRetryOut"),
    (vm.ImportResult, "ImportResult"),
    (vm.Library, "LibraryOut"),
    (vm.LibraryList, "LibraryList"),
    (vm.LibraryLoadRequest, "LibraryLoad"),
    (vm.LibraryLoaded, "LibraryLoaded"),
]
SERVER_NAME = {model.__name__: component for model, component in MODEL_PAIRS}

# Fields every ReMe flow accepts (ReMe's base request) that a flow of the client has no use for.
FLOW_BASE_FIELDS = {"query", "messages", "metadata"}
NOT_SENT: dict[str, set[str]] = {
    "SummaryTaskRequest": FLOW_BASE_FIELDS,
    "RecordTaskRequest": FLOW_BASE_FIELDS,
    "DeleteTaskRequest": FLOW_BASE_FIELDS,
    "ReactRequest": {"metadata"},
    "SummaryPersonalMemoryRequest": FLOW_BASE_FIELDS,
    "RetrieveTaskRequest": {"metadata"},
    "RetrievePersonalMemoryRequest": {"metadata"},
    "AddToolCallResultRequest": FLOW_BASE_FIELDS,
    "ToolNamesRequest": FLOW_BASE_FIELDS,
    "VectorStoreRequest": FLOW_BASE_FIELDS,
}
# Routes of the service the client deliberately has no method for.
NOT_COVERED: set[str] = set()

_IGNORED_KEYS = {"description", "examples", "title", "default", "minimum", "maximum", "minLength"}
_IGNORED_KEYS |= {"maxLength", "minItems", "maxItems", "pattern", "exclusiveMinimum", "exclusiveMaximum"}


@pytest.fixture(scope="module")
def openapi(app_server: RunningServer) -> dict[str, Any]:
    response = httpx.get(f"{app_server.base_url}/schema/openapi.json", timeout=30)
    assert response.status_code == 200
    return response.json()


def shape(schema: Any, resolve_ref: Callable[[str], str]) -> str:
    """A canonical text of a JSON schema's type: unions sorted, constraints and docs left out."""
    if not isinstance(schema, dict) or schema is True:
        return "any"
    schema = {k: v for k, v in schema.items() if k not in _IGNORED_KEYS}
    if "$ref" in schema:
        return "ref:" + resolve_ref(schema["$ref"].rsplit("/", 1)[-1])
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return shape(schema["allOf"][0], resolve_ref)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        parts = {part for option in options for part in shape(option, resolve_ref).split("|")}
        return "|".join(sorted(parts))
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds] if kinds else []
    parts = set()
    if "enum" in schema:
        values = [v for v in schema["enum"] if v is not None]
        parts.add("enum(" + ",".join(sorted(map(str, values))) + ")")
        if None in schema["enum"] or "null" in kinds:
            parts.add("null")
        return "|".join(sorted(parts))
    if "const" in schema:
        return f"enum({schema['const']})"
    for kind in kinds:
        if kind == "array":
            parts.add(f"array[{shape(schema.get('items', {}), resolve_ref)}]")
        elif kind == "object":
            extra = schema.get("additionalProperties", {})
            parts.add(f"object[{shape(extra, resolve_ref)}]")
        elif kind == "string" and "format" in schema:
            parts.add(f"string:{schema['format']}")
        else:
            parts.add(str(kind))
    if not kinds:
        return "any"
    return "|".join(sorted(parts))


def server_fields(component: dict[str, Any]) -> dict[str, str]:
    return {name: shape(field, str) for name, field in component.get("properties", {}).items()}


def client_schema(model: type[BaseModel]) -> dict[str, Any]:
    if issubclass(model, vm.ResponseModel):
        return model.model_json_schema(mode="serialization")
    return model.model_json_schema(mode="validation")


def client_fields(model: type[BaseModel]) -> dict[str, str]:
    def resolve(name: str) -> str:
        return SERVER_NAME.get(name, f"<client model {name} has no server component in MODEL_PAIRS>")

    return {name: shape(field, resolve) for name, field in client_schema(model).get("properties", {}).items()}


def model_drift(model: type[BaseModel], component_name: str, components: dict[str, Any]) -> list[str]:
    """What differs between a client model and the server's component, one line per difference."""
    if component_name not in components:
        return [f"the service has no component {component_name} any more (client {model.__name__})"]
    component = components[component_name]
    theirs, ours = server_fields(component), client_fields(model)
    where = f"{model.__name__} (server {component_name})"
    is_request = issubclass(model, vm.RequestModel)
    problems = []
    for name in sorted(set(theirs) - set(ours)):
        if not (is_request and name in NOT_SENT.get(component_name, set())):
            problems.append(f"{where}: the service has field {name!r} ({theirs[name]}), the client does not")
    for name in sorted(set(ours) - set(theirs)):
        problems.append(f"{where}: the client has field {name!r}, the service does not")
    for name in sorted(set(ours) & set(theirs)):
        if ours[name] != theirs[name]:
            problems.append(f"{where}.{name}: service type {theirs[name]}, client type {ours[name]}")
    their_required = set(component.get("required", [])) & set(ours)
    our_required = set(client_schema(model).get("required", [])) & set(theirs)
    if their_required != our_required:
        problems.append(
            f"{where}: required fields differ: "
            f"service {sorted(their_required)}, client {sorted(our_required)}"
        )
    return problems


def _route_pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


def find_operation(openapi: dict[str, Any], call: Call[Any]) -> tuple[str, dict[str, Any]] | None:
    for template, operations in openapi["paths"].items():
        operation = operations.get(call.method.lower())
        if operation is not None and _route_pattern(template).match(call.path):
            return f"{call.method} {template}", operation
    return None


def _ref_name(content: dict[str, Any] | None) -> str | None:
    """The component a body is, also when it is optional (``oneOf``/``anyOf`` of the ref and null)."""
    schema = ((content or {}).get("application/json") or {}).get("schema") or {}
    options = schema.get("oneOf") or schema.get("anyOf")
    if options:
        refs = [option for option in options if "$ref" in option]
        rest = [option for option in options if "$ref" not in option]
        if len(refs) == 1 and all(option.get("type") == "null" for option in rest):
            schema = refs[0]
    return schema["$ref"].rsplit("/", 1)[-1] if "$ref" in schema else None


def operation_drift(openapi: dict[str, Any]) -> list[str]:
    """Routes the client calls that the service lacks or describes differently, and service routes
    the client has no method for."""
    problems, covered = [], set()
    for make, request_component, response_component in OPERATIONS:
        call = make()
        found = find_operation(openapi, call)
        if found is None:
            problems.append(f"the client calls {call.method} {call.path}, the service has no such route")
            continue
        route, operation = found
        covered.add(route)
        request = _ref_name(operation.get("requestBody", {}).get("content"))
        if request != request_component:
            problems.append(f"{route}: the service takes {request}, the client sends {request_component}")
        success: dict[str, Any] = next(
            (r for status, r in operation["responses"].items() if status.startswith("2")), {}
        )
        response = _ref_name(success.get("content"))
        if response != response_component:
            problems.append(f"{route}: the service answers {response}, the client reads {response_component}")
        known = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        for name in sorted(set(call.params or {}) - known):
            problems.append(
                f"{route}: the client sends query parameter {name!r}, the service does not take it"
            )
        missed = known - set(call.params or {})
        if missed:
            problems.append(
                f"{route}: the service takes query parameters {sorted(missed)} the client never sends"
            )
    for template, operations in openapi["paths"].items():
        for method in operations:
            route = f"{method.upper()} {template}"
            if route not in covered and route not in NOT_COVERED:
                problems.append(f"{route}: the service has this route, the client has no method for it")
    return problems


HOW_TO_FIX = (
    "update clients/python: a builder in reme_client/_flow_calls.py or _v1_calls.py, its method in "
    "_sync.py and _async.py, its model in reme_client/models/, and its row in OPERATIONS / MODEL_PAIRS "
    "here (or list a route the client should not have in NOT_COVERED)"
)


def test_every_route_of_the_service_has_a_client_method_with_matching_bodies(openapi: dict[str, Any]) -> None:
    assert operation_drift(openapi) == [], HOW_TO_FIX


def test_every_client_model_matches_its_server_component(openapi: dict[str, Any]) -> None:
    components = openapi["components"]["schemas"]
    problems = [line for model, name in MODEL_PAIRS for line in model_drift(model, name, components)]

    assert problems == [], HOW_TO_FIX


def test_a_single_memory_or_a_list_is_what_add_memories_may_send(openapi: dict[str, Any]) -> None:
    root = openapi["components"]["schemas"]["MemoriesIn"]["properties"]["root"]

    assert shape(root, str) == "array[ref:MemoryIn]|ref:MemoryIn"


def test_the_drift_check_names_a_field_the_client_lacks() -> None:
    """The check itself can fail: a server component with one more field is reported."""
    component = {
        "properties": {
            "status": {"type": "string"},
            "version": {"type": "string"},
            "uptime": {"type": "number"},
        },
        "required": ["status", "version"],
    }

    problems = model_drift(vm.Health, "HealthResponse", {"HealthResponse": component})

    assert problems == [
        "Health (server HealthResponse): the service has field 'uptime' (number), the client does not"
    ]


def test_the_drift_check_names_a_type_change_and_a_route_the_client_lacks() -> None:
    component = {"properties": {"status": {"type": "integer"}, "version": {"type": "string"}}}
    openapi = {
        "paths": {"/health": {"get": {"responses": {"200": {}}}}, "/v1/new": {"post": {"responses": {}}}}
    }

    type_problems = model_drift(vm.Health, "HealthResponse", {"HealthResponse": component})
    route_problems = operation_drift(openapi)

    assert "Health (server HealthResponse).status: service type integer, client type string" in type_problems
    assert "POST /v1/new: the service has this route, the client has no method for it" in route_problems


def test_an_optional_body_is_read_as_its_component() -> None:
    optional = {"application/json": {"schema": {"oneOf": [{"$ref": "#/c/LibraryLoad"}, {"type": "null"}]}}}
    any_of = {"application/json": {"schema": {"anyOf": [{"type": "null"}, {"$ref": "#/c/LibraryLoad"}]}}}
    either = {"application/json": {"schema": {"oneOf": [{"$ref": "#/c/A"}, {"$ref": "#/c/B"}]}}}

    assert [_ref_name(optional), _ref_name(any_of), _ref_name(either)] == ["LibraryLoad", "LibraryLoad", None]
