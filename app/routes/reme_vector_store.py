"""ReMe-compatible vector store flows (not yet implemented: no routes registered)."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

ROUTES: list[HTTPRouteHandler] = []
