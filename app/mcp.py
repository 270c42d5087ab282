"""The MCP server: every ReMe flow as a tool, answered by the app's own flow handlers.

Tools are built from the registered flow routes (``app.routes.flows.flow_tools``, the same
catalog ``GET /list`` answers), so a flow added to the HTTP API is an MCP tool too: its input
schema is the JSON schema of the handler's request model, and a call
posts the arguments to ``/<flow>`` on the app in-process (same validation, errors and
envelope as over HTTP). A result carries the whole envelope as structured content
(``metadata.memory_list`` included), the answer text, and the envelope as JSON text for
clients that read text only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal, cast

import httpx
import mcp.types as mcp_types
from litestar import Litestar
from mcp.server import Server, ServerRequestContext

from app.auth import find_principal
from app.logging import current_request_id
from app.middleware import request_id_middleware
from app.routes.auth_middleware import api_key_from_headers
from app.routes.flows import FlowTool, flow_tools
from app.routes.reme import FLOW_HANDLERS
from app.routes.schemas import ReMeResponse
from app.services import Services
from app.settings import Settings
from app.version import __version__

log = logging.getLogger(__name__)

Transport = Literal["stdio", "sse", "streamable-http"]
TRANSPORTS: tuple[Transport, ...] = ("stdio", "sse", "streamable-http")
INSTRUCTIONS = (
    "Long-term memory for agents (ReMe-compatible): task memory from trajectories, personal "
    "memory from conversations, tool memory from tool-call results. Every tool takes a "
    "workspace_id; results carry the memory list in metadata.memory_list."
)


def tool_result(envelope: dict[str, Any]) -> mcp_types.CallToolResult:
    """The envelope as structured content, with its answer and its JSON as text."""
    answer = str(envelope.get("answer") or "")
    content = [mcp_types.TextContent(type="text", text=json.dumps(envelope, ensure_ascii=False))]
    if answer:
        content.insert(0, mcp_types.TextContent(type="text", text=answer))
    return mcp_types.CallToolResult(
        content=list(content),
        structured_content=envelope,
        is_error=not envelope.get("success", False),
    )


# Credentials an MCP client sent over HTTP, passed on to the app's own auth check.
FORWARDED_HEADERS = ("authorization", "x-api-key")


class FlowCaller:
    """Posts tool arguments to the app's flow routes over an in-process ASGI transport.

    The app checks API keys as for any HTTP request: the key comes from the MCP client's
    HTTP request when it sent one (SSE, streamable HTTP), else from ``api_key`` (stdio).
    """

    def __init__(self, http: httpx.AsyncClient, tools: list[FlowTool], api_key: str | None = None) -> None:
        self.http = http
        self.tools = {tool.name: tool for tool in tools}
        self.api_key = api_key

    async def call(self, name: str, arguments: dict[str, Any], client_headers: Any = None) -> dict[str, Any]:
        tool = self.tools.get(name)
        if tool is None:
            known = ", ".join(sorted(self.tools))
            return ReMeResponse(answer=f"unknown tool {name!r}; tools: {known}", success=False).model_dump()
        headers = {k: client_headers[k] for k in FORWARDED_HEADERS if client_headers and k in client_headers}
        if not headers and self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        response = await self.http.post(tool.path, json=arguments, headers=headers)
        try:
            envelope: dict[str, Any] = response.json()
        except ValueError:
            message = f"{name} answered HTTP {response.status_code} without a JSON envelope"
            return ReMeResponse(answer=message, success=False).model_dump()
        return envelope


def build_server(caller: FlowCaller) -> Server[Any]:
    """The low-level MCP server with one tool per flow."""
    output_schema = ReMeResponse.model_json_schema()
    listed = [
        mcp_types.Tool(
            name=tool.name,
            description=tool.description,
            input_schema=tool.input_schema,
            output_schema=output_schema,
        )
        for tool in caller.tools.values()
    ]

    async def list_tools(
        ctx: ServerRequestContext[Any], params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListToolsResult:
        return mcp_types.ListToolsResult(tools=listed)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult:
        headers = getattr(ctx.request, "headers", None)
        return tool_result(await caller.call(params.name, dict(params.arguments or {}), headers))

    return Server(
        "reme",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


@asynccontextmanager
async def running_app(
    settings: Settings, listening: str | None = None
) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    """The app with its lifespan (database, models), its services, and an HTTP client bound to
    it in-process; ``listening`` says where clients reach it, for the start-up line."""
    from app.main import create_app

    app: Litestar = create_app(settings)
    app.state.listening = listening
    async with (
        app.lifespan(),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=cast(Any, app)), base_url="http://reme.mcp", timeout=None
        ) as http,
    ):
        yield app.state.services, http


async def serve(
    settings: Settings, transport: Transport, host: str, port: int, api_key: str | None = None
) -> None:
    """Run the MCP server on one transport until the client (stdio) or a signal ends it."""
    if api_key and transport != "stdio":
        # Lending the server's key to every network client would switch auth off for them.
        log.warning("--api-key / REME_API_KEY is for stdio only; over HTTP each client sends its own key")
        api_key = None
    listening = "MCP over stdio" if transport == "stdio" else f"MCP ({transport}) on http://{host}:{port}"
    async with running_app(settings, listening) as (services, http):
        server = build_server(FlowCaller(http, flow_tools(FLOW_HANDLERS), api_key))
        if transport == "stdio":
            from mcp.server.stdio import stdio_server

            async with stdio_server() as (read_stream, write_stream):
                await server.run(read_stream, write_stream, server.create_initialization_options())
            return
        web = (
            server.streamable_http_app(host=host) if transport == "streamable-http" else sse_app(server, host)
        )
        endpoints = ("/mcp",) if transport == "streamable-http" else ("/sse", "/messages/")
        await serve_http(request_id_middleware(KnownPaths(KeyRequired(web, services), endpoints)), host, port)


class KnownPaths:
    """A path the MCP transport does not serve is a 404 with a JSON-RPC error naming the endpoints."""

    def __init__(self, app: Any, endpoints: tuple[str, ...]) -> None:
        self.app = app
        self.endpoints = endpoints

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        known = any(path == e.rstrip("/") or path.startswith(e.rstrip("/") + "/") for e in self.endpoints)
        if scope["type"] != "http" or known:
            await self.app(scope, receive, send)
            return
        message = f"no MCP endpoint at {path}; this server answers at {', '.join(self.endpoints)}"
        await send_jsonrpc_error(send, 404, NOT_FOUND_CODE, message)


class KeyRequired:
    """ASGI wrapper of the MCP HTTP transports: with auth enabled, a request without a known
    key is answered 401 before any MCP message is read.

    What a known key may do (its workspaces and scope) is checked on each tool call by the
    app's own gate, which gets the client's key forwarded: a refused call is a tool error
    carrying the 403 answer.
    """

    def __init__(self, app: Any, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.services.settings.auth.enabled:
            await self.app(scope, receive, send)
            return
        key = api_key_from_headers(dict(scope.get("headers", [])))
        if key is None:
            await refuse(send, "an API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")
            return
        async with self.services.db.session() as session:
            principal = await find_principal(session, key)
        if principal is None:
            await refuse(send, "unknown or revoked API key")
            return
        await self.app(scope, receive, send)


# JSON-RPC's range for server-defined errors; the MCP client shows the message of such a body.
UNAUTHORIZED_CODE = -32001
NOT_FOUND_CODE = -32004


async def refuse(send: Any, message: str) -> None:
    """A 401 whose body is a JSON-RPC error, so that MCP clients report the reason."""
    await send_jsonrpc_error(send, 401, UNAUTHORIZED_CODE, message, [(b"www-authenticate", b"Bearer")])


async def send_jsonrpc_error(
    send: Any, status: int, code: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    error = {"code": code, "message": message, "data": {"request_id": current_request_id()}}
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error})
    all_headers = [(b"content-type", b"application/json"), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body.encode(), "more_body": False})


def sse_app(server: Server[Any], host: str) -> Any:
    """The SSE transport: GET /sse opens a stream, clients POST to /messages/."""
    from mcp.server.sse import SseServerTransport
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Mount, Route

    transport = SseServerTransport("/messages/", security_settings=local_only(host))

    async def connect(request: Request) -> Response:
        async with transport.connect_sse(request.scope, request.receive, request._send) as (reader, writer):
            await server.run(reader, writer, server.create_initialization_options())
        return Response()

    return Starlette(
        routes=[
            Route("/sse", endpoint=connect, methods=["GET"]),
            Mount("/messages/", app=transport.handle_post_message),
        ]
    )


def local_only(host: str) -> Any:
    """DNS rebinding protection when bound to loopback (what the mcp package does itself)."""
    from mcp.server.transport_security import TransportSecuritySettings

    if host not in ("127.0.0.1", "localhost", "::1"):
        return None
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


async def serve_http(web: Any, host: str, port: int) -> None:
    import uvicorn

    log.info("MCP server listening on http://%s:%d", host, port)
    config = uvicorn.Config(web, host=host, port=port, log_config=None, access_log=False)
    await uvicorn.Server(config).serve()
