"""``reme mcp``: serve every flow as an MCP tool (stdio, SSE or streamable HTTP)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

from app.commands import announce_database
from app.settings import get_settings

# The transports of app.mcp, named here so that building the parser imports nothing heavy.
TRANSPORTS = ("stdio", "sse", "streamable-http")


def register(sub: argparse._SubParsersAction) -> None:
    mcp = sub.add_parser("mcp", help="run the MCP server (every ReMe flow is a tool)")
    mcp.add_argument("--transport", choices=TRANSPORTS, default="stdio", help="default: stdio")
    mcp.add_argument("--host", default=None, help="interface for sse / streamable-http (default 127.0.0.1)")
    mcp.add_argument("--port", type=int, default=None, help="port for sse / streamable-http (default 8002)")
    mcp.add_argument(
        "--api-key",
        default=os.environ.get("REME_API_KEY"),
        help="stdio only: key sent with every call when auth is enabled (default $REME_API_KEY); "
        "over HTTP each client sends its own",
    )
    mcp.set_defaults(func=run_mcp)


def run_mcp(args: argparse.Namespace) -> int:
    from app.mcp import serve

    settings = get_settings()
    announce_database(settings)
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    # SIGTERM ends the server like Ctrl-C: the HTTP transports shut down gracefully, then
    # (uvicorn re-raises the signal) the app's lifespan runs its clean-up, which detaches from
    # the embedded database. Python's default would kill the process before that.
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        asyncio.run(serve(settings, args.transport, host, port, args.api_key))
    except* Terminated:
        pass  # stopped by SIGTERM, after the clean-up
    return 0


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException, so that no ``except Exception`` swallows it)."""


def raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated
