"""API-key authentication and workspace authorisation for every HTTP route.

With ``REME_AUTH__ENABLED=true`` each request needs a key (``Authorization: Bearer KEY`` or
``X-API-Key: KEY``): none or unknown is 401; a key used outside its workspaces or scope is
403. The workspaces a request touches are read from the path (``/v1/workspaces/{id}``) or
from the JSON body of a ReMe flow (``workspace_id`` and ``src_workspace_id``), so a key
for one workspace never reaches another.
"""

from __future__ import annotations

import hmac
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from app.auth import Principal, find_principal
from app.errors import Forbidden, InvalidInput, PayloadTooLarge, ReMeError, Unauthorized
from app.library import library_target
from app.logging import current_request_id
from app.observability import metrics
from app.routes.schemas import ReMeResponse
from app.services import Services
from app.store.jobs import get_job

# /ui checks keys itself (a cookie from its login form): app.routes.ui.session.
PUBLIC_PATHS = re.compile(r"^/(health|ready|schema|docs|openapi\.json|ui)(/.*)?$")
WORKSPACE_PATH = re.compile(r"^/v1/workspaces/(?P<ws>[^/]+)(?P<rest>/.*)?$")
JOB_PATH = re.compile(r"^/v1/jobs/(?P<id>[^/]+)$")
LIBRARY_LOAD_PATH = re.compile(r"^/v1/library/(?P<name>[^/]+)/load$")
METRICS_PATH = "/metrics"
KEY_REQUIRED = "an API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
# The catalog of flows (GET /list) holds no data: open to all, like the OpenAPI schema.
PUBLIC_GETS = {"/list"}
READ_FLOWS = {
    "react",
    "retrieve_task_memory",
    "retrieve_task_memory_simple",
    "retrieve_personal_memory",
    "retrieve_tool_memory",
}
READ_VECTOR_STORE_ACTIONS = {"list"}
READ_POSTS = {"/search"}


@dataclass(frozen=True)
class Access:
    scope: str
    workspace_id: str | None  # None: the key must cover every workspace


def api_key_from_headers(headers: dict[bytes, bytes]) -> str | None:
    auth = headers.get(b"authorization", b"").decode("latin-1").strip()
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    key = headers.get(b"x-api-key", b"").decode("latin-1").strip()
    return key or None


def flow_access(flow: str, body: Any) -> list[Access]:
    """What a ReMe flow request touches: its workspace, and a copy's source workspace."""
    if not isinstance(body, dict):
        return [Access("write", None)]
    workspace = body.get("workspace_id", "default")
    workspace = workspace if isinstance(workspace, str) else None
    read_only = flow in READ_FLOWS or (
        flow == "vector_store" and body.get("action") in READ_VECTOR_STORE_ACTIONS
    )
    needs = [Access("read" if read_only else "write", workspace)]
    source = body.get("src_workspace_id")
    if source is not None:
        needs.append(Access("read", source if isinstance(source, str) else None))
    return needs


def path_access(method: str, path: str, body: Any) -> list[Access]:
    """What a /v1 request touches, from its path (and a created workspace's id)."""
    if path.rstrip("/") == "/v1/library" and method in ("GET", "HEAD"):
        return []  # the list of shipped libraries: any valid key
    library = LIBRARY_LOAD_PATH.match(path)
    if library:
        asked = body.get("workspace_id") if isinstance(body, dict) else None
        # A workspace_id that is not a string is the route's 400 to give; the default target stands in.
        target = library_target(library.group("name"), asked if isinstance(asked, str) else None)
        return [Access("write", target.workspace_id)]
    match = WORKSPACE_PATH.match(path)
    if match:
        rest = match.group("rest") or ""
        read_only = method in ("GET", "HEAD") or (method == "POST" and rest in READ_POSTS)
        return [Access("read" if read_only else "write", match.group("ws"))]
    if path.rstrip("/") == "/v1/workspaces":
        if method == "POST":
            ws = body.get("id") if isinstance(body, dict) else None
            return [Access("write", ws if isinstance(ws, str) else None)]
        return [Access("read", None)]
    return [Access("admin" if method not in ("GET", "HEAD") else "read", None)]


class AuthGate:
    """ASGI middleware; a no-op unless auth is enabled in the settings."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or PUBLIC_PATHS.match(scope["path"]) or is_public_get(scope):
            await self.app(scope, receive, send)
            return
        services: Services = scope["litestar_app"].state.services
        if scope["path"] == METRICS_PATH:
            try:
                await authorise_metrics(scope, services)
            except ReMeError as exc:
                await send_error(send, exc)
                return
            await self.app(scope, receive, send)
            return
        if not services.settings.auth.enabled:
            await self.app(scope, receive, send)
            return
        try:
            body, replay = await buffered_body(receive, services.settings.limits.max_body_bytes)
            await self.authorise(scope, services, body)
        except ReMeError as exc:
            await send_error(send, exc)
            return
        await self.app(scope, replay, send)

    async def authorise(self, scope: Scope, services: Services, raw: bytes) -> Principal:
        key = api_key_from_headers(dict(scope.get("headers", [])))
        if key is None:
            metrics.record_auth_failure("missing")
            raise Unauthorized(KEY_REQUIRED)
        async with services.db.session() as session:
            principal = await find_principal(session, key)
            if principal is None:
                metrics.record_auth_failure("unknown")
                raise Unauthorized("unknown or revoked API key")
            needs = await self.needs(scope, session, raw)
        for need in needs:
            if not principal.can(need.scope, need.workspace_id):
                metrics.record_auth_failure("forbidden")
                where = f"workspace {need.workspace_id!r}" if need.workspace_id else "every workspace"
                raise Forbidden(f"key {principal.name!r} may not {need.scope} {where}")
        return principal

    async def needs(self, scope: Scope, session: Any, raw: bytes) -> list[Access]:
        path, method = scope["path"], str(scope.get("method", "GET"))
        body = parse_json(raw)
        job = JOB_PATH.match(path)
        if job:
            try:
                found = await get_job(session, uuid.UUID(job.group("id")))
            except ValueError:
                found = None
            return [Access("read", found.workspace_id if found else None)]
        if path.startswith("/v1/") or path == "/v1":
            return path_access(method, path, body)
        return flow_access(path.strip("/"), body)


async def authorise_metrics(scope: Scope, services: Services) -> None:
    """/metrics: open unless auth is on or REME_METRICS__TOKEN is set; then the token or an admin key."""
    token = services.settings.metrics.token
    auth_on = services.settings.auth.enabled
    if token is None and not auth_on:
        return
    key = api_key_from_headers(dict(scope.get("headers", [])))
    if key is None:
        metrics.record_auth_failure("missing")
        wanted = (
            "the REME_METRICS__TOKEN token or an admin key" if auth_on else "the REME_METRICS__TOKEN token"
        )
        raise Unauthorized(f"{KEY_REQUIRED} ({wanted})")
    if token is not None and hmac.compare_digest(key.encode(), token.get_secret_value().encode()):
        return
    if auth_on:
        async with services.db.session() as session:
            principal = await find_principal(session, key)
        if principal is not None:
            if principal.can("admin", None):
                return
            metrics.record_auth_failure("forbidden")
            raise Forbidden(
                f"key {principal.name!r} may not read /metrics: it needs an admin key or REME_METRICS__TOKEN"
            )
    metrics.record_auth_failure("unknown")
    raise Unauthorized("unknown API key or metrics token")


def is_public_get(scope: Scope) -> bool:
    return scope.get("method") in ("GET", "HEAD") and scope["path"] in PUBLIC_GETS


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
    except RecursionError:
        raise InvalidInput("the JSON body is nested too deeply to read") from None


async def buffered_body(receive: Receive, limit: int) -> tuple[bytes, Receive]:
    """Read the whole body (up to ``limit``) and return it with a receive that replays it."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"request body exceeds the limit of {limit} bytes (REME_LIMITS__MAX_BODY_BYTES)"
            )
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    sent = False

    async def replay() -> ReceiveMessage:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def send_error(send: Send, exc: ReMeError) -> None:
    body = ReMeResponse(
        answer=exc.message, success=False, metadata={"request_id": current_request_id()}
    ).model_dump_json()
    headers = [(b"content-type", b"application/json")]
    if isinstance(exc, Unauthorized):
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})  # type: ignore[typeddict-item]
    await send({"type": "http.response.body", "body": body.encode(), "more_body": False})
